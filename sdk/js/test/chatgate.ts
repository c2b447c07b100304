// Starts the real chatgate binary in embedded mode (in-memory Redis, dev
// app with users alice=1 and bob=2 and group 100) on free ports, for the
// integration and browser tests. CHATGATE_BIN names the binary
// (test/global-setup.ts builds it from this repository).
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export const APP = "demo";
export const SECRET = "integration-test-secret-0123456789abcdef";

/** The binary test/global-setup.ts built (or the caller's CHATGATE_BIN). */
export function chatgateBinary(): string {
  const bin = process.env.CHATGATE_BIN;
  if (!bin) throw new Error("CHATGATE_BIN is not set: run the tests through vitest (test/global-setup.ts builds the binary)");
  return bin;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface Chatgate {
  wsUrl: string;
  apiUrl: string;
  demoUrl: string;
  config: string;
  passwords: Record<string, string>;
  adminToken: string;
  output: () => string;
  /** Mints a token with the CLI (`chatgate token`). */
  token(user: number, ttl: string): string;
  stop(): Promise<void>;
}

export interface StartOptions {
  heartbeat?: string;
  idleTimeout?: string;
}

export async function startChatgate(opts: StartOptions = {}): Promise<Chatgate> {
  const bin = chatgateBinary();
  const dir = mkdtempSync(path.join(os.tmpdir(), "chatgate-sdk-"));
  const [gw, api, ops] = [await freePort(), await freePort(), await freePort()];
  const config = path.join(dir, "chatgate.yaml");
  writeFileSync(
    config,
    `gateway:
  listen: "127.0.0.1:${gw}"
  heartbeat: ${opts.heartbeat ?? "25s"}
  idle_timeout: ${opts.idleTimeout ?? "75s"}
admin: {listen: "127.0.0.1:${api}", rate_limit: 0, password_cost: 4}
metrics: {listen: "127.0.0.1:${ops}"}
log: {level: warn, format: text}
apps:
  - {id: ${APP}, secret: "${SECRET}", name: sdk tests}
`,
  );
  const proc: ChildProcess = spawn(bin, ["serve", "-config", config], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const deadline = Date.now() + 120000;
  while (!/={20,}\s*$/.test(out.trim()) || !out.includes("Admin token:")) {
    if (proc.exitCode !== null) throw new Error("chatgate exited:\n" + out);
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error("chatgate did not print its start block:\n" + out);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const passwords: Record<string, string> = {};
  for (const m of out.matchAll(/User \d login:\s+username (\S+), password (\S+)/g)) passwords[m[1]!] = m[2]!;
  const adminToken = /Admin token:\s+(\S+)/.exec(out)![1]!;
  return {
    wsUrl: `ws://127.0.0.1:${gw}/ws`,
    apiUrl: `http://127.0.0.1:${api}`,
    demoUrl: `http://127.0.0.1:${gw}/demo/`,
    config,
    passwords,
    adminToken,
    output: () => out,
    token: (user, ttl) =>
      execFileSync(bin, ["token", "-config", config, "-app", APP, "-user", String(user), "-ttl", ttl], { encoding: "utf8" }).trim(),
    stop: async () => {
      if (proc.exitCode === null) {
        proc.kill("SIGTERM");
        const t = setTimeout(() => proc.kill("SIGKILL"), 15000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}
