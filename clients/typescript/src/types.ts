// The shapes of the contract under the names a client uses. Everything here is derived from the
// generated files, so a change to protocol/ shows up as a type error, not as a silent mismatch.
import type { components } from "./generated/rest.js";
import type * as Live from "./generated/live.js";

type Schemas = components["schemas"];

export type Session = Schemas["Session"];
export type Message = Schemas["Message"];
export type Image = Schemas["Image"];
export type FlatImage = Schemas["FlatImage"];
export type Status = Schemas["Status"];
export type NewSession = Schemas["NewSession"];
export type NewMessage = Schemas["NewMessage"];
export type NewImage = Schemas["NewImage"];
export type SessionUpdate = Schemas["SessionUpdate"];
export type Completion = Schemas["Completion"];
/** The `data` of an error envelope: a machine `code` and its details (`field`, …). */
export type ErrorData = Schemas["Error"]["data"];

export type Created = Schemas["CreatedEnvelope"]["data"];
export type FoundOrCreated = Schemas["FindOrCreateEnvelope"]["data"];
export type Appended = Schemas["AppendedEnvelope"]["data"];
export type SessionPage = Schemas["SessionListEnvelope"]["data"];
export type SeqResult = Schemas["SeqEnvelope"]["data"];

/** Any frame the server sends on a socket. */
export type ServerFrame = Live.ServerFrame;
/** Any command a client sends on a socket. */
export type ClientFrame = Live.ClientFrame;
export type ReplyError = Live.ReplyError;
export type ReplyErrorCode = Live.Error["code"];
export type Snapshot = Live.Snapshot;
export type MessageAdded = Live.MessageAdded;
export type ImageAdded = Live.ImageAdded;
export type SessionUpdated = Live.SessionUpdated;
export type SessionDeleted = Live.SessionDeleted;
export type Presence = Live.Presence;
export type Resumed = Live.Resumed;
export type AuthResult = Live.AuthResult;
export type MessageAddResult = Live.MessageAddResult;
export type ImageAddResult = Live.ImageAddResult;
export type LiveSeqResult = Live.SeqResult;
export type LiveSessionUpdate = Live.SessionUpdate;
export type LiveNewImage = Live.NewImage;

/** What a history list shows of a session: the session without its messages and image lists, plus its last images. */
export type Summary = Schemas["SessionSummary"];
export type SummaryImage = Schemas["SummaryImage"];
export type SummaryPage = Schemas["SessionSummaryListEnvelope"]["data"];
export type SignalSent = Schemas["SignalEnvelope"]["data"];
export type Signal = Live.Signal;
/** The user socket's first push on every attach: the first page of the list. */
export type SessionsFrame = Live.Sessions;
export type SessionChanged = Live.SessionChanged;
export type SessionRemoved = Live.SessionRemoved;
/** Any frame the server sends on the user's socket (`GET /live`). */
export type UserServerFrame = Extract<ServerFrame, { type: "reply" | "sessions" | "session.changed" | "session.removed" }>;

/** A pushed change to the session: each carries the `seq` it gave the session. */
export type SessionEvent = MessageAdded | ImageAdded | SessionUpdated | SessionDeleted;

/**
 * Where the client gets a token: called before the first request, again with `forceRefresh`
 * when the server refuses the token it has, and before a socket's token expires. With Firebase
 * Authentication: `({ forceRefresh }) => auth.currentUser!.getIdToken(forceRefresh)`.
 */
export type TokenSource = (options: { forceRefresh: boolean }) => string | Promise<string>;
