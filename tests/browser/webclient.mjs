// SPDX-License-Identifier: Apache-2.0
// Drives vireo-center's web client in Debian's Chromium (headless), as a person would:
// log in (a wrong password first), open a VM from the inventory tree, power it on,
// follow the task, read the events, power it off, log out.
//
// usage: node webclient.mjs URL USER PASSWORD
// environment: VIREO_WEB_VM_PATH  inventory path of a powered-off VM ("/DC1/vm/web01")
//              VIREO_WEB_SHOTS    folder for a screenshot when a step fails (default .)
//              VIREO_WEB_VIEWER   "user:password" of a read-only user: the power buttons
//                                 must be disabled for them (optional)
//              VIREO_WEB_SNAPSHOTS=1  also a screenshot after each main step (to look at)
//              CHROMIUM           the browser (default /usr/bin/chromium)
import { chromium } from "playwright-core";
import path from "node:path";

const [url, user, password] = process.argv.slice(2);
const vmPath = process.env.VIREO_WEB_VM_PATH;
if (!url || !user || !password || !vmPath) {
  console.error("usage: VIREO_WEB_VM_PATH=/DC/vm/NAME node webclient.mjs URL USER PASSWORD");
  process.exit(2);
}
const shots = process.env.VIREO_WEB_SHOTS || ".";
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const segments = vmPath.split("/").filter(Boolean);
const vmName = segments[segments.length - 1];
const TASK_TIMEOUT = 150_000;

let step = "start";
function log(msg) {
  console.log(`webclient: ${msg}`);
}
function begin(name) {
  step = name;
  log(name);
}
async function snap(page, name) {
  if (process.env.VIREO_WEB_SNAPSHOTS === "1") await page.screenshot({ path: path.join(shots, `webclient-${name}.png`) });
}
function fail(msg) {
  throw new Error(msg);
}

