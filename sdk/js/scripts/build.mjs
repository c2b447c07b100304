// Builds the package (ESM, CJS, types) and the browser bundles, and prints
// the minified + gzipped size of the browser build. With --demo it also
// writes the bundle the demo embeds (internal/webdemo/static/
// chatgate-client.min.js); test/unit/bundle.test.ts checks that the
// committed copy is current.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { copyFileSync, readFileSync, rmSync, mkdirSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const dist = path.join(root, "dist");
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

const common = { entryPoints: [path.join(root, "src/index.ts")], bundle: true, target: "es2020", logLevel: "warning" };
await build({ ...common, format: "esm", platform: "neutral", outfile: path.join(dist, "index.js"), sourcemap: true });
await build({ ...common, format: "cjs", platform: "neutral", outfile: path.join(dist, "index.cjs"), sourcemap: true });
await build({ ...common, format: "esm", platform: "browser", minify: true, outfile: path.join(dist, "chatgate-client.min.js") });
await build({
  ...common,
  format: "iife",
  globalName: "chatgate",
  platform: "browser",
  minify: true,
  outfile: path.join(dist, "chatgate-client.iife.min.js"),
});
if (process.argv.includes("--demo")) {
  copyFileSync(path.join(dist, "chatgate-client.iife.min.js"), path.join(root, "../../internal/webdemo/static/chatgate-client.min.js"));
}
execFileSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", path.join(root, "tsconfig.json"), "--emitDeclarationOnly", "--outDir", dist], {
  stdio: "inherit",
});

const min = readFileSync(path.join(dist, "chatgate-client.min.js"));
const gz = gzipSync(min, { level: 9 }).length;
const report = { minified_bytes: min.length, gzipped_bytes: gz };
writeFileSync(path.join(dist, "size.json"), JSON.stringify(report) + "\n");
console.log(`browser bundle: ${min.length} bytes minified, ${gz} bytes gzipped`);
