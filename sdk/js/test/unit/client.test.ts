import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { ChatClient, ChatError, type ClientOptions, type CloseInfo, type Message, syncStart } from "../../src/index.js";
import { FakeServer, waitFor } from "../fake-server.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function client(urls: string[], extra: Partial<ClientOptions> = {}): ChatClient {
  const c = new ChatClient({
    urls,
    appId: "demo",
    deviceSn: 1,
    getToken: () => "tok",
    WebSocket: WebSocket as unknown as ClientOptions["WebSocket"],
    initialDelayMs: 20,
    maxDelayMs: 200,
    random: () => 0.5,
    trackVisibility: false,
    ...extra,
  });
  cleanups.push(() => c.close());
  return c;
}

async function server(opts = {}): Promise<FakeServer> {
  const s = await FakeServer.start(opts);
  cleanups.push(() => s.close());
  return s;
}

/** A client connected to a fresh fake server, after hello. */
async function opened(extra: Partial<ClientOptions> = {}) {
  const s = await server();
  const c = client([s.url], extra);
  c.connect();
  const c0 = await s.conn(0);
  await waitFor("open", () => c.state === "open");
  return { s, c, c0 };
}

function msg(id: string, extra: Partial<Message> = {}): Message {
  return { id, conv: "u:7:42", from: 42, from_dev: 3, to_user: 7, type: "text", content: "m" + id, ts: 1, ...extra };
}

describe("connect", () => {
  it("offers the subprotocol, authenticates, and resolves a send on its ack", async () => {
    const s = await server();
    const c = client([s.url], { deviceSn: 9, pushToken: "p" });
    c.connect();
    const conn = await s.conn(0);
    expect(conn.protocol).toBe("chatgate.v1.json");
    const auth = await conn.next((f) => f.t === "auth");
    expect(auth).toMatchObject({ token: "tok", app_id: "demo", device_sn: 9, platform: 6, push_token: "p" });
    expect(auth.rid).toBeGreaterThan(0);
    await waitFor("open", () => c.state === "open");
    const p = c.send({ toUser: 42, content: "hi" });
    const send = await conn.next((f) => f.t === "send");
    expect(send).toMatchObject({ to_user: 42, type: "text", content: "hi" });
    expect(send.rid).not.toBe(auth.rid);
    conn.send({ t: "ack", rid: send.rid, cmid: send.cmid, id: "265191234567340032", ts: 5 });
    await expect(p).resolves.toEqual({ cmid: send.cmid, id: "265191234567340032", ts: 5 });
    expect(c.unacked).toBe(0);
  });

  it("checks sizes and recipients locally before sending", async () => {
    const s = await server();
    const c = client([s.url]);
    c.connect();
    await waitFor("open", () => c.state === "open");
    await expect(c.send({ content: "x" })).rejects.toMatchObject({ code: 4002 });
    await expect(c.send({ toUser: 1, toGroup: 2, content: "x" })).rejects.toMatchObject({ code: 4002 });
    await expect(c.send({ toUser: 1, content: "é".repeat(16385) })).rejects.toMatchObject({ code: 4003 });
    await expect(c.send({ toUser: 1, content: "x", cmid: "a:b" })).rejects.toBeInstanceOf(ChatError);
    await expect(c.send({ toUser: 1, content: "" })).rejects.toMatchObject({ code: 4002 });
  });

  it("fails over to the next URL when one is down", async () => {
    const s = await server();
    const dead = "ws://127.0.0.1:1/ws";
    const c = client([dead, s.url]);
    const closes: CloseInfo[] = [];
    c.on("close", (i) => closes.push(i));
    c.connect();
    await waitFor("open", () => c.state === "open");
    expect(closes.length).toBeGreaterThanOrEqual(1);
    expect(closes[0]!.willReconnect).toBe(true);
  });
});

