import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

describe("build", () => {
  it("the demo embeds the current browser bundle (else: npm run build -- --demo)", () => {
    const built = readFileSync(path.join(root, "dist/chatgate-client.iife.min.js"), "utf8");
    const embedded = readFileSync(path.join(root, "../../internal/webdemo/static/chatgate-client.min.js"), "utf8");
    expect(embedded === built).toBe(true);
  });

  it("the browser build has no runtime dependency and stays small", () => {
    const esm = readFileSync(path.join(root, "dist/chatgate-client.min.js"), "utf8");
    expect(esm).not.toMatch(/\bimport\s*[^(]*from\s*["']/);
    expect(esm).not.toMatch(/require\(/);
    const size = JSON.parse(readFileSync(path.join(root, "dist/size.json"), "utf8"));
    expect(size.gzipped_bytes).toBeLessThan(15 * 1024);
  });
});
