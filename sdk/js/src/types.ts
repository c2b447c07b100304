/** Wire types of chatgate protocol v1 (protocol/PROTOCOL.md). Message ids are strings. */

/** A message object (PROTOCOL.md section 7). Absent members are zero. */
export interface Message {
  /** Server id: a decimal string, the key for de-duplication. */
  id: string;
  /** "u:<low>:<high>" for two users, "g:<group_id>" for a group. */
  conv: string;
  /** Sending user; 0 (absent on the wire) for the system sender. */
  from: number;
  /** Sending device; 0 for a message sent through the REST API. */
  from_dev: number;
  to_user?: number;
  to_group?: number;
  /** Content type ("text", "image", ...) or an event type ("recall", "read", "notice"). */
  type: string;
  content: string;
  ext?: string;
  attachment?: string;
  config?: string;
  cmid?: string;
  /** Server timestamp, ms since the epoch. */
  ts: number;
  /** Events: the message the event is about. */
  ref?: string;
  /** Notice events: the change (kinds are listed in PROTOCOL.md). */
  notice?: Notice;
}

/** The body of a notice event: a group or roster change. */
export interface Notice {
  kind: string;
  group?: number;
  actor?: number;
  users?: number[];
  data?: Record<string, string>;
}

/** Limits announced in hello (PROTOCOL.md section 12). */
export interface Limits {
  max_frame_bytes: number;
  max_content_bytes: number;
  max_ext_bytes: number;
  max_cmid_bytes: number;
  max_token_bytes: number;
  max_sync_limit: number;
  frames_per_second: number;
  frame_burst: number;
}

/** The body of the hello frame. */
export interface Hello {
  session: string;
  node: string;
  user_id: number;
  device_sn: number;
  heartbeat: number;
  resume: string;
  limits: Limits;
}

/** Any frame, client or server: a JSON object whose "t" names its type. */
export interface Frame {
  t: string;
  rid?: number;
  [member: string]: unknown;
}

/** What the application sends. Exactly one of toUser and toGroup. */
export interface OutgoingMessage {
  toUser?: number;
  toGroup?: number;
  /** Default "text". */
  type?: string;
  content?: string;
  ext?: string;
  /** Client message id; generated when absent. Reuse it to retry the same message. */
  cmid?: string;
}

/** The ack of a send: the message is durable. */
export interface Ack {
  cmid: string;
  id: string;
  ts: number;
}

/** Connection states the client moves through. */
export type ConnectionState = "idle" | "connecting" | "open" | "reconnecting" | "closed";

/** Why a connection ended, and what the client does next. */
export interface CloseInfo {
  /** WebSocket close status, or the kick/err code that ended it. */
  code: number;
  reason: string;
  /** The client reconnects after delayMs. */
  willReconnect: boolean;
  delayMs: number;
}

/** A kick frame (section 6.7). */
export interface Kick {
  code: number;
  reason: string;
}

/** Events the client emits, with their payloads. */
export interface ClientEvents {
  /** A chat message, live or synced, never twice for one id. */
  message: Message;
  /** A recall event: message `ref` was recalled. */
  recall: Message;
  /** A read receipt: `from` read `conv` up to `ref`. */
  read: Message;
  /** A group or roster notice (the message's `notice` member). */
  notice: Message;
  /** A message object of a type this SDK does not know (later events). */
  unknown: Message;
  /** hello: the connection is authenticated. */
  open: Hello;
  /** The connection ended. */
  close: CloseInfo;
  /** The server kicked this device (the close follows). */
  kick: Kick;
  /** Connection state changed. */
  state: ConnectionState;
  /** Catch-up after a hello finished (has_more false). */
  synced: { pages: number; messages: number };
  /** Something failed that is not tied to one send (e.g. a fatal auth error). */
  error: ChatError;
}

/** An error with a protocol code (section 13) or a local one (0). */
export class ChatError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.name = "ChatError";
    this.code = code;
  }
}
