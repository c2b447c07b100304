// Load scenario for the SDK in Node: K worker processes each hold N
// ChatClient connections to one gateway, report the client memory per
// connection, then send 1:1 messages between pairs of their own users for
// a fixed time and report sends acked and messages received per second.
//
// Run (from sdk/js, after npm ci && npm run build):
//   node bench/connections.mjs --procs 2 --conns 2500 --duration 20
// It starts redis-server and chatgate (all roles, one process) on free
// ports unless --url/--secret name a running deployment, and samples the
// server's CPU and RSS from /proc. Output: one JSON line per worker and a
// summary.
import { fork, spawn, execFileSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]?.startsWith("--") ? "1" : all[i + 1]]] : acc), []),
);
const num = (k, d) => Number(args[k] ?? d);

function token(secret, app, user, ttlSec = 3600) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const body = b64({ alg: "HS256", typ: "JWT" }) + "." + b64({ app, role: "user", iss: "chatgate", sub: String(user), iat: now, exp: now + ttlSec });
  return body + "." + createHmac("sha256", secret).update(body).digest("base64url");
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function worker() {
  const { ChatClient } = await import(path.join(here, "../dist/index.js"));
  const { default: WebSocket } = await import("ws");
  const { url, app, secret } = args;
  const conns = num("conns", 1000);
  const first = num("first-user", 1);
  const duration = num("duration", 20) * 1000;
  const window = num("window", 2); // sends in flight per sending client
  const gc = globalThis.gc ?? (() => {});
  gc();
  const base = process.memoryUsage();
  const clients = [];
  let received = 0;
  const t0 = Date.now();
  for (let i = 0; i < conns; i++) {
    const user = first + i;
    const c = new ChatClient({ urls: [url], appId: app, deviceSn: 1, getToken: () => token(secret, app, user), WebSocket, trackVisibility: false, dackIntervalMs: 5000 });
    c.on("message", () => received++);
    c.connect();
    clients.push(c);
    if (i % 200 === 199) await sleep(20); // let the handshakes through
  }
  while (clients.some((c) => c.state !== "open")) {
    if (Date.now() - t0 > 300000) throw new Error("connections not open after 300 s");
    await sleep(100);
  }
  const connectMs = Date.now() - t0;
  await sleep(2000);
  gc();
  const held = process.memoryUsage();
  // Throughput: even-indexed clients send to the next user, `window` at a time.
  let acked = 0;
  let failed = 0;
  received = 0;
  const stopAt = Date.now() + duration;
  const cpu0 = process.cpuUsage();
  const start = Date.now();
  const loops = [];
  for (let i = 0; i + 1 < clients.length; i += 2) {
    for (let w = 0; w < window; w++) {
      loops.push(
        (async () => {
          while (Date.now() < stopAt) {
            try {
              await clients[i].send({ toUser: first + i + 1, content: "bench" });
              acked++;
            } catch {
              failed++;
            }
          }
        })(),
      );
    }
  }
  await Promise.all(loops);
  const secs = (Date.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await sleep(1000);
  const out = {
    conns,
    connect_ms: connectMs,
    rss_mb: +(held.rss / 2 ** 20).toFixed(1),
    heap_mb: +(held.heapUsed / 2 ** 20).toFixed(1),
    rss_per_conn_kb: +((held.rss - base.rss) / conns / 1024).toFixed(1),
    heap_per_conn_kb: +((held.heapUsed - base.heapUsed) / conns / 1024).toFixed(1),
    sends_acked_per_s: Math.round(acked / secs),
    received_per_s: Math.round(received / secs),
    failed,
    client_cpu_pct: Math.round(((cpu.user + cpu.system) / 1e6 / secs) * 100),
  };
  for (const c of clients) c.close();
  process.send(out);
  await sleep(500);
  process.exit(0);
}

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

function procStat(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  const ticks = Number(stat[11]) + Number(stat[12]);
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]) * 1024;
  return { cpuSec: ticks / 100, rss };
}

async function main() {
  const procs = num("procs", 2);
  const conns = num("conns", 2500);
  let { url, secret } = args;
  const app = args.app ?? "bench";
  const stops = [];
  let serverPid = 0;
  if (!url) {
    const repo = path.resolve(here, "../../..");
    const bin = process.env.CHATGATE_BIN ?? path.join(here, "../test-output/chatgate");
    if (!process.env.CHATGATE_BIN) execFileSync("go", ["build", "-o", bin, "./cmd/chatgate"], { cwd: repo, stdio: "inherit" });
    const dir = mkdtempSync(path.join(os.tmpdir(), "chatgate-sdk-bench-"));
    const [rp, gw, ap, mp] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const redis = spawn("redis-server", ["--port", String(rp), "--save", "", "--appendonly", "no", "--dir", dir], { stdio: "ignore" });
    stops.push(async () => redis.kill("SIGKILL"));
    secret = "bench-secret-0123456789abcdef0123";
    const cfg = path.join(dir, "chatgate.yaml");
    writeFileSync(
      cfg,
      `redis: {addr: "127.0.0.1:${rp}"}
gateway: {listen: "127.0.0.1:${gw}", max_devices_per_user: 10}
admin: {listen: "127.0.0.1:${ap}", rate_limit: 0}
metrics: {listen: "127.0.0.1:${mp}"}
log: {level: warn, format: text}
apps:
  - {id: ${app}, secret: "${secret}", name: bench}
`,
    );
    await sleep(300);
    const srv = spawn(bin, ["serve", "-config", cfg], { stdio: ["ignore", "ignore", "inherit"] });
    stops.push(() => new Promise((r) => (srv.once("exit", r), srv.kill("SIGTERM"))));
    serverPid = srv.pid;
    url = `ws://127.0.0.1:${gw}/ws`;
    for (let i = 0; ; i++) {
      try {
        await fetch(`http://127.0.0.1:${mp}/readyz`).then((r) => {
          if (!r.ok) throw new Error(String(r.status));
        });
        break;
      } catch (e) {
        if (i > 600) throw new Error("chatgate not ready: " + e);
        await sleep(100);
      }
    }
  }
  const s0 = serverPid ? procStat(serverPid) : null;
  const t0 = Date.now();
  const results = await Promise.all(
    Array.from({ length: procs }, (_, k) =>
      new Promise((resolve, reject) => {
        const w = fork(fileURLToPath(import.meta.url), ["--worker", "1", "--url", url, "--app", app, "--secret", secret, "--conns", String(conns), "--first-user", String(1 + k * conns), "--duration", String(num("duration", 20)), "--window", String(num("window", 2))], {
          execArgv: ["--expose-gc"],
        });
        w.on("message", (m) => (console.log(JSON.stringify({ worker: k, ...m })), resolve(m)));
        w.on("exit", (code) => code !== 0 && reject(new Error("worker exited " + code)));
      }),
    ),
  );
  const s1 = serverPid ? procStat(serverPid) : null;
  const secs = (Date.now() - t0) / 1000;
  const sum = (k) => results.reduce((a, r) => a + r[k], 0);
  console.log(
    JSON.stringify({
      summary: true,
      procs,
      conns_total: sum("conns"),
      sends_acked_per_s: sum("sends_acked_per_s"),
      received_per_s: sum("received_per_s"),
      failed: sum("failed"),
      server_rss_mb: s1 ? +(s1.rss / 2 ** 20).toFixed(0) : undefined,
      server_cpu_pct_whole_run: s1 ? Math.round(((s1.cpuSec - s0.cpuSec) / secs) * 100) : undefined,
    }),
  );
  for (const s of stops.reverse()) await s();
}

if (args.worker) await worker();
else await main();
