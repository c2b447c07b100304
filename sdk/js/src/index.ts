/**
 * @chatgate/client: the JavaScript/TypeScript SDK of chatgate, for
 * browsers and Node. ChatClient speaks protocol v1 (protocol/PROTOCOL.md);
 * RestClient calls the user-facing REST operations a chat UI needs.
 */
export { ChatClient, SUBPROTOCOL } from "./client.js";
export type { ClientOptions, SocketFactory, SocketLike, TokenReason } from "./client.js";
export { RestClient } from "./rest.js";
export type { HistoryMessage, HistoryPage, RecentConversation, RestOptions, TokenResult } from "./rest.js";
export { compareIds, idTime, maxId, parseJSONLossless, syncStart, ID_EPOCH_MS } from "./ids.js";
export { ChatError } from "./types.js";
export type {
  Ack,
  ClientEvents,
  CloseInfo,
  ConnectionState,
  Frame,
  Hello,
  Kick,
  Limits,
  Message,
  Notice,
  OutgoingMessage,
} from "./types.js";
