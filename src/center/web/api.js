// SPDX-License-Identifier: Apache-2.0
// The REST client: the session token, JSON requests, errors.

const TOKEN_KEY = "vireo.token";
const USER_KEY = "vireo.user";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let onUnauthorized = () => {};

export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export function session() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { token, user: sessionStorage.getItem(USER_KEY) || "" } : null;
}

function forget() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(USER_KEY);
}

async function errorOf(resp) {
  let message = `${resp.status} ${resp.statusText}`;
  try {
    const body = await resp.json();
    if (body && body.error && body.error.message) message = body.error.message;
  } catch (_) {
    // not JSON: keep the status line
  }
  return new ApiError(resp.status, message);
}

// method, path ("/api/v1/..."), optional JSON body; resolves to the parsed reply (or null).
export async function api(method, path, body) {
  const s = session();
  const headers = {};
  if (s) headers.Authorization = `Bearer ${s.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
  } catch (e) {
    throw new ApiError(0, `vireo-center does not answer (${e.message})`);
  }
  if (resp.status === 401 && s) {
    forget();
    onUnauthorized();
    throw await errorOf(resp);
  }
  if (!resp.ok) throw await errorOf(resp);
  if (resp.status === 204) return null;
  const text = await resp.text();
  return text ? JSON.parse(text) : null;
}

export async function login(username, password) {
  forget();
  const reply = await api("POST", "/api/v1/sessions", { username, password });
  sessionStorage.setItem(TOKEN_KEY, reply.token);
  sessionStorage.setItem(USER_KEY, reply.user);
  return reply;
}

export async function logout() {
  try {
    if (session()) await api("DELETE", "/api/v1/sessions/current");
  } finally {
    forget();
  }
}

export const enc = encodeURIComponent;
