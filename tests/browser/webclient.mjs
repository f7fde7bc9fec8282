// SPDX-License-Identifier: Apache-2.0
// Drives vireo-center's web client in Debian's Chromium (headless), as a person would:
// log in (a wrong password first), open a VM from the inventory tree, power it on,
// follow the task, read the events, type into its serial console, power it off; take,
// revert to and delete snapshots, clone it (linked), turn the clone into a template and
// back, make a resource pool with a reservation, migrate a VM to another datastore,
// read the host's performance charts, acknowledge a triggered alarm; log out.
//
// usage: node webclient.mjs URL USER PASSWORD
// environment: VIREO_WEB_VM_PATH  inventory path of a powered-off VM ("/DC1/vm/web01")
//              VIREO_WEB_SHOTS    folder for a screenshot when a step fails (default .)
//              VIREO_WEB_VIEWER   "user:password" of a read-only user: the power buttons
//                                 must be disabled for them (optional)
//              VIREO_WEB_SNAPSHOTS=1  also a screenshot after each main step (to look at)
//              VIREO_WEB_ALARM    name of an alarm the host triggers (yellow) (optional)
//              VIREO_WEB_CLONE    name for the linked clone (default NAME-clone)
//              VIREO_WEB_MIGRATE  "/DC/vm/NAME:DATASTORE": a powered-off VM (no clones) to
//                                 move to another datastore of its host (optional)
//              VIREO_WEB_FOREIGN  name of a cluster in another datacenter: the clone
//                                 dialog must not offer it (optional)
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
const cloneName = process.env.VIREO_WEB_CLONE || `${vmName}-clone`;
const alarmName = process.env.VIREO_WEB_ALARM;
const [migPath, migDatastore] = (process.env.VIREO_WEB_MIGRATE || "").split(/:(.*)/s);

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

// Counts the Recent tasks rows whose text includes `text`, by state.
async function taskCounts(page, text) {
  return page.evaluate((t) => {
    const out = { succeeded: 0, failed: 0 };
    for (const tr of document.querySelectorAll("#tasks tr.task")) {
      if (tr.textContent.includes(t) && tr.dataset.state in out) out[tr.dataset.state]++;
    }
    return out;
  }, text);
}

// Runs action() and waits for one more task named `text` to succeed (a failure throws).
async function withTask(page, text, action) {
  const before = await taskCounts(page, text);
  await action();
  await page.waitForFunction(([t, b]) => {
    let ok = 0, failed = 0;
    for (const tr of document.querySelectorAll("#tasks tr.task")) {
      if (!tr.textContent.includes(t)) continue;
      if (tr.dataset.state === "succeeded") ok++;
      if (tr.dataset.state === "failed") failed++;
    }
    if (failed > b.failed) throw new Error(`the task "${t}" failed`);
    return ok > b.succeeded;
  }, [text, before], { timeout: TASK_TIMEOUT, polling: 500 });
}

// Fills and submits the dialog: {name: value} (true/false for checkboxes).
async function dialog(page, values, expectTitle) {
  await page.locator("#dialog").waitFor({ state: "visible" });
  if (expectTitle) {
    const title = (await page.locator("#dialog-title").textContent()) || "";
    if (!title.includes(expectTitle)) fail(`the dialog is "${title}", not "${expectTitle}"`);
  }
  for (const [name, v] of Object.entries(values || {})) {
    const el = page.locator(`#dialog [name="${name}"]`);
    if (typeof v === "boolean") await el.setChecked(v);
    else if ((await el.evaluate((e) => e.tagName)) === "SELECT") await el.selectOption(v);
    else await el.fill(String(v));
  }
  await page.click("#dialog-ok");
  await page.locator("#dialog").waitFor({ state: "hidden", timeout: 30_000 });
}

