// The shapes of the contract under the names a client uses. Everything here is derived from the
// generated files, so a change to protocol/ shows up as a type error, not as a silent mismatch.
//
// One type per shape of a session. protocol/ describes the session twice, in openapi.yaml (REST)
// and in live.schema.json (the socket's frames), and each generator emits its own family. The
// client's types are the REST family's, and the compiler checks (`SocketShapesAreTheRestOnes`
// below) that every shape the socket's frames carry is the same type as its REST namesake: a
// snapshot's session is a `Session`, an event's message a `Message`, a pushed summary a `Summary`,
// with no cast, and a drift between the two schemas fails the type check here.
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
/** @deprecated The same type as {@link SessionUpdate} (the compiler checks it): use that. */
export type LiveSessionUpdate = SessionUpdate;
/** @deprecated The same type as {@link NewImage} (the compiler checks it): use that. */
export type LiveNewImage = NewImage;

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

/**
 * `true` when A and B are the same type: not merely assignable to each other (a property that
 * one has and the other lacks counts, even an optional one).
 */
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** Compiles only with `true`. */
type Check<T extends true> = T;

/**
 * The bridge between the two generated families: each shape of live.schema.json that a frame or
 * a command carries is the same type as the one of openapi.yaml the client uses. If this fails to
 * compile, the two schemas in protocol/ disagree on that shape: fix the schema, not this list.
 */
type SocketShapesAreTheRestOnes = [
  Check<Same<Live.Session, Session>>,
  Check<Same<Live.Message, Message>>,
  Check<Same<Live.Image, Image>>,
  Check<Same<Live.FlatImage, FlatImage>>,
  Check<Same<Live.Status, Status>>,
  Check<Same<Live.Summary, Summary>>,
  Check<Same<Live.SummaryImage, SummaryImage>>,
  Check<Same<Live.NewImage, NewImage>>,
  Check<Same<Live.SessionUpdate, SessionUpdate>>,
];
