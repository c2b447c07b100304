// The demo page (served by chatgate under /demo/) in real headless
// Chromium: two browser contexts log in as alice and bob and chat; bob
// goes offline and catches up. Screenshots land in test-output/screenshots.
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RestClient } from "../../src/index.js";
import { APP, startChatgate, type Chatgate } from "../chatgate.js";

const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
const shots = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../test-output/screenshots");

let cg: Chatgate;
let browser: Browser;

beforeAll(async () => {
  mkdirSync(shots, { recursive: true });
  // A short heartbeat: offline emulation also swallows the kick's close,
  // so bob's page notices the dead connection by the missing pongs.
  cg = await startChatgate({ heartbeat: "4s", idleTimeout: "12s" });
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  await cg?.stop();
});

const T = 60000; // generous: the machine is shared
const step = (s: string) => console.log(new Date().toISOString(), "step:", s);

async function loginPage(user: string): Promise<Page> {
  const ctx = await browser.createBrowserContext();
  const page = await ctx.newPage();
  page.on("pageerror", (e) => console.error(`[${user}] page error:`, e));
  await page.setViewport({ width: 1000, height: 640 });
  await page.goto(cg.demoUrl, { waitUntil: "load" });
  await page.waitForSelector("#hint:not(:empty)", { timeout: T });
  await page.type("#login input[name=username]", user);
  await page.type("#login input[name=password]", cg.passwords[user]!);
  await page.click("#login button[type=submit]");
  await page.waitForSelector('#conn[data-state="open"]', { timeout: T });
  // The login form is gone and the connection state is on screen.
  expect(await page.$eval("#login", (e) => getComputedStyle(e).display)).toBe("none");
  expect(await page.$eval("#conn", (e) => e.getBoundingClientRect().top)).toBeGreaterThanOrEqual(0);
  return page;
}

async function openConv(page: Page, peer: string): Promise<void> {
  await page.type("#open input[name=peer]", peer);
  await page.click("#open button");
  await page.waitForSelector("#compose:not([hidden])", { timeout: T });
}

async function say(page: Page, text: string): Promise<void> {
  await page.type("#compose input[name=text]", text);
  await page.click("#compose button");
}

/** Texts of the messages in the open conversation, in display order. */
function texts(page: Page): Promise<string[]> {
  return page.$$eval("#msgs li .text", (els) => els.map((e) => e.textContent ?? ""));
}

async function waitText(page: Page, text: string): Promise<void> {
  await page.waitForFunction((t) => [...document.querySelectorAll("#msgs li .text")].some((e) => e.textContent === t), { timeout: T }, text);
}