// The tree row of an object: its label is exactly `name`, under the row `parentRow`.
function row(page, name, parentRow) {
  const scope = parentRow ? parentRow.locator("xpath=..").locator(":scope > ul") : page.locator("#tree");
  return scope.locator(".tree-row").filter({ has: page.locator(":scope > .label", { hasText: new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`) }) }).first();
}

// Opens the tree along names (from the root folder's children); returns the last row.
async function expand(page, names) {
  let parent = page.locator("#tree .tree-row").first();
  await parent.waitFor();
  for (const name of names) {
    if ((await parent.getAttribute("aria-expanded")) !== "true") await parent.locator(".twisty").click();
    const r = row(page, name, parent);
    await r.waitFor({ state: "visible" });
    parent = r;
  }
  return parent;
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
const page = await context.newPage();
page.setDefaultTimeout(20_000);
const problems = [];
page.on("pageerror", (e) => problems.push(`uncaught exception: ${e.message}`));
page.on("console", (m) => {
  // A refused request (the wrong password) logs a resource error; CSP violations and
  // script errors are what matter.
  if (m.type() === "error" && !/Failed to load resource/.test(m.text())) problems.push(`console error: ${m.text()}`);
});

let rc = 0;
try {
  begin("open the login page");
  await page.goto(url);
  await page.locator("#login-form").waitFor({ state: "visible" });
  const csp = await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute("content");
  if (!csp || !/script-src 'self'/.test(csp)) fail(`no strict Content-Security-Policy: ${csp}`);

  begin("a wrong password is refused with a message");
  await page.fill("#login-user", user);
  await page.fill("#login-password", `${password}-wrong`);
  await page.click("#login-submit");
  await page.locator("#login-error").waitFor({ state: "visible" });
  const loginError = (await page.locator("#login-error").textContent()) || "";
  if (!loginError.trim()) fail("the login error is empty");
  if (await page.locator("#main").isVisible()) fail("the client opened with a wrong password");
  log(`  shown: ${loginError.trim()}`);

  begin("log in");
  await page.fill("#login-password", password);
  await page.click("#login-submit");
  await page.locator("#main").waitFor({ state: "visible" });
  if (await page.locator("#login").isVisible()) fail("the login page is still shown");
  const who = (await page.locator("#whoami").textContent()) || "";
  if (!who.startsWith(user)) fail(`the top bar names "${who}", not ${user}`);

  begin("create a cluster from the datacenter's summary");
  const dcRow = row(page, segments[0], page.locator("#tree .tree-row").first());
  await dcRow.waitFor();
  await dcRow.click();
  await page.locator(".obj-header h1", { hasText: segments[0] }).waitFor();
  await page.click('button[data-action="new-cluster"]');
  await page.locator("#dialog").waitFor({ state: "visible" });
  await page.fill('#dialog input[name="name"]', "WebCluster");
  await page.click("#dialog-ok");
  await page.locator("#dialog").waitFor({ state: "hidden" });
  await expand(page, [segments[0], "host", "WebCluster"]);

  begin("the Add host dialog shows what the server refuses");
  await dcRow.click();
  await page.click('button[data-action="add-host"]');
  await page.fill('#dialog input[name="url"]', "ftp://nowhere");
  await page.fill('#dialog input[name="password"]', "x");
  await page.click("#dialog-ok");
  await page.locator("#dialog-error").waitFor({ state: "visible" });
  if (!/http/.test((await page.locator("#dialog-error").textContent()) || "")) fail("the dialog does not say why the URL was refused");
  await page.click("#dialog-cancel");
  await page.locator("#dialog").waitFor({ state: "hidden" });

  begin("a host's summary shows its connection");
  const hostRow = page.locator('#tree .tree-row[data-kind="host"]').first();
  const clusterRow = page.locator('#tree .tree-row[data-kind="cluster"]').filter({ hasNotText: "WebCluster" }).first();
  await clusterRow.locator(".twisty").click();
  await hostRow.waitFor();
  await hostRow.click();
  await page.locator('[data-field="connection_state"]', { hasText: "connected" }).waitFor();
  const hostSummary = (await page.locator(".tab-body").textContent()) || "";
  for (const want of ["CPUs", "Memory", "Version"]) {
    if (!hostSummary.includes(want)) fail(`the host summary does not show ${want}: ${hostSummary}`);
  }

  begin(`expand the tree to ${vmPath}`);
  const parent = await expand(page, segments);
  if ((await parent.getAttribute("data-kind")) !== "vm") fail(`${vmPath} is a ${await parent.getAttribute("data-kind")} in the tree`);

  begin("open the VM's summary");
  await parent.click();
  await page.locator(".obj-header h1", { hasText: vmName }).waitFor();
  const power = page.locator('[data-field="power_state"]');
  await power.filter({ hasText: "Powered off" }).waitFor();
  const summary = (await page.locator(".tab-body").textContent()) || "";
  for (const want of ["Guest OS", "CPUs", "Memory", "Host", "Datastore", vmPath]) {
    if (!summary.includes(want)) fail(`the summary does not show ${want}: ${summary}`);
  }

  await snap(page, "summary");
  begin("power it on");
  const on = page.locator('button[data-action="power-on"]');
  await on.waitFor();
  if (await on.isDisabled()) fail("Power on is disabled on a powered-off VM");
  if (await page.locator('button[data-action="power-off"]').isEnabled()) fail("Power off is enabled on a powered-off VM");
  await on.click();

  begin("the task appears in Recent tasks and succeeds");
  const onTask = page.locator("#tasks tr.task").filter({ hasText: `Power on VM ${vmName}` }).first();
  await onTask.waitFor({ timeout: 10_000 });
  await page.waitForFunction(([n]) => {
    const r = [...document.querySelectorAll("#tasks tr.task")].find((tr) => tr.textContent.includes(`Power on VM ${n}`));
    if (r && r.dataset.state === "failed") throw new Error(`the task failed: ${r.textContent}`);
    return r && r.dataset.state === "succeeded";
  }, [vmName], { timeout: TASK_TIMEOUT, polling: 500 });

  begin("the summary shows it powered on");
  await power.filter({ hasText: "Powered on" }).waitFor({ timeout: 30_000 });
  await page.locator('button[data-action="power-off"]:enabled').waitFor();
  if (await page.locator('button[data-action="power-on"]').isEnabled()) fail("Power on is still enabled on a running VM");
  if ((await page.locator('#tree .tree-row.selected .icon.on').count()) !== 1) fail("the tree does not mark the VM as running");

  begin("the Events tab lists the power-on");
  await page.click('.tabs button[data-tab="events"]');
  const deadline = Date.now() + 60_000;
  for (;;) {
    await page.locator(".tab-body .tab-tools").waitFor();
    const n = await page.locator('.events tr[data-type="VmPoweredOn"]').count();
    if (n > 0) break;
    if (Date.now() > deadline) fail(`no VmPoweredOn event: ${await page.locator(".tab-body").textContent()}`);
    await page.waitForTimeout(1000);
    await page.click(".tab-tools button"); // Refresh
  }

  await snap(page, "events");
  begin("power it off");
  await page.click('.tabs button[data-tab="summary"]');
  await page.click('button[data-action="power-off"]');
  await page.waitForFunction(([n]) => {
    const r = [...document.querySelectorAll("#tasks tr.task")].find((tr) => tr.textContent.includes(`Power off VM ${n}`));
    if (r && r.dataset.state === "failed") throw new Error(`the task failed: ${r.textContent}`);
    return r && r.dataset.state === "succeeded";
  }, [vmName], { timeout: TASK_TIMEOUT, polling: 500 });
  await power.filter({ hasText: "Powered off" }).waitFor({ timeout: 30_000 });

  begin("no script errors or CSP violations");
  if (problems.length) fail(problems.join("\n"));

  await snap(page, "powered-off");
  begin("log out");
  await page.click("#logout");
  await page.locator("#login-form").waitFor({ state: "visible" });
  const token = await page.evaluate(() => sessionStorage.getItem("vireo.token"));
  if (token) fail("the token is still in sessionStorage after logging out");
  if (process.env.VIREO_WEB_VIEWER) {
    const [vuser, vpassword] = process.env.VIREO_WEB_VIEWER.split(/:(.*)/s);
    begin(`a read-only user (${vuser}) sees the power actions disabled`);
    await page.fill("#login-user", vuser);
    await page.fill("#login-password", vpassword);
    await page.click("#login-submit");
    await page.locator("#main").waitFor({ state: "visible" });
    const vrow = await expand(page, segments);
    await vrow.click();
    await page.locator('[data-field="power_state"]', { hasText: "Powered off" }).waitFor();
    const buttons = page.locator(".toolbar button");
    await page.locator('button[data-action="power-on"]').waitFor();
    for (let i = 0; i < (await buttons.count()); i++) {
      const b = buttons.nth(i);
      if (await b.isEnabled()) fail(`"${await b.textContent()}" is enabled for a read-only user`);
    }
    const title = (await page.locator('button[data-action="power-on"]').getAttribute("title")) || "";
    if (!title.includes("VirtualMachine.Interact.PowerOn")) fail(`the disabled Power on does not say why: "${title}"`);

    begin("an ended session returns to the login page");
    await page.evaluate(async () => {
      await fetch("/api/v1/sessions/current", {
        method: "DELETE", headers: { Authorization: `Bearer ${sessionStorage.getItem("vireo.token")}` },
      });
    });
    await page.locator("#login-form").waitFor({ state: "visible", timeout: 10_000 }); // the next task poll gets 401
    const msg = (await page.locator("#login-error").textContent()) || "";
    if (!/session/i.test(msg)) fail(`the login page does not say the session ended: "${msg}"`);
  }
  log("PASS");
} catch (e) {
  rc = 1;
  const shot = path.join(shots, "webclient-failure.png");
  try {
    await page.screenshot({ path: shot, fullPage: true });
    console.error(`webclient: screenshot: ${shot}`);
  } catch (se) {
    console.error(`webclient: no screenshot: ${se.message}`);
  }
  console.error(`webclient: FAIL at "${step}": ${e.message}`);
  if (problems.length) console.error(`webclient: page problems:\n${problems.join("\n")}`);
} finally {
  await browser.close();
}
process.exit(rc);
