// The TypeScript client of livechat-sessions: a REST client for every route of
// protocol/openapi.yaml and a live session over the WebSocket of protocol/README.md.
export { LiveChatClient, type ClientOptions, type ListOptions } from "./rest.js";
export {
  LiveSession,
  randomId,
  type LiveEvents,
  type LiveOptions,
  type LiveState,
  type StateChange,
  type WebSocketConstructor,
  type WebSocketLike,
} from "./live.js";
export { ApiError, LiveError } from "./errors.js";
export { applyEvent } from "./apply.js";
export type * from "./types.js";
