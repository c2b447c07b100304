import { Emitter } from "./emitter.js";
import { compareIds, maxId, syncStart } from "./ids.js";
import {
  Ack,
  ChatError,
  ClientEvents,
  CloseInfo,
  ConnectionState,
  Frame,
  Hello,
  Limits,
  Message,
  OutgoingMessage,
} from "./types.js";

/** The WebSocket subprotocol of protocol v1. */
export const SUBPROTOCOL = "chatgate.v1.json";

/** Why the client asks for a token. */
export type TokenReason = "connect" | "rejected" | "expired";

/** The part of the WebSocket API the client uses (browser WebSocket or the `ws` package). */
export interface SocketLike {
  readonly readyState: number;
  readonly protocol: string;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export type SocketFactory = new (url: string, protocols: string | string[]) => SocketLike;

/** Options of a ChatClient. */
export interface ClientOptions {
  /** Gateway URLs (ws:// or wss://); the client rotates through them. */
  urls: string[];
  appId: string;
  /** This device's number for the user, stable across restarts (int32 > 0). */
  deviceSn: number;
  /**
   * Returns a user token. Called before the first connection, and again
   * with "rejected"/"expired" when the server refused the last one (4010,
   * 4011, 4013): return a fresh one. Returning the same token again stops
   * the client (the spec forbids retrying a refused token).
   */
  getToken: (reason: TokenReason) => string | Promise<string>;
  /** 1 ios, 2 android, 3 windows, 4 mac, 5 linux, 6 web (default). */
  platform?: number;
  pushToken?: string;
  notifier?: string;
  /** WebSocket implementation: globalThis.WebSocket by default; in Node pass the `ws` package's export. */
  WebSocket?: SocketFactory;
  /** The highest message id the application already holds (e.g. persisted); sync starts a minute before it. */
  lastId?: string;
  /** First reconnect delay in ms (default 500); doubles up to maxDelayMs (default 30000). */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** A connection that stayed up this long resets the backoff (default 10000 ms). */
  stableAfterMs?: number;
  /** How often to dack the highest processed id (default 3000 ms). */
  dackIntervalMs?: number;
  /** Ids remembered for de-duplication (default 10000). */
  dedupeSize?: number;
  /** Sync overlap (section 9; default 60000 ms). */
  syncOverlapMs?: number;
  /** Page size of sync (default: the server's maximum). */
  syncLimit?: number;
  /** Follow document.visibilityState with state frames (default true where a document exists). */
  trackVisibility?: boolean;
  /** Random source in [0, 1) for jitter and cmids (tests). */
  random?: () => number;
}

interface Pending {
  cmid: string;
  frame: Frame;
  resolve: (ack: Ack) => void;
  reject: (err: ChatError) => void;
  rid: number; // 0: not on the current connection
  retryAt: number; // ms timestamp; 0: send when possible
}

const DEFAULT_LIMITS: Limits = {
  max_frame_bytes: 65536,
  max_content_bytes: 32768,
  max_ext_bytes: 4096,
  max_cmid_bytes: 64,
  max_token_bytes: 2048,
  max_sync_limit: 200,
  frames_per_second: 50,
  frame_burst: 100,
};

/** Send errors worth retrying with the same cmid (section 13). */
const RETRYABLE = new Set([4029, 5000, 5003]);
/** Auth errors after which the token must change. */
const TOKEN_ERRORS = new Set([4010, 4011, 4013]);
/** Codes after which the client must not reconnect on its own. */
const FINAL = new Set([4101, 4108, 4012, 4014]);

const utf8 = new TextEncoder();

/**
 * ChatClient keeps one authenticated connection to a chatgate gateway
 * alive and implements the client checklist of PROTOCOL.md section 15:
 * failover across URLs, backoff with jitter, token refresh, resend with
 * the same cmid, sync with de-duplication, dack, state and heartbeat.
 */
export class ChatClient extends Emitter<ClientEvents> {
  private readonly o: Required<Omit<ClientOptions, "pushToken" | "notifier" | "lastId" | "WebSocket" | "syncLimit">> &
    Pick<ClientOptions, "pushToken" | "notifier" | "syncLimit">;
  private readonly WS: SocketFactory;
  private ws: SocketLike | null = null;
  private _state: ConnectionState = "idle";
  private hello: Hello | null = null;
  private limits: Limits = DEFAULT_LIMITS;
  private token = "";
  private tokenRejected: TokenReason | null = null;
  private urlIndex = 0;
  private attempt = 0;
  private openedAt = 0;
  private lastRecv = 0;
  private nextRid = 0;
  private authRid = 0;
  private kickCode = 0;
  private stopped = true;
  private timers = new Set<ReturnType<typeof setTimeout>>();
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  private dackTimer: ReturnType<typeof setInterval> | null = null;
  private readonly queue = new Map<string, Pending>(); // by cmid, in send order
  private readonly byRid = new Map<number, Pending>();
  private readonly seen = new Map<string, true>(); // insertion-ordered de-dup set
  private highest = "0"; // highest id received (sync start)
  private processed = "0"; // highest id delivered to the application
  private dacked = "0";
  private syncRid = 0;
  private syncPages = 0;
  private syncMessages = 0;
  private bg = false;
  private bucket = 0;
  private bucketAt = 0;
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly cmidPrefix: string;
  private cmidSeq = 0;
  private unwatchVisibility: (() => void) | null = null;