describe("reconnect", () => {
  // Delays are random in [d/2, d], d = 20, 40, 80, 160, 200 (cap), 200.
  for (const [random, want] of [
    [0, [10, 20, 40, 80, 100, 100]],
    [0.999, [19, 39, 79, 159, 199, 199]],
  ] as const) {
    it(`backs off exponentially with jitter, capped (random ${random})`, async () => {
      const s = await server({ onAuth: () => 4015 });
      const c = client([s.url], { random: () => random });
      const delays: number[] = [];
      c.on("close", (i) => delays.push(i.delayMs));
      c.connect();
      await waitFor("six attempts", () => delays.length >= 6);
      expect(delays.slice(0, 6)).toEqual(want);
    });
  }

  it("resends an unacked send with the same cmid after a dropped connection, and resolves once", async () => {
    const { s, c, c0 } = await opened();
    let resolved = 0;
    const p = c.send({ toGroup: 500, content: "once", cmid: "fixed-1" }).then((a) => (resolved++, a));
    const first = await c0.next((f) => f.t === "send");
    c0.ws.terminate(); // no ack, no close frame
    const c1 = await s.conn(1);
    const again = await c1.next((f) => f.t === "send");
    expect(again.cmid).toBe("fixed-1");
    expect(again).toMatchObject({ to_group: 500, content: "once" });
    expect(first.cmid).toBe(again.cmid);
    c1.send({ t: "ack", rid: again.rid, cmid: "fixed-1", id: "77", ts: 1 });
    await expect(p).resolves.toMatchObject({ id: "77" });
    expect(resolved).toBe(1);
  });

  it("queues sends made while disconnected and sends them after hello", async () => {
    const s = await server();
    const c = client([s.url]);
    const p = c.send({ toUser: 1, content: "early" });
    c.connect();
    const c0 = await s.conn(0);
    const f = await c0.next((x) => x.t === "send");
    c0.send({ t: "ack", rid: f.rid, cmid: f.cmid, id: "5", ts: 1 });
    await expect(p).resolves.toMatchObject({ id: "5" });
  });

  it("retries 4029 and 5003 with the same cmid and rejects final errors", async () => {
    const s = await server();
    const c = client([s.url]);
    c.connect();
    const c0 = await s.conn(0);
    const p = c.send({ toUser: 1, content: "a", cmid: "r1" });
    const f1 = await c0.next((x) => x.t === "send" && x.cmid === "r1");
    c0.send({ t: "err", rid: f1.rid, code: 4029, msg: "rate limited" });
    const f2 = await c0.next((x) => x.t === "send" && x.cmid === "r1");
    c0.send({ t: "err", rid: f2.rid, code: 5003, msg: "unavailable" });
    const f3 = await c0.next((x) => x.t === "send" && x.cmid === "r1");
    c0.send({ t: "ack", rid: f3.rid, cmid: "r1", id: "9", ts: 1 });
    await expect(p).resolves.toMatchObject({ id: "9" });
    const q = c.send({ toGroup: 3, content: "b" });
    const g = await c0.next((x) => x.t === "send" && x.to_group === 3);
    c0.send({ t: "err", rid: g.rid, code: 4021, msg: "not a member" });
    await expect(q).rejects.toMatchObject({ code: 4021 });
    expect(c.unacked).toBe(0);
  });

  it("does not reconnect after 4101 (replaced) and rejects pending sends", async () => {
    const { s, c, c0 } = await opened();
    const kicks: number[] = [];
    c.on("kick", (k) => kicks.push(k.code));
    const pending = c.send({ toUser: 1, content: "x" });
    await c0.next((f) => f.t === "send");
    c0.send({ t: "kick", code: 4101, reason: "replaced" });
    c0.close(4101, "replaced");
    await expect(pending).rejects.toMatchObject({ code: 4101 });
    expect(c.state).toBe("closed");
    expect(kicks).toEqual([4101]);
    expect(s.conns.length).toBe(1);
  });

  it("reconnects at once to another gateway on 4104 (shutdown)", async () => {
    const a = await server();
    const b = await server();
    const c = client([a.url, b.url], { initialDelayMs: 60000, maxDelayMs: 60000 });
    c.connect();
    const a0 = await a.conn(0);
    await waitFor("open", () => c.state === "open");
    a0.send({ t: "kick", code: 4104, reason: "server_shutdown" });
    a0.close(4104);
    await b.conn(0, 5000); // under the 1 s random delay, not the 60 s backoff
    await waitFor("open on b", () => c.state === "open");
  });
});

describe("tokens", () => {
  it("asks for a fresh token after 4011 and connects with it", async () => {
    const s = await server({ onAuth: (f: any) => (f.token === "old" ? 4011 : "hello") });
    const reasons: string[] = [];
    const c = client([s.url], { getToken: (r) => (reasons.push(r), reasons.length === 1 ? "old" : "new") });
    c.connect();
    await waitFor("open", () => c.state === "open");
    expect(reasons).toEqual(["connect", "expired"]);
  });

  it("stops when getToken returns the refused token again", async () => {
    const s = await server({ onAuth: () => 4010 });
    const c = client([s.url], { getToken: () => "same" });
    const errors: ChatError[] = [];
    c.on("error", (e) => errors.push(e));
    c.connect();
    await waitFor("closed", () => c.state === "closed");
    expect(errors[0]!.code).toBe(4010);
    expect(s.conns.length).toBe(1);
  });

  it("stops on 4014 (user disabled)", async () => {
    const s = await server({ onAuth: () => 4014 });
    const c = client([s.url]);
    c.connect();
    await waitFor("closed", () => c.state === "closed");
    expect(s.conns.length).toBe(1);
  });
});

