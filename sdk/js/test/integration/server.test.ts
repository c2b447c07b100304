// The SDK against the real chatgate binary (embedded mode).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { ChatClient, RestClient, type ClientOptions, type Message, type SocketFactory, type SocketLike } from "../../src/index.js";
import { APP, startChatgate, type Chatgate } from "../chatgate.js";
import { waitFor } from "../fake-server.js";

let cg: Chatgate;
const clients: ChatClient[] = [];
const ALICE = 1;
const BOB = 2;
const GROUP = 100;

beforeAll(async () => {
  cg = await startChatgate();
});
afterAll(async () => {
  for (const c of clients) c.close();
  await cg?.stop();
});

async function login(name: string): Promise<RestClient> {
  const r = new RestClient({ baseUrl: cg.apiUrl, appId: APP });
  await r.login(name, cg.passwords[name]!);
  return r;
}

async function connect(
  name: string,
  deviceSn: number,
  extra: Partial<ClientOptions> = {},
): Promise<{ c: ChatClient; got: Message[]; synced: number[] }> {
  const rest = await login(name);
  const token = (rest as unknown as { token: string }).token;
  const c = new ChatClient({
    urls: [cg.wsUrl],
    appId: APP,
    deviceSn,
    getToken: () => token,
    WebSocket: WebSocket as unknown as SocketFactory,
    initialDelayMs: 50,
    maxDelayMs: 1000,
    trackVisibility: false,
    ...extra,
  });
  clients.push(c);
  const got: Message[] = [];
  c.on("message", (m) => got.push(m));
  const synced: number[] = [];
  c.on("synced", (s) => synced.push(s.pages));
  c.connect();
  await waitFor(name + " open", () => c.state === "open", 30000);
  return { c, got, synced };
}