  constructor(options: ClientOptions) {
    super();
    if (!options.urls?.length) throw new ChatError(0, "at least one gateway URL is required");
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: SocketFactory }).WebSocket;
    if (!WS) throw new ChatError(0, "no WebSocket implementation: pass options.WebSocket (in Node: the ws package)");
    this.WS = WS;
    this.o = {
      platform: 6,
      initialDelayMs: 500,
      maxDelayMs: 30000,
      stableAfterMs: 10000,
      dackIntervalMs: 3000,
      dedupeSize: 10000,
      syncOverlapMs: 60000,
      trackVisibility: typeof document !== "undefined",
      random: Math.random,
      ...options,
    };
    if (options.lastId) this.highest = this.processed = this.dacked = options.lastId;
    this.cmidPrefix = Math.floor(this.o.random() * 2 ** 48).toString(36) + "-";
  }

  /** The connection state. */
  get state(): ConnectionState {
    return this._state;
  }

  /** The hello of the current connection, or null. */
  get session(): Hello | null {
    return this.hello;
  }

  /** The highest message id this client has delivered to the application. */
  get lastId(): string {
    return this.processed;
  }

  /** Sends that have no ack yet (they are resent after every reconnect). */
  get unacked(): number {
    return this.queue.size;
  }

  /** Starts connecting; the client keeps the connection alive until close(). */
  connect(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.kickCode = 0;
    if (this.o.trackVisibility && typeof document !== "undefined") {
      const onChange = () => this.setBackground(document.visibilityState === "hidden");
      document.addEventListener("visibilitychange", onChange);
      this.unwatchVisibility = () => document.removeEventListener("visibilitychange", onChange);
      this.bg = document.visibilityState === "hidden";
    }
    void this.dial();
  }

  /** Closes the connection (status 1000) and stops reconnecting. Unacked sends are rejected. */
  close(): void {
    if (this.stopped) return;
    this.sendDack();
    this.stop(new ChatError(0, "client closed"));
    this.detach();
  }

  /**
   * Queues a message and resolves with its ack once it is durable. The
   * message is resent with the same cmid after reconnects until acked; the
   * promise rejects only on a final error (or close()).
   */
  send(msg: OutgoingMessage): Promise<Ack> {
    const cmid = msg.cmid ?? this.newCmid();
    const existing = this.queue.get(cmid);
    if (existing) {
      return new Promise((resolve, reject) => {
        const { resolve: r0, reject: j0 } = existing;
        existing.resolve = (a) => (r0(a), resolve(a));
        existing.reject = (e) => (j0(e), reject(e));
      });
    }
    const frame: Frame = { t: "send", cmid, type: msg.type ?? "text" };
    if (msg.toUser) frame.to_user = msg.toUser;
    if (msg.toGroup) frame.to_group = msg.toGroup;
    if (msg.content) frame.content = msg.content;
    if (msg.ext) frame.ext = msg.ext;
    const problem = this.check(frame, msg);
    if (problem) return Promise.reject(problem);
    return new Promise<Ack>((resolve, reject) => {
      this.queue.set(cmid, { cmid, frame, resolve, reject, rid: 0, retryAt: 0 });
      this.flush();
    });
  }

  /** Tells the server the app is in the background (true) or foreground. */
  setBackground(bg: boolean): void {
    if (this.bg === bg) return;
    this.bg = bg;
    if (this._state === "open") {
      if (bg) this.sendDack();
      this.write({ t: "state", bg });
    }
  }

  // --- connection ---------------------------------------------------------

  private async dial(): Promise<void> {
    if (this.stopped) return;
    this.setState(this.attempt === 0 && this._state === "idle" ? "connecting" : "reconnecting");
    let token: string;
    try {
      const reason: TokenReason = this.tokenRejected ?? "connect";
      const fresh = this.token === "" || this.tokenRejected !== null;
      token = fresh ? await this.o.getToken(reason) : this.token;
      if (this.tokenRejected && token === this.token) {
        this.fail(new ChatError(4010, "the token was refused and getToken returned it again"));
        return;
      }
    } catch (err) {
      this.emit("error", new ChatError(0, "getToken failed: " + String(err)));
      this.scheduleReconnect(0, "getToken failed", false);
      return;
    }
    if (this.stopped) return;
    this.token = token;
    this.tokenRejected = null;
    const url = this.o.urls[this.urlIndex % this.o.urls.length]!;
    let ws: SocketLike;
    try {
      ws = new this.WS(url, SUBPROTOCOL);
    } catch (err) {
      this.scheduleReconnect(1006, "cannot open " + url + ": " + String(err), true);
      return;
    }
    this.ws = ws;
    this.hello = null;
    this.nextRid = 0;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.lastRecv = Date.now();
      this.authRid = this.rid();
      const auth: Frame = { t: "auth", rid: this.authRid, token: this.token, app_id: this.o.appId, device_sn: this.o.deviceSn, platform: this.o.platform };
      if (this.o.pushToken) auth.push_token = this.o.pushToken;
      if (this.o.notifier) auth.notifier = this.o.notifier;
      ws.send(JSON.stringify(auth));
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      this.lastRecv = Date.now();
      if (typeof ev.data !== "string") return;
      let f: Frame;
      try {
        f = JSON.parse(ev.data) as Frame;
      } catch {
        return;
      }
      if (f && typeof f === "object") this.onFrame(f);
    };
    ws.onerror = () => {
      /* the close event follows and carries the status */
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.onClose(ev.code, ev.reason);
    };
  }

  private onFrame(f: Frame): void {
    switch (f.t) {
      case "hello":
        return this.onHello(f.hello as Hello);
      case "ack":
        return this.onAck(f);
      case "err":
        return this.onErr(f);
      case "msg":
        if (f.message) this.deliver(f.message as Message);
        return;
      case "sync_res":
        return this.onSyncRes(f);
      case "kick":
        this.kickCode = Number(f.code) || 0;
        this.emit("kick", { code: this.kickCode, reason: String(f.reason ?? "") });
        return;
      default:
      // pong, and frame types of later versions: nothing to do.
    }
  }

  private onHello(h: Hello): void {
    this.hello = h;
    this.limits = { ...DEFAULT_LIMITS, ...h.limits };
    this.openedAt = Date.now();
    this.bucket = this.limits.frame_burst;
    this.bucketAt = this.openedAt;
    this.setState("open");
    this.startTimers(h.heartbeat || 25);
    if (this.bg) this.write({ t: "state", bg: true });
    // 1. resend every unacked send with its cmid, 2. sync (section 9).
    for (const p of this.queue.values()) {
      p.rid = 0;
      p.retryAt = 0;
    }
    this.flush();
    let after: string;
    if (this.highest !== "0") after = syncStart(this.highest, this.o.syncOverlapMs);
    else after = h.resume || "0";
    this.syncPages = 0;
    this.syncMessages = 0;
    this.sync(after);
    this.emit("open", h);
  }

  private sync(after: string): void {
    this.syncRid = this.rid();
    const f: Frame = { t: "sync", rid: this.syncRid, limit: this.o.syncLimit ?? this.limits.max_sync_limit };
    if (after !== "0") f.after = after;
    this.write(f);
  }

  private onSyncRes(f: Frame): void {
    if (f.rid !== this.syncRid) return;
    const msgs = (f.msgs as Message[] | undefined) ?? [];
    this.syncPages++;
    for (const m of msgs) if (this.deliver(m)) this.syncMessages++;
    if (f.has_more) {
      this.sync(String(f.next ?? "0"));
      return;
    }
    this.syncRid = 0;
    this.emit("synced", { pages: this.syncPages, messages: this.syncMessages });
  }

  private onAck(f: Frame): void {
    const p = this.byRid.get(Number(f.rid));
    if (!p) return;
    this.byRid.delete(p.rid);
    this.queue.delete(p.cmid);
    const id = String(f.id);
    this.remember(id); // our own message comes back by sync: not twice
    p.resolve({ cmid: p.cmid, id, ts: Number(f.ts) || 0 });
  }

  private onErr(f: Frame): void {
    const code = Number(f.code) || 0;
    const msg = String(f.msg ?? "");
    const rid = Number(f.rid) || 0;
    if (rid !== 0 && rid === this.authRid && !this.hello) {
      // The close with the same status follows; remember why.
      this.kickCode = code;
      if (TOKEN_ERRORS.has(code)) this.tokenRejected = code === 4011 ? "expired" : "rejected";
      return;
    }
    if (rid !== 0 && rid === this.syncRid) {
      // 5003: the store was unreadable; try the same page again later.
      const after = this.highest === "0" ? "0" : syncStart(this.highest, this.o.syncOverlapMs);
      this.later(() => this._state === "open" && this.sync(after), this.backoffDelay(1));
      return;
    }
    const p = rid ? this.byRid.get(rid) : undefined;
    if (!p) return;
    this.byRid.delete(rid);
    p.rid = 0;
    if (RETRYABLE.has(code)) {
      p.retryAt = Date.now() + (code === 4029 ? 1000 : this.backoffDelay(1));
      this.later(() => this.flush(), p.retryAt - Date.now());
      return;
    }
    this.queue.delete(p.cmid);
    p.reject(new ChatError(code, msg));
  }

  private onClose(status: number, reason: string): void {
    const hadHello = this.hello !== null;
    const code = this.kickCode || status;
    this.detach();
    for (const p of this.queue.values()) p.rid = 0;
    this.byRid.clear();
    if (hadHello && Date.now() - this.openedAt >= this.o.stableAfterMs) this.attempt = 0;
    if (this.stopped) return;
    if (FINAL.has(code) || (code === 4010 && !this.tokenRejected)) {
      this.fail(new ChatError(code, `connection ended with ${code} (${reason || "final"}): not reconnecting`));
      return;
    }
    if (code === 4104) {
      // Server shutdown: at once, to another gateway.
      this.urlIndex++;
      this.scheduleReconnect(code, reason, false, Math.floor(this.o.random() * 1000));
      return;
    }
    if (this.tokenRejected) {
      // A fresh token may be all it takes: retry soon, on the same gateway.
      this.scheduleReconnect(code, reason, false, this.attempt === 0 ? 0 : undefined);
      return;
    }
    this.scheduleReconnect(code, reason, true);
  }

  private scheduleReconnect(code: number, reason: string, rotate: boolean, delay?: number): void {
    if (rotate) this.urlIndex++;
    const d = delay ?? this.backoffDelay(this.attempt);
    this.attempt++;
    const info: CloseInfo = { code, reason, willReconnect: true, delayMs: d };
    this.setState("reconnecting");
    this.emit("close", info);
    this.later(() => void this.dial(), d);
  }

  /** A random delay in [d/2, d], d doubling from initialDelayMs up to maxDelayMs. */
  private backoffDelay(attempt: number): number {
    const d = Math.min(this.o.maxDelayMs, this.o.initialDelayMs * 2 ** Math.min(attempt, 20));
    return Math.floor(d / 2 + this.o.random() * (d / 2));
  }

  private fail(err: ChatError): void {
    this.stop(err);
    this.emit("close", { code: err.code, reason: err.message, willReconnect: false, delayMs: 0 });
    this.emit("error", err);
  }

  private stop(err: ChatError): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.unwatchVisibility?.();
    this.unwatchVisibility = null;
    const pending = [...this.queue.values()];
    this.queue.clear();
    this.byRid.clear();
    for (const p of pending) p.reject(err);
    this.setState("closed");
  }

  private detach(): void {
    this.stopTimers();
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    const ws = this.ws;
    this.ws = null;
    this.hello = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      // Closing a connecting socket reports an error later; keep a handler
      // so that Node's ws does not treat it as unhandled.
      ws.onerror = () => {};
      if (ws.readyState === 0 || ws.readyState === 1) {
        try {
          ws.close(1000);
        } catch {
          /* already closing */
        }
      }
    }
  }

  private startTimers(heartbeatSec: number): void {
    this.stopTimers();
    const ms = heartbeatSec * 1000;
    this.heartbeat = setInterval(() => {
      if (Date.now() - this.lastRecv > 2 * ms) {
        // Half-open connection: nothing heard for two intervals.
        const ws = this.ws;
        this.detach();
        if (ws) this.onCloseDetached(4106, "no frame from the server for two heartbeat intervals");
        return;
      }
      this.write({ t: "ping", rid: this.rid() });
    }, ms / 2);
    this.dackTimer = setInterval(() => this.sendDack(), this.o.dackIntervalMs);
  }

  private onCloseDetached(code: number, reason: string): void {
    this.kickCode = 0;
    this.hello = null;
    for (const p of this.queue.values()) p.rid = 0;
    this.byRid.clear();
    if (!this.stopped) this.scheduleReconnect(code, reason, true);
  }

  private stopTimers(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.dackTimer) clearInterval(this.dackTimer);
    this.heartbeat = this.dackTimer = null;
  }

  private later(fn: () => void, ms: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, Math.max(0, ms));
    this.timers.add(t);
  }

  private setState(s: ConnectionState): void {
    if (this._state === s) return;
    this._state = s;
    this.emit("state", s);
  }

  // --- frames -------------------------------------------------------------

  private rid(): number {
    this.nextRid = this.nextRid >= 0xffffffff ? 1 : this.nextRid + 1;
    return this.nextRid;
  }

  private write(f: Frame): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1 || !this.hello) return false;
    ws.send(JSON.stringify(f));
    return true;
  }

  /** Sends queued messages, pacing them under the server's frame rate. */
  private flush(): void {
    if (this._state !== "open" || !this.hello || this.flushTimer) return;
    const now = Date.now();
    // Keep a margin below the server's bucket for pings, syncs and dacks.
    const rate = Math.max(1, this.limits.frames_per_second * 0.8);
    const burst = Math.max(1, this.limits.frame_burst * 0.8);
    this.bucket = Math.min(burst, this.bucket + ((now - this.bucketAt) / 1000) * rate);
    this.bucketAt = now;
    let wait = Infinity;
    for (const p of this.queue.values()) {
      if (p.rid !== 0) continue;
      if (p.retryAt > now) {
        wait = Math.min(wait, p.retryAt - now);
        continue;
      }
      if (this.bucket < 1) {
        wait = Math.min(wait, ((1 - this.bucket) / rate) * 1000);
        break;
      }
      p.rid = this.rid();
      this.byRid.set(p.rid, p);
      if (!this.write({ ...p.frame, rid: p.rid })) {
        this.byRid.delete(p.rid);
        p.rid = 0;
        return;
      }
      this.bucket--;
    }
    if (wait !== Infinity) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = null;
        this.flush();
      }, Math.ceil(wait));
    }
  }

  private sendDack(): void {
    if (compareIds(this.processed, this.dacked) > 0 && this.write({ t: "dack", id: this.processed })) {
      this.dacked = this.processed;
    }
  }

  private check(f: Frame, msg: OutgoingMessage): ChatError | null {
    const bytes = (s: string | undefined) => (s ? utf8.encode(s).length : 0);
    if (!!msg.toUser === !!msg.toGroup) return new ChatError(4002, "exactly one of toUser and toGroup is required");
    if (bytes(f.cmid as string) > this.limits.max_cmid_bytes || /[:\0]/.test(f.cmid as string)) {
      return new ChatError(4003, `cmid must be 1-${this.limits.max_cmid_bytes} bytes without ':'`);
    }
    if (!msg.content && f.type !== "command") return new ChatError(4002, "content is required");
    if (bytes(msg.content) > this.limits.max_content_bytes) {
      return new ChatError(4003, `content is over ${this.limits.max_content_bytes} bytes`);
    }
    if (bytes(msg.ext) > this.limits.max_ext_bytes) return new ChatError(4003, `ext is over ${this.limits.max_ext_bytes} bytes`);
    return null;
  }

  private newCmid(): string {
    return this.cmidPrefix + (++this.cmidSeq).toString(36);
  }

  // --- receiving ----------------------------------------------------------

  /** Returns whether the message was new and handed to the application. */
  private deliver(m: Message): boolean {
    if (!m || typeof m.id !== "string" || m.id === "" || m.id === "0") return false;
    this.highest = maxId(this.highest, m.id);
    if (this.seen.has(m.id)) return false;
    this.remember(m.id);
    // Absent members are zero (section 3).
    const full: Message = { ...m, from: m.from ?? 0, from_dev: m.from_dev ?? 0, content: m.content ?? "" };
    this.processed = maxId(this.processed, m.id);
    switch (m.type) {
      case "recall":
        this.emit("recall", full);
        break;
      case "read":
        this.emit("read", full);
        break;
      case "notice":
        this.emit("notice", full);
        break;
      case "text":
      case "image":
      case "audio":
      case "video":
      case "file":
      case "location":
      case "command":
      case "forward":
      case "custom":
        this.emit("message", full);
        break;
      default:
        this.emit("unknown", full);
    }
    return true;
  }

  private remember(id: string): void {
    this.seen.set(id, true);
    if (this.seen.size > this.o.dedupeSize) {
      const oldest = this.seen.keys().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
  }
}
