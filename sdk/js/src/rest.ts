import { parseJSONLossless } from "./ids.js";
import { ChatError } from "./types.js";

/** A user token as /token/user and /token/id answer it. */
export interface TokenResult {
  token: string;
  user_id: number;
  /** Expiry, Unix ms. */
  expire: number;
}

/** One of the user's recent conversations (/message/unread). */
export interface RecentConversation {
  /** The other user, or the group. */
  id: number;
  group: boolean;
  /** Messages after the user's read mark. */
  unread: number;
  /** Time of the last message (ms). */
  ts: number;
}

/** A history message as /message/conversation answers it, with the id as a string. */
export interface HistoryMessage {
  msg_id: string;
  from: number;
  from_dev: number;
  to: number;
  ctype: string;
  content: string;
  ext: string;
  attachment: string;
  config: string;
  timestamp: number;
  /** UNREAD, READ or DELIVERED. */
  status: string;
}

export interface HistoryPage {
  messages: HistoryMessage[];
  /** Older messages exist: ask again with before = next. */
  more: boolean;
  next: string;
}

/** Options of a RestClient. */
export interface RestOptions {
  /** Base URL of the REST API, e.g. "http://127.0.0.1:8081". */
  baseUrl: string;
  appId: string;
  /** A user token; setToken changes it. */
  token?: string;
  /** fetch implementation (default globalThis.fetch). */
  fetch?: typeof fetch;
}

/**
 * RestClient calls the user-facing operations of chatgate's REST API
 * (docs/api/) that a chat UI needs. Message ids go out and come back as
 * strings: answers are parsed without rounding 63-bit numbers.
 */
export class RestClient {
  private token: string;
  private readonly f: typeof fetch;

  constructor(private readonly o: RestOptions) {
    this.token = o.token ?? "";
    const f = o.fetch ?? globalThis.fetch;
    if (!f) throw new ChatError(0, "no fetch implementation");
    this.f = f.bind(globalThis);
  }

  setToken(token: string): void {
    this.token = token;
  }

  /** POST /token/user: a user token for a username and password. Sets it on this client. */
  async login(username: string, password: string): Promise<TokenResult> {
    const t = (await this.call("POST", "/token/user", undefined, { name: username, password })) as TokenResult;
    this.token = t.token;
    return t;
  }

  /** GET /message/unread: the 100 most recent conversations with unread counts, newest first. */
  async recentConversations(): Promise<RecentConversation[]> {
    const items = (await this.call("GET", "/message/unread")) as Array<{
      conversation_id: { uid: number };
      num: number;
      type: number;
      timestamp: number;
    }>;
    return items.map((i) => ({ id: Number(i.conversation_id.uid), group: i.type === 2, unread: i.num, ts: i.timestamp }));
  }

  /** GET /message/conversation: a page of history, newest first, older than `before` ("0": the newest). */
  async history(peer: number, before = "0", limit = 20): Promise<HistoryPage> {
    const r = (await this.call("GET", "/message/conversation", { opposite_id: String(peer), msg_id_start: before, limit: String(limit) })) as {
      is_last: boolean;
      next_msg_id: string | number;
      messages: Array<Record<string, unknown> & { from_xid: { uid: number; device_sn: number }; to_xid: { uid: number } }>;
    };
    return {
      more: !r.is_last,
      next: String(r.next_msg_id ?? "0"),
      messages: (r.messages ?? []).map((m) => ({
        msg_id: String(m.msg_id),
        from: m.from_xid?.uid ?? 0,
        from_dev: m.from_xid?.device_sn ?? 0,
        to: m.to_xid?.uid ?? 0,
        ctype: String(m.ctype ?? ""),
        content: String(m.content ?? ""),
        ext: String(m.ext ?? ""),
        attachment: String(m.attachment ?? ""),
        config: String(m.config ?? ""),
        timestamp: Number(m.timestamp ?? 0),
        status: String(m.status ?? ""),
      })),
    };
  }

  /** POST /message/recall: recall a message of the conversation with peer. */
  async recall(peer: number, msgId: string): Promise<void> {
    await this.call("POST", "/message/recall", undefined, { conversation_id: peer, msg_id: msgId });
  }

  /** GET /message/ack: read receipt up to msgId; deviceSn's own device gets no read event. */
  async markRead(peer: number, msgId: string, deviceSn?: number): Promise<void> {
    const q: Record<string, string> = { conversation_id: String(peer), msg_id: msgId };
    if (deviceSn) q.device_sn = String(deviceSn);
    await this.call("GET", "/message/ack", q);
  }

  /** Calls an operation and returns its data; a code other than 200 throws a ChatError with that code. */
  async call(method: string, path: string, query?: Record<string, string>, body?: unknown): Promise<unknown> {
    let url = this.o.baseUrl.replace(/\/$/, "") + path;
    if (query) url += "?" + new URLSearchParams(query).toString();
    const headers: Record<string, string> = { app_id: this.o.appId };
    if (this.token) headers["access-token"] = this.token;
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await this.f(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let env: { code?: number; data?: unknown; message?: string };
    try {
      env = parseJSONLossless(text) as typeof env;
    } catch {
      throw new ChatError(res.status, `${method} ${path}: HTTP ${res.status}`);
    }
    if (env.code !== 200) throw new ChatError(Number(env.code) || res.status, env.message ?? `${method} ${path} failed`);
    return env.data;
  }
}
