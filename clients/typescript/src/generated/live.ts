// Generated from protocol/live.schema.json by scripts/generate.js: do not edit by hand.

/**
 * Any frame the server sends: a reply to a command (carries the command's id) or a push (carries no id).
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "ServerFrame".
 */
export type ServerFrame =
  | ReplyOk
  | ReplyError
  | Snapshot
  | MessageAdded
  | ImageAdded
  | SessionUpdated
  | SessionDeleted
  | Resumed
  | Presence
  | Signal
  | Sessions
  | SessionChanged
  | SessionRemoved;
/**
 * Chosen by the client (a counter is simplest); the reply carries it back unchanged.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "CommandId".
 */
export type CommandId = number;
/**
 * RFC 3339 UTC with milliseconds, as the server writes every timestamp.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "Timestamp".
 */
export type Timestamp = string;
/**
 * An image's session-wide position (1, 2, 3, ...).
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "Order".
 */
export type Order = number;
/**
 * The session's change counter: 0 for a new session, plus exactly one per change.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "Seq".
 */
export type Seq = number;
/**
 * Why a command failed. retryable is true for rate_limited and unavailable (the command was not applied; the same command may succeed later) and false otherwise. field names the offending field of an invalid_argument.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "Error".
 */
export type Error = {
  code:
    | "invalid_frame"
    | "unknown_command"
    | "invalid_argument"
    | "unauthenticated"
    | "not_found"
    | "conflict"
    | "session_full"
    | "rate_limited"
    | "unavailable";
  /**
   * What is wrong, for a person.
   */
  message: string;
  retryable: boolean;
  /**
   * The offending field (prompt, images[2].url, messageId, ...).
   */
  field?: string;
};
/**
 * A session's status.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "Status".
 */
export type Status = "active" | "completed" | "failed";
/**
 * Any command a client sends. Each carries a client-chosen integer id, echoed in its one reply. Unknown fields are ignored.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "ClientFrame".
 */
export type ClientFrame =
  | AuthCommand
  | MessageAddCommand
  | ImageAddCommand
  | SessionCompleteCommand
  | SessionUpdateCommand
  | SignalCommand
  | PingCommand;
/**
 * Optional on any command: the caller's W3C trace context (https://www.w3.org/TR/trace-context/#traceparent-header). When the server exports traces, the work a write or a signal does continues that trace; a malformed value is ignored.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "Traceparent".
 */
export type Traceparent = string;
/**
 * A timestamp sent by a client: any RFC 3339 timestamp (null or absent: the server's choice, usually now).
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "InputTimestamp".
 */
export type InputTimestamp = string | null;

/**
 * Every JSON text frame of the WebSockets at GET /api/live-chat-sessions/{sessionDocId}/live (a session socket) and GET /api/live-chat-sessions/live (a user socket: the user's list). Validate a frame the server sends against #/$defs/ServerFrame and a frame a client sends against #/$defs/ClientFrame. README.md beside this file describes the protocol in prose, including which frames each kind of socket carries.
 */
export interface LivechatSessionsLiveProtocol {
  [k: string]: unknown;
}
/**
 * The success reply to the command with this id.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "ReplyOk".
 */
export interface ReplyOk {
  id: CommandId;
  type: "reply";
  ok: true;
  result: AuthResult | MessageAddResult | ImageAddResult | SeqResult | PingResult;
}
/**
 * Result of auth: the socket's uid and when its token expires (refresh before then).
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "AuthResult".
 */
export interface AuthResult {
  uid: string;
  expiresAt: Timestamp;
}
/**
 * Result of message.add: the message's id, its images' orders, and the session's seq after the commit (the current seq for a retry).
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "MessageAddResult".
 */
export interface MessageAddResult {
  messageId: string;
  orders: Order[];
  seq: Seq;
}
/**
 * Result of image.add: the image's order and the session's seq.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "ImageAddResult".
 */
export interface ImageAddResult {
  order: Order;
  seq: Seq;
}
/**
 * Result of session.complete and session.update: the session's seq (unchanged when the command changed nothing). Result of signal: the session's seq when the signal was sent (a signal never changes it).
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "SeqResult".
 */
export interface SeqResult {
  seq: Seq;
}
/**
 * Result of ping: empty.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "PingResult".
 */
export interface PingResult {}
/**
 * The error reply to the command with this id. id is null only when the frame it answers had no readable id.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "ReplyError".
 */
export interface ReplyError {
  id: CommandId | null;
  type: "reply";
  ok: false;
  error: Error;
}
/**
 * The whole session at seq; replaces whatever the client held. Every later event has a greater seq.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "Snapshot".
 */
export interface Snapshot {
  type: "snapshot";
  seq: Seq;
  session: Session;
}
/**
 * A session as the REST API returns it. `completedAt` is present only when set (never null).
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "Session".
 */