describe("sync and de-duplication", () => {
  it("syncs from hello.resume, pages with next, and drops duplicates by id", async () => {
    const s = await server({ resume: "100" });
    const c = client([s.url]);
    const got: string[] = [];
    c.on("message", (m) => got.push(m.id));
    const synced: number[] = [];
    c.on("synced", (x) => synced.push(x.pages));
    c.connect();
    const c0 = await s.conn(0);
    const s1 = await c0.next((f) => f.t === "sync");
    expect(s1.after).toBe("100");
    expect(s1.limit).toBe(200);
    c0.send({ t: "msg", message: msg("102") }); // live, overlaps the page
    c0.send({ t: "sync_res", rid: s1.rid, msgs: [msg("101"), msg("102")], has_more: true, next: "102" });
    const s2 = await c0.next((f) => f.t === "sync" && f.rid !== s1.rid);
    expect(s2.after).toBe("102");
    c0.send({ t: "sync_res", rid: s2.rid, msgs: [msg("103")], next: "103" });
    await waitFor("synced", () => synced.length === 1);
    expect(got).toEqual(["102", "101", "103"]);
    expect(synced).toEqual([2]);
  });

  it("after a reconnect, syncs from a minute before the highest id and delivers each id once", async () => {
    const s = await server();
    const c = client([s.url]);
    const got: string[] = [];
    c.on("message", (m) => got.push(m.id));
    c.connect();
    const c0 = await s.conn(0);
    const first = await c0.next((f) => f.t === "sync");
    const high = "265191234567340032";
    c0.send({ t: "sync_res", rid: first.rid, msgs: [msg(high)], next: high });
    await waitFor("one message", () => got.length === 1);
    c0.close(1001);
    const c1 = await s.conn(1);
    const again = await c1.next((f) => f.t === "sync");
    expect(again.after).toBe(syncStart(high));
    expect(BigInt(again.after)).toBe(BigInt(high) - (60000n << 22n));
    c1.send({ t: "sync_res", rid: again.rid, msgs: [msg(high), msg("265191234567340033")], next: "265191234567340033" });
    await waitFor("two messages", () => got.length === 2);
    expect(got).toEqual([high, "265191234567340033"]);
  });

  it("types events: recall, read, notice, unknown; reads absent members as zero", async () => {
    const s = await server();
    const c = client([s.url]);
    const seen: string[] = [];
    c.on("recall", (m) => seen.push("recall " + m.ref + " " + m.content));
    c.on("read", (m) => seen.push("read " + m.ref));
    c.on("notice", (m) => seen.push("notice " + m.notice?.kind));
    c.on("unknown", (m) => seen.push("unknown " + m.type));
    c.on("message", (m) => seen.push(`message from ${m.from}/${m.from_dev}`));
    c.connect();
    const c0 = await s.conn(0);
    await waitFor("open", () => c.state === "open");
    c0.send({ t: "msg", message: { id: "1", conv: "u:0:7", to_user: 7, type: "text", content: "sys", ts: 1 } });
    c0.send({ t: "msg", message: { id: "2", conv: "u:7:42", from: 42, type: "recall", ref: "1", ts: 1 } });
    c0.send({ t: "msg", message: { id: "3", conv: "u:7:42", from: 42, type: "read", ref: "1", ts: 1 } });
    c0.send({ t: "msg", message: { id: "4", conv: "g:5", type: "notice", notice: { kind: "group_member_joined", group: 5, users: [9] }, ts: 1 } });
    c0.send({ t: "msg", message: { id: "5", conv: "g:5", type: "poll", ts: 1 } });
    c0.send({ t: "future_frame", x: 1 });
    await waitFor("five events", () => seen.length === 5);
    expect(seen).toEqual(["message from 0/0", "recall 1 ", "read 1", "notice group_member_joined", "unknown poll"]);
  });
});

describe("dack, state and heartbeat", () => {
  it("dacks the highest delivered id", async () => {
    const s = await server();
    const c = client([s.url], { dackIntervalMs: 50 });
    c.connect();
    const c0 = await s.conn(0);
    await waitFor("open", () => c.state === "open");
    c0.send({ t: "msg", message: msg("10") });
    c0.send({ t: "msg", message: msg("9") });
    const d = await c0.next((f) => f.t === "dack");
    expect(d.id).toBe("10");
    expect(c.lastId).toBe("10");
  });

  it("sends state on background/foreground and repeats background after a reconnect", async () => {
    const { s, c, c0 } = await opened();
    c.setBackground(true);
    expect((await c0.next((f) => f.t === "state")).bg).toBe(true);
    c0.close(1001);
    const c1 = await s.conn(1);
    expect((await c1.next((f) => f.t === "state")).bg).toBe(true);
    c.setBackground(false);
    expect((await c1.next((f) => f.t === "state" && f.bg === false)).bg).toBe(false);
  });

  it("follows document visibility", async () => {
    const listeners: Array<() => void> = [];
    const doc = { visibilityState: "visible", addEventListener: (_: string, f: () => void) => listeners.push(f), removeEventListener: () => {} };
    (globalThis as any).document = doc;
    cleanups.push(() => delete (globalThis as any).document);
    const s = await server();
    const c = client([s.url], { trackVisibility: true });
    c.connect();
    const c0 = await s.conn(0);
    await waitFor("open", () => c.state === "open");
    doc.visibilityState = "hidden";
    listeners.forEach((f) => f());
    expect((await c0.next((f) => f.t === "state")).bg).toBe(true);
  });

  it("pings every heartbeat/2 and reconnects when the server goes silent", async () => {
    const s = await server({ heartbeat: 1, pong: false });
    const c = client([s.url]);
    c.connect();
    const c0 = await s.conn(0);
    await c0.next((f) => f.t === "ping", 3000);
    await s.conn(1, 10000); // nothing heard for 2 s: the client gives up on c0
  });
});
