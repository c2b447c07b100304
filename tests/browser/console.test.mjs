// The operator console in headless chromium: log in with the embedded
// app's admin token, find a user, see its device online and on which
// gateway, kick it, see it go offline; the cluster page shows the gateway
// and its connection. Screenshots: console-*.png in the output directory.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { chatgateBin, launch, out, startEmbedded, stop, waitFor } from "./lib.mjs";

test("console: log in, find a user, kick its device", { timeout: 180000 }, async (t) => {
  const srv = await startEmbedded(t);
  // User 1's device 7 online through the terminal client (stdin held open).
  const cli = spawn(chatgateBin(), ["client", "-url", srv.ws, "-app", srv.app, "-device", "7", "-to-user", "2", "-token", srv.user1],
    { stdio: ["pipe", "pipe", "pipe"] });
  let cliOut = "";
  cli.stdout.on("data", (b) => { cliOut += b; });
  cli.stderr.on("data", (b) => { cliOut += b; });
  t.after(() => stop(cli));

  const browser = await launch(t);
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  const shot = (name) => page.screenshot({ path: path.join(out, "console-" + name + ".png"), fullPage: true });

  await page.goto(srv.api + "/console", { waitUntil: "load" });
  // A wrong token is refused with the API's message.
  await page.type("#login-app", srv.app);
  await page.type("#login-token", "not-a-token");
  await page.click("#login-form button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#login-error").textContent.includes("10008"));
  await shot("login-refused");

  await page.$eval("#login-token", (e) => { e.value = ""; });
  await page.type("#login-token", srv.admin);
  await page.click("#login-form button[type=submit]");
  await page.waitForSelector("#users:not([hidden])");

  // Find user 1 by username and wait until its device shows online.
  const find = async () => {
    await page.$eval("#user-q", (e) => { e.value = ""; });
    await page.type("#user-q", "alice");
    await page.click("#user-search button[type=submit]");
  };
  await waitFor("user 1's device online in the console", async () => {
    await find();
    await page.waitForSelector("#user-view:not([hidden]), #user-error:not(:empty)");
    return page.$('#user-devices tr[data-device="7"] td[data-status="online"]');
  });
  const row = await page.$eval('#user-devices tr[data-device="7"]', (tr) => [...tr.cells].map((c) => c.textContent));
  assert.equal(row[1], "linux");
  assert.match(row[3], /\S/, "the gateway node is shown");
  assert.equal(await page.$eval('#user-profile td[data-field="username"]', (e) => e.textContent), "alice");
  await shot("user-online");

  // Kick it: the console waits for the gateway to close it.
  await page.click('#user-devices button[data-kick="7"]');
  await page.waitForSelector('#user-devices tr[data-device="7"] td[data-status="offline"]', { timeout: 20000 });
  await shot("user-kicked");
  await waitFor("the client to exit after its kick", () => cli.exitCode !== null);
  assert.match(cliOut, /4102|kick/i, "the client was told it was kicked");

  // The cluster page lists the embedded process as a gateway.
  await page.click('#tabs button[data-tab="cluster"]');
  await page.waitForFunction(() => document.querySelectorAll("#cluster-gateways tbody tr").length > 0, { timeout: 20000 });
  // Each process reports every 5 s and the page refreshes as often: a
  // report taken before the router held its leases says fewer; wait for one
  // that shows them all.
  await page
    .waitForFunction(() => /16 of 16 ingress partitions owned/.test(document.querySelector("#cluster-summary").textContent), { timeout: 60000 })
    .catch(() => {});
  const summary = await page.$eval("#cluster-summary", (e) => e.textContent);
  assert.match(summary, /16 of 16 ingress partitions owned/);
  await shot("cluster");

  // Groups need the group operations; push tasks answer "no such task".
  await page.click('#tabs button[data-tab="push"]');
  await page.type("#push-q", "12345");
  await page.click("#push-search button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#push-view").textContent.length > 0 || document.querySelector("#push-error").textContent.length > 0);
  await shot("push");

  assert.deepEqual(errors.filter((e) => !/status of 4\d\d/.test(e)), [], "no script errors");
});
