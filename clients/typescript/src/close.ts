// The close codes of a live socket (protocol/README.md, "Close codes"), in one place: what each
// means, and whether the client reconnects after it or stops for good. The socket lifecycle
// (socket.ts) decides from this table; an application may use it to explain a `state` change,
// e.g. `closeCodes[change.code]?.meaning`.
//
// The same codes close a session's socket and the user's list socket (4004 never closes the
// latter). A code the table does not know is treated as a dropped connection: reconnect.

/** What the client does after a socket closes: open a new one after a backoff, or stop for good. */
export type CloseAction = "reconnect" | "stop";

/** The close codes by name. */
export const CloseCode = {
  /** A normal closure; also what the client sends on `close()` (which stops it). */
  Normal: 1000,
  /** The server is shutting down. */
  GoingAway: 1001,
  /** No close frame: the connection dropped (reported by the WebSocket library, never sent). */
  Abnormal: 1006,
  /** A frame exceeded the server's inbound size limit. */
  MessageTooBig: 1009,
  /** The server had to reload the session's state, or could not fetch the token's signing keys yet. */
  InternalError: 1011,
  /** The client's own: it dropped a socket it no longer trusts (a gap, a silent peer). Never sent by the server. */
  ClientReconnect: 4000,
  /** Unauthenticated: a bad or missing token, no `auth` in time, or the token expired. */
  Unauthenticated: 4001,
  /** The session does not exist, was deleted, or is not the caller's. */
  NotFound: 4004,
  /** Slow consumer: the socket's outbound queue overflowed. */
  SlowConsumer: 4008,
  /** Protocol error: an invalid `sinceSeq`, or 5 invalid frames in a row. */
  ProtocolError: 4009,
  /** The user has as many sockets open as one user may. */
  TooManySockets: 4029,
} as const;

export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** After this many 4001 closes in a row without a successful `auth`, the client stops: the user must sign in. */
export const MAX_AUTH_FAILURES = 3;

export interface CloseCodeInfo {
  /** Its name in {@link CloseCode}. */
  readonly name: keyof typeof CloseCode;
  /** What it means, for a person (a log line, a notice). */
  readonly meaning: string;
  /** What the client does after it. */
  readonly action: CloseAction;
}

/** Every close code: its name, its meaning, and whether the client reconnects or stops. */
export const closeCodes: { readonly [C in CloseCode]: CloseCodeInfo } = {
  1000: {
    name: "Normal",
    action: "reconnect",
    meaning: "normal closure, or the peer was silent for 60 s (the client's own close() stops it)",
  },
  1001: { name: "GoingAway", action: "reconnect", meaning: "the server is shutting down" },
  1006: { name: "Abnormal", action: "reconnect", meaning: "the connection dropped without a close frame" },
  1009: {
    name: "MessageTooBig",
    action: "stop",
    meaning: "a frame exceeded the inbound size limit (a client bug: use REST for large messages)",
  },
  1011: {
    name: "InternalError",
    action: "reconnect",
    meaning: "the session's state had to be reloaded on the server, or the token's signing keys could not be fetched yet",
  },
  4000: {
    name: "ClientReconnect",
    action: "reconnect",
    meaning: "the client dropped a socket it no longer trusts (a gap, a silent peer)",
  },
  4001: {
    name: "Unauthenticated",
    action: "reconnect",
    meaning:
      `unauthenticated: bad or missing token, no auth in time, or the token expired (the client reconnects with a fresh token, and stops after ${MAX_AUTH_FAILURES} in a row: the user must sign in)`,
  },
  4004: { name: "NotFound", action: "stop", meaning: "the session does not exist, was deleted, or is not the caller's" },
  4008: { name: "SlowConsumer", action: "reconnect", meaning: "slow consumer: the socket's outbound queue overflowed" },
  4009: {
    name: "ProtocolError",
    action: "stop",
    meaning: "protocol error: an invalid sinceSeq, or 5 invalid frames in a row (a client bug)",
  },
  4029: {
    name: "TooManySockets",
    action: "reconnect",
    meaning: "the user has as many sockets open as one user may",
  },
};

/** Whether `code` is one of the {@link closeCodes}. */
export function isCloseCode(code: number): code is CloseCode {
  return Object.hasOwn(closeCodes, code);
}

/** What the client does after a close with `code`: a code it does not know is a dropped connection. */
export function closeAction(code: number): CloseAction {
  return isCloseCode(code) ? closeCodes[code].action : "reconnect";
}
