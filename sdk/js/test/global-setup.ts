// Builds the chatgate binary once for the integration and browser tests,
// asynchronously, before any test worker starts (a synchronous build in a
// worker would stall vitest's worker RPC on a busy machine). The workers
// inherit CHATGATE_BIN. A CHATGATE_BIN set by the caller is used as is.
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export default async function setup(): Promise<void> {
  if (process.env.CHATGATE_BIN) return;
  const sdkRoot = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
  const out = path.join(sdkRoot, "test-output", "chatgate");
  mkdirSync(path.dirname(out), { recursive: true });
  await new Promise<void>((resolve, reject) => {
    const p = spawn("go", ["build", "-o", out, "./cmd/chatgate"], { cwd: path.resolve(sdkRoot, "../.."), stdio: "inherit" });
    p.once("error", reject);
    p.once("exit", (code) => (code === 0 ? resolve() : reject(new Error("go build ./cmd/chatgate failed with " + code))));
  });
  process.env.CHATGATE_BIN = out;
}