export interface Session {
  /**
   * The server-generated document id (sessionDocId).
   */
  id: string;
  /**
   * The client-chosen id, unique per user.
   */
  sessionId: string;
  /**
   * The owner's uid.
   */
  uid: string;
  model: string;
  frameSize: string | null;
  style: string | null;
  status: Status;
  startedAt: Timestamp;
  completedAt?: Timestamp;
  createdAt: Timestamp;
  updatedAt: Timestamp;
  /**
   * In the order they were added.
   */
  messages: Message[];
  /**
   * Every image of the session, sorted by order.
   */
  images: FlatImage[];
  /**
   * Every image's url, in order.
   */
  imageUrls: string[];
  /**
   * Each image's url -> its order.
   */
  imageOrderMap: {
    [k: string]: Order;
  };
  totalImages: number;
  seq: Seq;
}
/**
 * A prompt and the images generated for it, sorted by order.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "Message".
 */
export interface Message {
  /**
   * The message's id (the client's messageId, or generated).
   */
  id: string;
  prompt: string;
  timestamp: Timestamp;
  images: Image[];
}
/**
 * One generated image; order is its session-wide position.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "Image".
 */
export interface Image {
  /**
   * The client's image id, or generated.
   */
  id: string;
  url: string;
  storagePath: string | null;
  originalUrl: string | null;
  firebaseUrl: string | null;
  order: Order;
}
/**
 * An item of Session.images: an Image plus its message's prompt, timestamp and id.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "FlatImage".
 */
export interface FlatImage {
  id: string;
  url: string;
  storagePath: string | null;
  originalUrl: string | null;
  firebaseUrl: string | null;
  order: Order;
  /**
   * The prompt of the image's message.
   */
  prompt: string;
  timestamp: Timestamp;
  /**
   * The id of the image's message.
   */
  messageId: string;
}
/**
 * A message was appended (with the images it added). On a completed or failed session this also made it active and cleared completedAt.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "MessageAdded".
 */
export interface MessageAdded {
  type: "message.added";
  seq: Seq;
  message: Message;
}
/**
 * One image was added to an existing message. On a completed or failed session this also made it active and cleared completedAt.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "ImageAdded".
 */
export interface ImageAdded {
  type: "image.added";
  seq: Seq;
  messageId: string;
  image: Image;
}
/**
 * Session fields changed (completion or an update); changes holds only the fields that changed.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "SessionUpdated".
 */
export interface SessionUpdated {
  type: "session.updated";
  seq: Seq;
  changes: SessionChanges;
}
/**
 * The fields a change set, with their new values; completedAt, frameSize and style are null when cleared.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "SessionChanges".
 */
export interface SessionChanges {
  status?: Status;
  completedAt?: Timestamp | null;
  model?: string;
  frameSize?: string | null;
  style?: string | null;
}
/**
 * The session was deleted; the server then closes the socket with 4004.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "SessionDeleted".
 */
export interface SessionDeleted {
  type: "session.deleted";
  seq: Seq;
}
/**
 * Ends a replay: the client is now up to date at seq, and live events follow.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "Resumed".
 */
export interface Resumed {
  type: "resumed";
  seq: Seq;
}
/**
 * How many sockets are attached to the session; sent whenever one attaches or leaves. Not sequenced.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "Presence".
 */
export interface Presence {
  type: "presence";
  connections: number;
}
/**
 * An ephemeral message sent to the session by another socket (signal command) or over REST (POST /{id}/signals); data is the sender's, unchanged (any JSON value). Session sockets only. Not an event: not stored, not replayed on resume, outside the seq order, delivered at most once, never echoed to its sender.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "Signal".
 */
export interface Signal {
  type: "signal";
  /**
   * Who sent it: the sending socket's connection id (an opaque string), or "rest" for POST /{id}/signals.
   */
  from: string;
  /**
   * The session's change counter: 0 for a new session, plus exactly one per change.
   */
  seq: number;
  data: unknown;
}
/**
 * User socket only: its first push on every attach (reconnects included). The first page of the user's list as summaries, updatedAt descending (ties broken by id), the page GET /api/live-chat-sessions?view=summary answers with the socket's status and limit. Replaces whatever list the client held. nextCursor is present only when more sessions remain.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "Sessions".
 */
export interface Sessions {
  type: "sessions";
  /**
   * @maxItems 100
   */
  sessions: Summary[];
  /**
   * Opaque; pass it as cursor to GET /api/live-chat-sessions?view=summary for the next page.
   */
  nextCursor?: string;
}
/**
 * What a list shows of a session: the Session without messages, images, imageUrls and imageOrderMap, plus lastImages. The user socket pushes summaries; GET /api/live-chat-sessions?view=summary lists them. `completedAt` is present only when set (never null).
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "Summary".
 */
export interface Summary {
  /**
   * The server-generated document id (sessionDocId).
   */
  id: string;
  /**
   * The client-chosen id, unique per user.
   */
  sessionId: string;
  /**
   * The owner's uid.
   */
  uid: string;
  model: string;
  frameSize: string | null;
  style: string | null;
  status: Status;
  startedAt: Timestamp;
  completedAt?: Timestamp;
  createdAt: Timestamp;
  updatedAt: Timestamp;
  totalImages: number;
  seq: Seq;
  /**
   * The session's last images, at most 6 (all of them when it has fewer), sorted by order: the newest is last.
   */
  lastImages: SummaryImage[];
}
/**
 * An item of Summary.lastImages: an image's url and order, and the id of its message.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "SummaryImage".
 */
