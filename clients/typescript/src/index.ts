// The TypeScript client of livechat-sessions: a REST client for every route of
// protocol/openapi.yaml, a live session over the WebSocket of protocol/README.md, and the user's
// live list of sessions over the user socket.
export { LiveChatClient, type ClientOptions, type ListOptions, type SummaryListOptions } from "./rest.js";
export {
  LiveSession,
  messageIds,
  randomId,
  type LiveEvents,
  type LiveOptions,
  type LiveState,
  type StateChange,
  type Transport,
  type WebSocketConstructor,
  type WebSocketLike,
} from "./live.js";
export { LiveSessions, type LiveSessionsEvents, type LiveSessionsOptions } from "./live-list.js";
export { FALLBACK_AFTER, type SocketOptions } from "./socket.js";
export { CloseCode, MAX_AUTH_FAILURES, closeAction, closeCodes, isCloseCode, type CloseAction, type CloseCodeInfo } from "./close.js";
export { ApiError, LiveError } from "./errors.js";
export { applyEvent } from "./apply.js";
export type * from "./types.js";