describe("against the real server", () => {
  it("1:1 chat: the ack id is the id the recipient gets, as a string", async () => {
    const a = await connect("alice", 11);
    const b = await connect("bob", 21);
    const ack = await a.c.send({ toUser: BOB, content: "hello bob" });
    expect(ack.id).toMatch(/^[1-9][0-9]*$/);
    await waitFor("bob receives", () => b.got.some((m) => m.id === ack.id), 30000);
    const m = b.got.find((x) => x.id === ack.id)!;
    expect(m).toMatchObject({ from: ALICE, from_dev: 11, to_user: BOB, content: "hello bob", conv: "u:1:2", cmid: ack.cmid });
    // Read receipt through the REST API with the id as a string.
    const reads: Message[] = [];
    a.c.on("read", (r) => reads.push(r));
    await (await login("bob")).markRead(ALICE, ack.id, 21);
    await waitFor("alice hears of the read", () => reads.some((r) => r.ref === ack.id), 30000);
    expect(reads[0]!.content).toBe(""); // events carry no content
    a.c.close();
    b.c.close();
  });

  it("group chat reaches the other member and the sender's other device", async () => {
    const a1 = await connect("alice", 12);
    const a2 = await connect("alice", 13);
    const b = await connect("bob", 22);
    const ack = await a1.c.send({ toGroup: GROUP, content: "hi group" });
    await waitFor("bob and alice's other device", () => b.got.some((m) => m.id === ack.id) && a2.got.some((m) => m.id === ack.id), 30000);
    expect(b.got.find((m) => m.id === ack.id)).toMatchObject({ conv: "g:100", to_group: GROUP, from: ALICE });
    expect(a1.got.some((m) => m.id === ack.id)).toBe(false); // not to the sending device
    for (const x of [a1, a2, b]) x.c.close();
  });

  it("an offline device catches up across several sync pages, each message once, in order", async () => {
    const b0 = await connect("bob", 23);
    await waitFor("first sync", () => b0.synced.length > 0, 30000);
    const last = b0.c.lastId;
    b0.c.close();
    const a = await connect("alice", 14);
    const ids: string[] = [];
    for (let i = 0; i < 25; i++) ids.push((await a.c.send({ toUser: BOB, content: "offline " + i })).id);
    const b = await connect("bob", 23, { lastId: last, syncLimit: 10, syncOverlapMs: 0 });
    const pages = b.synced;
    await waitFor("all 25", () => ids.every((id) => b.got.some((m) => m.id === id)), 30000);
    const mine = b.got.filter((m) => ids.includes(m.id)).map((m) => m.id);
    expect(mine).toEqual(ids); // once each, in order
    await waitFor("synced", () => pages.length > 0, 30000);
    expect(pages[0]).toBeGreaterThanOrEqual(3);
    a.c.close();
    b.c.close();
  });

  it("resends after a connection dropped before the ack: same cmid, same id, delivered once", async () => {
    // A socket that loses the connection instead of passing on the first ack.
    let dropped = 0;
    class Lossy implements SocketLike {
      private inner: WebSocket;
      onopen: SocketLike["onopen"] = null;
      onmessage: SocketLike["onmessage"] = null;
      onclose: SocketLike["onclose"] = null;
      onerror: SocketLike["onerror"] = null;
      constructor(url: string, protocol: string) {
        const inner = new WebSocket(url, protocol);
        this.inner = inner;
        inner.onopen = (e) => this.onopen?.(e);
        inner.onerror = (e) => this.onerror?.(e);
        inner.onclose = (e) => this.onclose?.(e);
        inner.onmessage = (e) => {
          if (dropped === 0 && String(e.data).startsWith('{"t":"ack"')) {
            dropped++;
            inner.terminate();
            return;
          }
          this.onmessage?.({ data: e.data });
        };
      }
      get readyState() {
        return this.inner.readyState;
      }
      get protocol() {
        return this.inner.protocol;
      }
      send(d: string) {
        this.inner.send(d);
      }
      close(code?: number, reason?: string) {
        this.inner.close(code, reason);
      }
    }
    const b = await connect("bob", 24);
    const a = await connect("alice", 15, { WebSocket: Lossy as unknown as SocketFactory });
    const opens: number[] = [];
    a.c.on("open", () => opens.push(1));
    const ack = await a.c.send({ toUser: BOB, content: "exactly once", cmid: "resend-test-1" });
    expect(dropped).toBe(1);
    expect(opens.length).toBe(1); // the ack came on the second connection
    expect(ack.cmid).toBe("resend-test-1");
    await waitFor("bob receives", () => b.got.some((m) => m.id === ack.id), 30000);
    // Give a duplicate every chance to arrive: another message after it.
    const ack2 = await a.c.send({ toUser: BOB, content: "after" });
    await waitFor("bob receives the next", () => b.got.some((m) => m.id === ack2.id), 30000);
    expect(b.got.filter((m) => m.content === "exactly once").length).toBe(1);
    a.c.close();
    b.c.close();
  });

  it("kick codes: 4101 replaced stops the old client; 4102 admin kick reconnects", async () => {
    const first = await connect("alice", 16);
    const kicks: number[] = [];
    first.c.on("kick", (k) => kicks.push(k.code));
    const second = await connect("alice", 16);
    await waitFor("first closed", () => first.c.state === "closed", 30000);
    expect(kicks).toEqual([4101]);
    const kicks2: number[] = [];
    second.c.on("kick", (k) => kicks2.push(k.code));
    let opens = 0;
    second.c.on("open", () => opens++);
    const rest = await login("alice");
    await rest.call("POST", "/user/kick", { device_sn: "16" });
    await waitFor("kicked and back", () => kicks2.includes(4102) && opens >= 1 && second.c.state === "open", 30000);
    second.c.close();
  });

  it("refreshes an expired token through getToken", async () => {
    const expired = cg.token(ALICE, "1s");
    const payload = JSON.parse(Buffer.from(expired.split(".")[1]!, "base64url").toString());
    await waitFor("token expired", () => Date.now() / 1000 > Number(payload.exp) + 1, 10000);
    const reasons: string[] = [];
    const fresh = cg.token(ALICE, "1h");
    const c = new ChatClient({
      urls: [cg.wsUrl],
      appId: APP,
      deviceSn: 17,
      getToken: (r) => (reasons.push(r), r === "connect" ? expired : fresh),
      WebSocket: WebSocket as unknown as SocketFactory,
      trackVisibility: false,
    });
    clients.push(c);
    c.connect();
    await waitFor("open with the fresh token", () => c.state === "open", 30000);
    expect(reasons).toEqual(["connect", "expired"]);
    c.close();
  });
});
