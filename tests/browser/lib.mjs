// Shared helpers of the browser tests: the chatgate binary, an embedded
// chatgate process, headless Debian chromium (never a downloaded browser)
// and the directory screenshots go to.
import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import puppeteer from "puppeteer-core";

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

// out is where screenshots and rendered files go ($BROWSER_TEST_OUT, or
// tests/browser/out).
export const out = process.env.BROWSER_TEST_OUT || path.join(repo, "tests", "browser", "out");
mkdirSync(out, { recursive: true });

let built = process.env.CHATGATE_BIN || "";

// chatgateBin builds cmd/chatgate once per test process (unless
// $CHATGATE_BIN names a built one).
export function chatgateBin() {
  if (!built) {
    const dir = mkdtempSync(path.join(tmpdir(), "chatgate-browser-"));
    built = path.join(dir, "chatgate");
    execFileSync("go", ["build", "-o", built, "./cmd/chatgate"], { cwd: repo, stdio: "inherit" });
  }
  return built;
}

// waitFor polls fn until it returns a truthy value or ms pass.
export async function waitFor(what, fn, ms = 30000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error("timed out waiting for " + what);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// startEmbedded runs `chatgate serve` in embedded mode on free ports and
// returns its addresses and the tokens of its start block.
export async function startEmbedded(t, args = []) {
  const env = { ...process.env, CHATGATE_GATEWAY_LISTEN: "127.0.0.1:0", CHATGATE_ADMIN_LISTEN: "127.0.0.1:0", CHATGATE_METRICS_LISTEN: "127.0.0.1:0" };
  const proc = spawn(chatgateBin(), ["serve", ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "", stderr = "";
  proc.stdout.on("data", (b) => { stdout += b; });
  proc.stderr.on("data", (b) => { stderr += b; });
  t.after(() => stop(proc));
  const field = (label) => { const m = new RegExp("^ " + label + ":\\s+(\\S+)", "m").exec(stdout); return m && m[1]; };
  await waitFor("the embedded start block", () => field("User 2 token") || (proc.exitCode !== null && Promise.reject(new Error("chatgate exited: " + stderr))));
  return { proc, ws: field("WebSocket URL"), api: field("REST API"), ops: field("Operations").replace(/\/metrics$/, ""), app: field("App id"), admin: field("Admin token"),
    user1: field("User 1 token"), user2: field("User 2 token"), logs: () => stderr };
}

// stop ends a child process (SIGTERM, then SIGKILL after 10 s).
export function stop(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => proc.kill("SIGKILL"), 10000);
    proc.once("exit", () => { clearTimeout(timer); resolve(); });
    proc.kill("SIGTERM");
  });
}

// launch starts headless Debian chromium.
export async function launch(t) {
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
      "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"],
  });
  t.after(() => browser.close());
  return browser;
}
