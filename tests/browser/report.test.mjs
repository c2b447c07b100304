// The load-test HTML report in headless chromium: a real (short) chat run
// against an embedded chatgate writes the report; at a wide and a narrow
// window no text overflows its box or the page, and no two texts of a
// chart (title, legend, axis labels) overlap. Screenshots: report-*.png.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { pathToFileURL } from "node:url";
import { chatgateBin, launch, out, startEmbedded } from "./lib.mjs";

const run = promisify(execFile);

// layoutProblems runs in the page: texts that overflow their element or
// the page, and pairs of chart texts whose boxes intersect.
function layoutProblems() {
  const problems = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > doc.clientWidth + 1) problems.push(`page scrolls sideways: ${doc.scrollWidth} > ${doc.clientWidth}`);
  for (const e of document.body.querySelectorAll("h1, h2, p, pre, td, th, summary, div")) {
    if (e.closest("details:not([open])") && e.tagName !== "SUMMARY") continue;
    const style = getComputedStyle(e);
    if (style.overflowX === "auto" || style.overflowX === "scroll") continue; // a scroller shows its overflow
    if (e.scrollWidth > e.clientWidth + 1) problems.push(`${e.tagName} overflows sideways (${e.scrollWidth} > ${e.clientWidth}): ${e.textContent.slice(0, 60)}`);
    if (style.overflowY === "hidden" && e.scrollHeight > e.clientHeight + 1) problems.push(`${e.tagName} clipped: ${e.textContent.slice(0, 60)}`);
  }
  const pageRect = document.body.getBoundingClientRect();
  const svgs = [...document.querySelectorAll("svg")];
  for (const [i, svg] of svgs.entries()) {
    const box = svg.getBoundingClientRect();
    if (box.right > pageRect.right + 1 || box.left < pageRect.left - 1) problems.push(`chart ${i} leaves the page`);
    const texts = [...svg.querySelectorAll("text")].map((t) => ({ s: t.textContent, r: t.getBoundingClientRect() }));
    for (const t of texts) {
      if (t.r.left < box.left - 0.5 || t.r.right > box.right + 0.5 || t.r.top < box.top - 0.5 || t.r.bottom > box.bottom + 0.5) {
        problems.push(`chart ${i}: "${t.s}" leaves the chart`);
      }
    }
    for (let a = 0; a < texts.length; a++) {
      for (let b = a + 1; b < texts.length; b++) {
        const p = texts[a].r, q = texts[b].r;
        if (p.left < q.right - 0.5 && q.left < p.right - 0.5 && p.top < q.bottom - 0.5 && q.top < p.bottom - 0.5) {
          problems.push(`chart ${i}: "${texts[a].s}" overlaps "${texts[b].s}"`);
        }
      }
    }
    // Legend swatches must not sit on any text either.
    for (const rect of svg.querySelectorAll("rect")) {
      const p = rect.getBoundingClientRect();
      for (const t of texts) {
        const q = t.r;
        if (p.left < q.right - 0.5 && q.left < p.right - 0.5 && p.top < q.bottom - 0.5 && q.top < p.bottom - 0.5) {
          problems.push(`chart ${i}: a legend swatch overlaps "${t.s}"`);
        }
      }
    }
  }
  return problems;
}

test("load-test report: no text overflows or overlaps", { timeout: 240000 }, async (t) => {
  const cfg = path.join(out, "report-chatgate.yaml");
  writeFileSync(cfg, "apps:\n  - id: bench\n    secret: browser-report-test-secret-0123456789\n    name: bench\n    users: any\n");
  const srv = await startEmbedded(t, ["-config", cfg]);
  const html = path.join(out, "report.html");
  const args = ["loadtest", "-scenario", "chat", "-ws", srv.ws, "-metrics", srv.ops, "-app", "bench",
    "-secret", "browser-report-test-secret-0123456789", "-connections", "20", "-devices", "2", "-connect-rate", "200",
    "-rate", "40", "-duration", "5s", "-drain", "10s", "-html", html];
  const res = await run(chatgateBin(), args, { timeout: 180000 }).catch((e) => e);
  assert.ok(!(res instanceof Error) || res.code === 0, `loadtest failed: ${res.stderr || res}\n${res.stdout || ""}`);
  assert.match(res.stdout, /PASS/);

  const browser = await launch(t);
  const page = await browser.newPage();
  for (const width of [1280, 640]) {
    await page.setViewport({ width, height: 900 });
    await page.goto(pathToFileURL(html).href, { waitUntil: "load" });
    const charts = await page.$$eval("svg", (s) => s.length);
    assert.ok(charts >= 7, `only ${charts} charts (the server charts need the -metrics scrape)`);
    await page.screenshot({ path: path.join(out, `report-${width}.png`), fullPage: true });
    assert.deepEqual(await page.evaluate(layoutProblems), [], `layout at ${width}px`);
    // The JSON, once opened, wraps instead of widening the page.
    await page.click("details summary");
    assert.deepEqual(await page.evaluate(layoutProblems), [], `layout at ${width}px with the JSON open`);
  }
});
