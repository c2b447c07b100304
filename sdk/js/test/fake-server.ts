// A scripted fake gateway for unit tests: it speaks just enough of the
// protocol for the test to drive the client frame by frame.
import { WebSocketServer, WebSocket } from "ws";
import type { AddressInfo } from "node:net";

export interface FakeConn {
  ws: WebSocket;
  protocol: string;
  frames: Array<Record<string, any>>;
  send(f: Record<string, unknown>): void;
  close(code: number, reason?: string): void;
  /** Waits for the first frame matching pred after the last frame next() returned. */
  next(pred: (f: Record<string, any>) => boolean, timeoutMs?: number): Promise<Record<string, any>>;
}

export interface FakeOptions {
  /** Answer auth: "hello" (default), or an error code to send and close with. */
  onAuth?: (f: Record<string, any>, n: number) => "hello" | number;
  heartbeat?: number;
  resume?: string;
  /** Answer ping with pong (default true). */
  pong?: boolean;
}

export class FakeServer {
  readonly url: string;
  readonly conns: FakeConn[] = [];
  private waiters: Array<(c: FakeConn) => void> = [];
  private auths = 0;

  private constructor(private wss: WebSocketServer, public opts: FakeOptions) {
    const port = (wss.address() as AddressInfo).port;
    this.url = `ws://127.0.0.1:${port}/ws`;
    wss.on("connection", (ws) => this.accept(ws));
  }

  static async start(opts: FakeOptions = {}): Promise<FakeServer> {
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, handleProtocols: (p) => (p.has("chatgate.v1.json") ? "chatgate.v1.json" : false) });
    await new Promise<void>((r) => wss.once("listening", () => r()));
    return new FakeServer(wss, opts);
  }

  /** Waits for the n-th connection (0-based) to be made. */
  async conn(n: number, timeoutMs = 10000): Promise<FakeConn> {
    const deadline = Date.now() + timeoutMs;
    while (this.conns.length <= n) {
      if (Date.now() > deadline) throw new Error(`no connection #${n} within ${timeoutMs} ms (have ${this.conns.length})`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.waiters.push(() => (clearTimeout(t), r()));
      });
    }
    return this.conns[n]!;
  }

  async close(): Promise<void> {
    for (const c of this.wss.clients) c.terminate();
    await new Promise<void>((r) => this.wss.close(() => r()));
  }

  private accept(ws: WebSocket): void {
    const listeners: Array<() => void> = [];
    let cursor = 0;
    const c: FakeConn = {
      ws,
      protocol: ws.protocol,
      frames: [],
      send: (f) => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify(f)),
      close: (code, reason = "") => ws.close(code, reason),
      next: (pred, timeoutMs = 10000) =>
        new Promise((resolve, reject) => {
          let from = cursor;
          const check = () => {
            for (; from < c.frames.length; from++) {
              if (pred(c.frames[from]!)) {
                const f = c.frames[from]!;
                cursor = from + 1;
                cleanup();
                resolve(f);
                return true;
              }
            }
            return false;
          };
          const t = setTimeout(() => (cleanup(), reject(new Error("no matching frame; got " + JSON.stringify(c.frames)))), timeoutMs);
          const cleanup = () => {
            clearTimeout(t);
            const i = listeners.indexOf(l);
            if (i >= 0) listeners.splice(i, 1);
          };
          const l = () => void check();
          listeners.push(l);
          check();
        }),
    };
    ws.on("message", (data) => {
      const f = JSON.parse(String(data));
      c.frames.push(f);
      if (f.t === "auth") {
        const n = this.auths++;
        const outcome = this.opts.onAuth?.(f, n) ?? "hello";
        if (outcome === "hello") {
          c.send({
            t: "hello",
            rid: f.rid,
            hello: { session: "s" + n, node: "fake", user_id: 7, device_sn: f.device_sn, heartbeat: this.opts.heartbeat ?? 25, resume: this.opts.resume ?? "0", limits: {} },
          });
        } else {
          c.send({ t: "err", rid: f.rid, code: outcome, msg: "refused" });
          c.close(outcome);
        }
      } else if (f.t === "ping" && this.opts.pong !== false) {
        c.send({ t: "pong", rid: f.rid, ts: Date.now() });
      }
      for (const l of [...listeners]) l();
    });
    this.conns.push(c);
    for (const w of this.waiters.splice(0)) w(c);
  }
}

/** Waits until cond() holds (generous deadline, no fixed sleeps). */
export async function waitFor(what: string, cond: () => boolean, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("timed out waiting for " + what);
    await new Promise((r) => setTimeout(r, 10));
  }
}