// Clicks a tab's Refresh until check() holds (or the time runs out).
async function until(page, what, check, timeout, refresh = ".tab-body .tab-tools button:has-text('Refresh')") {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) fail(`${what}: not within ${timeout / 1000} s`);
    await page.waitForTimeout(2000);
    if (refresh) await page.locator(refresh).first().click();
  }
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
  begin("the Console tab shows the serial console; typing reaches the guest's shell");
  await page.click('.tabs button[data-tab="console"]');
  await page.locator('.console-status[data-state="connected"]').waitFor({ timeout: 20_000 });
  const term = page.locator("pre.terminal");
  {
    // The guest may have printed its prompt before we connected: Enter asks for another.
    const deadline = Date.now() + 90_000;
    for (;;) {
      const text = (await term.textContent()) || "";
      if (/[#$] ?\s*$/.test(text)) break;
      if (Date.now() > deadline) fail(`no shell prompt on the console: ${JSON.stringify(text.slice(-400))}`);
      await term.click();
      await page.keyboard.press("Enter");
      await page.waitForTimeout(3000);
    }
  }
  await term.click();
  await page.keyboard.type("echo vireo-$((6*7))");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => /(^|\n)vireo-42\s*(\n|$)/.test(document.querySelector("pre.terminal").textContent),
    null, { timeout: 20_000 }).catch(async () => {
    fail(`the guest did not answer vireo-42: ${JSON.stringify(((await term.textContent()) || "").slice(-400))}`);
  });
  await snap(page, "console");

  begin("power it off");
  await page.click('.tabs button[data-tab="summary"]');
  await page.click('button[data-action="power-off"]');
  await page.waitForFunction(([n]) => {
    const r = [...document.querySelectorAll("#tasks tr.task")].find((tr) => tr.textContent.includes(`Power off VM ${n}`));
    if (r && r.dataset.state === "failed") throw new Error(`the task failed: ${r.textContent}`);
    return r && r.dataset.state === "succeeded";
  }, [vmName], { timeout: TASK_TIMEOUT, polling: 500 });
  await power.filter({ hasText: "Powered off" }).waitFor({ timeout: 30_000 });
  await page.click('.tabs button[data-tab="console"]');
  await page.locator('.console-status[data-state="off"]').waitFor();
  await snap(page, "powered-off");

  begin("take two snapshots");
  await page.click('.tabs button[data-tab="snapshots"]');
  for (const name of ["web-snap-1", "web-snap-2"]) {
    await withTask(page, `Snapshot VM ${vmName}`, async () => {
      await page.click('button[data-action="snapshot-take"]');
      await dialog(page, { name, memory: false }, "Take snapshot");
    });
    await page.locator(`.snap[data-snapshot="${name}"]`).waitFor();
  }
  if ((await page.locator('.snap[data-snapshot="web-snap-1"] + ul .snap[data-snapshot="web-snap-2"]').count()) !== 1) {
    fail("the second snapshot is not shown under the first");
  }
  await page.locator('.snap.current[data-snapshot="web-snap-2"]').waitFor();

  begin("revert to the first snapshot");
  await withTask(page, `Revert to a snapshot: VM ${vmName}`, async () => {
    await page.click('.snap[data-snapshot="web-snap-1"] button[data-action="snapshot-revert"]');
    await dialog(page, {}, "Revert");
  });
  await page.locator('.snap.current[data-snapshot="web-snap-1"]').waitFor();

  begin("delete the second snapshot");
  await withTask(page, `Delete a snapshot of VM ${vmName}`, async () => {
    await page.click('.snap[data-snapshot="web-snap-2"] button[data-action="snapshot-delete"]');
    await dialog(page, {}, "Delete snapshot");
  });
  await page.locator('.snap[data-snapshot="web-snap-2"]').waitFor({ state: "detached" });
  await snap(page, "snapshots");

  begin("clone it (linked); the dialog offers its datacenter's places; the clone appears in the tree");
  await withTask(page, `Clone ${vmName} to ${cloneName}`, async () => {
    await page.click('button[data-action="clone"]');
    await page.locator("#dialog").waitFor({ state: "visible" });
    const places = await page.locator('#dialog select[name="target"] option').evaluateAll(
      (os) => os.map((o) => o.textContent || ""));
    if (!places.some((l) => / \(cluster in /.test(l))) fail(`no cluster offered: ${JSON.stringify(places)}`);
    const foreign = process.env.VIREO_WEB_FOREIGN;
    if (foreign && places.some((l) => l.startsWith(`${foreign} (`))) fail(`${foreign}, of another datacenter, is offered: ${JSON.stringify(places)}`);
    const stores = await page.locator('#dialog select[name="datastore"] option').evaluateAll(
      (os) => os.map((o) => o.value));
    if (stores[0] !== "" || stores.length < 2) fail(`the datastore select offers ${JSON.stringify(stores)}`);
    await dialog(page, { name: cloneName, linked: true }, "Clone");
  });
  const folderRow = await expand(page, segments.slice(0, -1));
  const cloneRow = row(page, cloneName, folderRow);
  await cloneRow.waitFor({ state: "visible", timeout: 20_000 });

  begin("convert the clone to a template and back");
  await cloneRow.click();
  await page.locator(".obj-header h1", { hasText: cloneName }).waitFor();
  await page.click('button[data-action="to-template"]');
  await dialog(page, {}, "Convert to template");
  await page.locator(".obj-header .kind", { hasText: "Template" }).waitFor();
  if ((await cloneRow.getAttribute("data-kind")) !== "template") fail("the tree does not show the clone as a template");
  await page.click('button[data-action="to-vm"]');
  await dialog(page, {}, "Convert to VM");
  await page.locator(".obj-header .kind", { hasText: "Virtual machine" }).waitFor();
  if ((await cloneRow.getAttribute("data-kind")) !== "vm") fail("the tree does not show the clone as a VM again");

  begin("a resource pool with a memory reservation, and its parent's usage");
  const cluster1 = page.locator('#tree .tree-row[data-kind="cluster"]').filter({ hasNotText: "WebCluster" }).first();
  await cluster1.click();
  await page.click('button[data-action="new-pool"]');
  await dialog(page, { name: "WebPool", mem_res: 64 }, "New resource pool");
  const rootPool = row(page, "Resources", cluster1);
  const webPool = row(page, "WebPool", rootPool);
  await webPool.waitFor({ state: "visible" });
  await webPool.click();
  await page.locator('[data-field="mem_reservation"]', { hasText: "64 MiB" }).waitFor();
  await page.locator('.usage[data-usage="memory"]').waitFor();
  await rootPool.click();
  await page.locator(".obj-header h1", { hasText: "Resources" }).waitFor();
  const usage = page.locator('.usage[data-usage="memory"]');
  await usage.waitFor();
  if (Number(await usage.getAttribute("data-reserved")) < 64) fail(`the root pool's usage does not count the reservation: ${await usage.textContent()}`);
  if (await page.locator('button[data-action="edit-pool"]').isEnabled()) fail("Edit settings is enabled on a root pool");
  await snap(page, "pool");

  begin("New VM… in the pool places a VM there");
  await webPool.click();
  await page.locator(".obj-header h1", { hasText: "WebPool" }).waitFor();
  await withTask(page, "Create VM web-new", async () => {
    await page.click('button[data-action="new-vm"]');
    await page.locator('#dialog select[name="datastore"] option').first().waitFor({ state: "attached" });
    await dialog(page, { name: "web-new", memory_mib: 64, disk_mib: 16 }, "New VM in WebPool");
  });
  await row(page, "web-new", folderRow).waitFor({ state: "visible", timeout: 20_000 });

  if (migPath) {
    const migSegments = migPath.split("/").filter(Boolean);
    const migName = migSegments[migSegments.length - 1];
    begin(`Migrate… ${migName}: an unchanged placement is refused in the dialog`);
    const migRow = await expand(page, migSegments);
    await migRow.click();
    await page.locator(".obj-header h1", { hasText: migName }).waitFor();
    await page.locator('[data-field="power_state"]', { hasText: "Powered off" }).waitFor();
    const dsCell = page.locator(".tab-body table.props tr", { has: page.locator("th", { hasText: /^Datastore$/ }) }).locator("td");
    const fromDs = ((await dsCell.textContent()) || "").trim();
    if (!fromDs || fromDs === migDatastore) fail(`${migName} is on "${fromDs}" before the migration`);
    await page.locator('button[data-action="migrate"]:enabled').click();
    await page.locator("#dialog").waitFor({ state: "visible" });
    const opts = async (name) => page.locator(`#dialog select[name="${name}"] option`).evaluateAll(
      (os) => os.map((o) => ({ value: o.value, label: o.textContent })));
    const hostOpts = await opts("host");
    const dsOpts = await opts("datastore");
    if (hostOpts[0]?.value !== "" || !/^keep on \S/.test(hostOpts[0].label)) fail(`the host select starts with ${JSON.stringify(hostOpts[0])}`);
    if (dsOpts[0]?.value !== "" || dsOpts[0].label !== `keep on ${fromDs}`) fail(`the datastore select starts with ${JSON.stringify(dsOpts[0])}`);
    if (!dsOpts.some((o) => o.value === migDatastore)) fail(`${migDatastore} is not offered: ${JSON.stringify(dsOpts)}`);
    if (dsOpts.slice(1).some((o) => o.value === fromDs)) fail(`the current datastore is offered as a target: ${JSON.stringify(dsOpts)}`);
    await page.click("#dialog-ok");
    const migError = page.locator("#dialog-error");
    await migError.waitFor({ state: "visible" });
    const said = (await migError.textContent()) || "";
    if (!/Choose another host, another datastore or both/.test(said)) fail(`the dialog says "${said}" for an unchanged placement`);
    if (!(await page.locator("#dialog").isVisible())) fail("the dialog closed on an unchanged placement");
    log(`  shown: ${said}`);

    begin(`migrate ${migName} to datastore ${migDatastore}, the host kept; the task succeeds`);
    await withTask(page, `Migrate VM ${migName}`, () => dialog(page, { datastore: migDatastore }, `Migrate ${migName}`));
    await dsCell.filter({ hasText: new RegExp(`^${migDatastore}$`) }).waitFor({ timeout: 30_000 });
    await snap(page, "migrated");
  }

  begin("the host's Monitor tab charts its performance");
  await hostRow.click();
  await page.locator('[data-field="connection_state"]').waitFor();
  await page.click('.tabs button[data-tab="monitor"]');
  const memChart = page.locator('svg.chart[data-counter="mem.usage.average"]');
  await until(page, "a memory usage sample", async () =>
    (await memChart.count()) > 0 && Number(await memChart.getAttribute("data-points")) > 0, 50_000);
  if ((await page.locator('svg.chart[data-counter="cpu.usage.average"]').count()) !== 1) fail("no CPU chart");
  if ((await memChart.locator("text.unit").textContent()) !== "%") fail("the memory chart's axis has no unit");
  await snap(page, "monitor");
  await page.locator('select[data-field="interval"]').selectOption("300");
  await page.locator(".monitor .muted", { hasText: "updated" }).waitFor();
  await page.locator('svg.chart[data-counter="mem.usage.average"]').waitFor();

  if (alarmName) {
    begin(`the Alarms tab lists "${alarmName}" yellow; acknowledge it`);
    await page.click('.tabs button[data-tab="alarms"]');
    const alarmRow = page.locator(".alarms tr.alarm", { hasText: alarmName }).first();
    await until(page, `the alarm "${alarmName}"`, async () => (await alarmRow.count()) > 0, 60_000);
    if ((await alarmRow.getAttribute("data-status")) !== "yellow") fail(`the alarm is ${await alarmRow.getAttribute("data-status")}, not yellow`);
    await page.locator('#alarm-badge[data-status]').waitFor({ state: "visible", timeout: 30_000 });
    await page.locator('#tree .tree-row[data-kind="host"][data-alarm="yellow"]').first().waitFor({ timeout: 30_000 });
    await alarmRow.locator('button[data-action="alarm-ack"]').click();
    await page.locator(".alarms tr.alarm[data-state=\"acknowledged\"]", { hasText: alarmName }).waitFor();
    await snap(page, "alarms");
  }

  begin("no script errors or CSP violations");
  if (problems.length) fail(problems.join("\n"));

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