export interface SummaryImage {
  url: string;
  order: Order;
  /**
   * The id of the image's message.
   */
  messageId: string;
}
/**
 * User socket only: one of the user's sessions was created or changed; session is its summary as of seq (seq 0: just created). Per session, seq only grows on a socket; summaries in between may be skipped.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "SessionChanged".
 */
export interface SessionChanged {
  type: "session.changed";
  /**
   * The session's document id (sessionDocId), as in session.id.
   */
  id: string;
  seq: Seq;
  session: Summary;
}
/**
 * User socket only: the session left the list, because it was deleted (seq: one past its last event) or, on a socket with a status filter, because it no longer has that status (seq: the change that made it leave).
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "SessionRemoved".
 */
export interface SessionRemoved {
  type: "session.removed";
  /**
   * The session's document id (sessionDocId).
   */
  id: string;
  seq: Seq;
}
/**
 * Authenticates the socket (as its first frame, when the upgrade request had no Authorization header) or replaces its token with a fresh one for the same user. Result: AuthResult.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "AuthCommand".
 */
export interface AuthCommand {
  id: CommandId;
  traceparent?: Traceparent;
  type: "auth";
  /**
   * A JWT, without the Bearer prefix.
   */
  token: string;
}
/**
 * Appends a message with its images, like POST /{id}/messages. Result: MessageAddResult.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "MessageAddCommand".
 */
export interface MessageAddCommand {
  id: CommandId;
  traceparent?: Traceparent;
  type: "message.add";
  /**
   * May be empty; not null.
   */
  prompt: string;
  /**
   * May be empty.
   *
   * @maxItems 64
   */
  images: NewImage[];
  /**
   * Idempotency key (generated if absent, as the session's id, -m and the message's seq): a second message.add with the same messageId changes nothing and answers what the first did.
   */
  messageId?: string | null;
  timestamp?: InputTimestamp;
}
/**
 * One image of a new message. An image whose id or url is already in the session is not added again. storagePath, originalUrl and firebaseUrl that are null or "" are stored as null; when given, originalUrl and firebaseUrl must be absolute URLs.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "NewImage".
 */
export interface NewImage {
  /**
   * An absolute URL, without whitespace.
   */
  url: string;
  /**
   * Generated if absent, as the session's id, -i and the image's order. Non-empty, no control characters.
   */
  id?: string | null;
  storagePath?: string | null;
  originalUrl?: string | null;
  firebaseUrl?: string | null;
}
/**
 * Adds one image to an existing message of the session. Result: ImageAddResult.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "ImageAddCommand".
 */
export interface ImageAddCommand {
  id: CommandId;
  traceparent?: Traceparent;
  type: "image.add";
  /**
   * The id of a message already in the session.
   */
  messageId: string;
  image: NewImage;
}
/**
 * Marks the session completed, like PATCH /{id}/complete. Result: SeqResult.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "SessionCompleteCommand".
 */
export interface SessionCompleteCommand {
  id: CommandId;
  traceparent?: Traceparent;
  type: "session.complete";
  completedAt?: InputTimestamp;
}
/**
 * Changes whitelisted session fields, like PATCH /{id}. Result: SeqResult.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "SessionUpdateCommand".
 */
export interface SessionUpdateCommand {
  id: CommandId;
  traceparent?: Traceparent;
  type: "session.update";
  changes: SessionUpdate;
}
/**
 * Only these fields; any other is invalid_argument naming it. status and model cannot be null; frameSize and style are cleared by null or "". status active clears completedAt; completed without completedAt keeps the existing one or sets now.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "SessionUpdate".
 */
export interface SessionUpdate {
  status?: Status;
  /**
   * Any RFC 3339 timestamp, or null to clear (not allowed with completed).
   */
  completedAt?: string | null;
  model?: string;
  frameSize?: string | null;
  style?: string | null;
}
/**
 * Session sockets only: sends data (any JSON value, at most 4,096 bytes in its compact JSON encoding by default, --max-signal-bytes; larger is invalid_argument with field data) to every other socket of the session, as a signal push. Nothing is stored and the session's seq does not change. Result: SeqResult (the session's seq when sent).
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "SignalCommand".
 */
export interface SignalCommand {
  id: CommandId;
  traceparent?: Traceparent;
  type: "signal";
  data: unknown;
}
/**
 * An application-level ping (for clients that cannot see WebSocket pings). Result: PingResult.
 *
 * This interface was referenced by `LivechatSessionsLiveProtocol`'s JSON-Schema
 * via the `definition` "PingCommand".
 */
export interface PingCommand {
  id: CommandId;
  traceparent?: Traceparent;
  type: "ping";
}