describe("browser demo", () => {
  it("two users chat, read receipts and recall show, and an offline user catches up", async () => {
    const alice = await loginPage("alice");
    const bob = await loginPage("bob");
    expect(await alice.$eval("#me", (e) => e.textContent)).toContain("user 1");

    step('alice writes to bob');
    // alice writes to bob: sending -> sent, with a server id.
    await openConv(alice, "2");
    await say(alice, "hi bob, from the browser");
    await alice.waitForSelector('#msgs li.mine[data-status="sent"], #msgs li.mine[data-status="read"]', { timeout: T });
    const id = await alice.$eval("#msgs li.mine", (e) => (e as HTMLElement).dataset.id ?? "");
    expect(id).toMatch(/^[1-9][0-9]*$/);

    step('bob sees an unread');
    // bob sees an unread conversation, opens it, reads it: alice sees "read".
    await bob.waitForSelector('#convs li[data-conv="u:1"][data-unread="1"]', { timeout: T });
    await bob.screenshot({ path: path.join(shots, "1-bob-unread.png") });
    await bob.click('#convs li[data-conv="u:1"]');
    await waitText(bob, "hi bob, from the browser");
    await alice.waitForSelector(`#msgs li[data-id="${id}"][data-status="read"]`, { timeout: T });

    step('bob answers live');
    // bob answers live.
    await say(bob, "hello alice");
    await waitText(alice, "hello alice");
    await alice.screenshot({ path: path.join(shots, "2-alice-chat.png") });

    step('alice recalls');
    // alice recalls her first message: gone on both sides.
    await alice.click(`#msgs li[data-id="${id}"] .recall`);
    for (const p of [alice, bob]) {
      await p.waitForSelector(`#msgs li[data-id="${id}"].recalled`, { timeout: T });
    }

    step('bob goes offline');
    // bob goes offline: no network, and his connection is cut (admin kick).
    const bobDevice = await bob.evaluate(() => Number(localStorage.getItem("chatgate-demo-device-demo-2")));
    const states: string[] = [];
    await bob.exposeFunction("recordState", (s: string) => states.push(s));
    await bob.evaluate(() => {
      new MutationObserver(() => (window as any).recordState(document.querySelector("#conn")!.getAttribute("data-state"))).observe(
        document.querySelector("#conn")!,
        { attributes: true },
      );
    });
    const cdp = await bob.createCDPSession();
    await cdp.send("Network.enable");
    await cdp.send("Network.emulateNetworkConditions", { offline: true, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    const rest = new RestClient({ baseUrl: cg.apiUrl, appId: APP });
    await rest.login("bob", cg.passwords.bob!);
    await rest.call("POST", "/user/kick", { device_sn: String(bobDevice) });
    await bob.waitForSelector('#conn:not([data-state="open"])', { timeout: T });
    await bob.screenshot({ path: path.join(shots, "3-bob-offline.png") });

    step('alice writes while');
    // alice writes while bob is away.
    const missed = ["while you were away 1", "while you were away 2", "while you were away 3"];
    for (const t of missed) await say(alice, t);
    await alice.waitForFunction((n) => document.querySelectorAll('#msgs li.mine[data-status="sent"]').length >= n, { timeout: T }, 3);

    step('back online');
    // back online: bob reconnects by himself and catches up, once each, in order.
    await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await bob.waitForSelector('#conn[data-state="open"]', { timeout: 120000 });
    for (const t of missed) await waitText(bob, t);
    const got = await texts(bob);
    expect(got.filter((t) => missed.includes(t))).toEqual(missed);
    expect(states).toContain("reconnecting");
    await bob.screenshot({ path: path.join(shots, "4-bob-caught-up.png") });

    step('The conversation list came');
    // The conversation list came from recent sessions; history pages work
    // after a reload (a fresh page asks the REST API).
    await bob.reload({ waitUntil: "load" });
    await bob.waitForSelector("#hint:not(:empty)", { timeout: T });
  }, 300000);

  it("group conversations: both members chat in group 100", async () => {
    const alice = await loginPage("alice");
    const bob = await loginPage("bob");
    await openConv(alice, "g:100");
    await openConv(bob, "g:100");
    await say(alice, "hello group");
    await waitText(bob, "hello group");
    await say(bob, "hi all");
    await waitText(alice, "hi all");
    const meta = await bob.$$eval("#msgs li:not(.mine) .meta", (els) => els.map((e) => e.textContent ?? ""));
    expect(meta.some((m) => m.includes("user 1"))).toBe(true);
    await alice.screenshot({ path: path.join(shots, "5-group.png") });
  }, 300000);

  it("pages history with Load older", async () => {
    const rest = new RestClient({ baseUrl: cg.apiUrl, appId: APP });
    await rest.login("alice", cg.passwords.alice!);
    const sender = new RestClient({ baseUrl: cg.apiUrl, appId: APP, token: cg.adminToken });
    for (let i = 0; i < 25; i++) {
      await sender.call("POST", "/message/send", undefined, { from_user_id: 2, targets: [1], type: 1, content_type: 0, content: "history " + i });
    }
    const alice = await loginPage("alice");
    await openConv(alice, "2");
    await waitText(alice, "history 24");
    expect((await texts(alice)).includes("history 0")).toBe(false);
    await alice.waitForSelector("#older:not([hidden])", { timeout: T });
    await alice.click("#older");
    await waitText(alice, "history 0");
    const all = (await texts(alice)).filter((t) => t.startsWith("history "));
    expect(all).toEqual(Array.from({ length: 25 }, (_, i) => "history " + i));
  }, 300000);
});
