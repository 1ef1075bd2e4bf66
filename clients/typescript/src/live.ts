// A live session: one WebSocket on `GET /{id}/live` (protocol/README.md), kept open across
// dropped connections, server restarts and token expiry, delivering every event of the session
// once and in `seq` order.
//
// The socket's lifecycle (authentication, token refresh, reconnects with a full-jitter backoff,
// close codes, commands and their replies, heartbeats) is the one every live stream shares, in
// socket.ts. What is particular to a session, from the protocol's "Writing a client":
// - reconnect with `sinceSeq` = the last `seq` delivered, so the server replays what was missed
//   or sends a snapshot;
// - deliver an event only if its `seq` is the next one; drop one already delivered; on a gap,
//   reconnect with `sinceSeq`;
// - every write carries what makes it safe to repeat after a dropped connection: message.add
//   its `messageId` (generated when absent), image.add its image (an image already in the
//   session is a retry), session.complete its `completedAt`. A signal is not repeated: it is
//   ephemeral, and delivered at most once.
import { applyEvent } from "./apply.js";
import { Emitter, LiveSocket, type LiveState, type RestBridge, type SocketOptions, type StateChange, type Transport, type WebSocketConstructor } from "./socket.js";
import type {
  ImageAddResult,
  LiveSeqResult,
  MessageAddResult,
  NewImage,
  ServerFrame,
  Session,
  SessionEvent,
  SessionUpdate,
} from "./types.js";

export type { LiveState, StateChange, Transport, WebSocketConstructor, WebSocketLike } from "./socket.js";

export interface LiveEvents {
  /** The whole session, replacing whatever was held (on a first attach, or when replay was impossible). */
  snapshot: { seq: number; session: Session };
  /** One change, in `seq` order, each delivered once. */
  event: SessionEvent;
  /** The held copy after a snapshot or an event. */
  session: Session;
  /** A reconnect replayed what was missed: the client is up to date at `seq`. */
  resumed: { seq: number; replayed: number };
  /** How many sockets (tabs, devices) are attached to the session. */
  presence: { connections: number };
  /**
   * An ephemeral message another socket of the session (or a backend, `from: "rest"`) sent: not
   * stored, not replayed after a reconnect, outside the `seq` order (`seq` is the session's when
   * it was sent).
   */
  signal: { from: string; seq: number; data: unknown };
  state: StateChange;
}

export interface LiveOptions extends SocketOptions {
  /** Resume from a copy already held (restored from storage, say) rather than a snapshot. */
  session?: Session;
}

interface SessionOptions extends LiveOptions {
  url: string;
  /** The session's event stream (`GET /{id}/events`), for the `sse` transport. */
  eventsUrl?: string;
  /** Where the event stream's commands go (REST); without it, only WebSockets are used. */
  rest?: RestBridge;
  /**
   * Reads the session over REST (revalidated: 304 when the copy the client holds is current), so
   * that a first attach without a held copy resumes from its `seq` rather than pulling the whole
   * session through the socket; when it fails, the socket's `snapshot` is the fallback.
   */
  load?: () => Promise<Session>;
  getToken: (forceRefresh: boolean) => Promise<string>;
  WebSocket: WebSocketConstructor | undefined;
}

export class LiveSession {
  readonly #socket: LiveSocket;
  readonly #url: string;
  readonly #eventsUrl: string | undefined;
  readonly #events = new Emitter<LiveEvents>();
  readonly #messageId = messageIds();
  #session: Session | undefined;
  /** The `seq` of the last snapshot or event delivered; `sinceSeq` of the next attach. */
  #seq: number | undefined;
  #replayed = 0;
  #presence = 0;
  #load: (() => Promise<Session>) | undefined;

  constructor(options: SessionOptions) {
    this.#url = options.url;
    this.#eventsUrl = options.eventsUrl;
    this.#socket = new LiveSocket(
      {
        name: "live session",
        url: (transport) => {
          const url = transport === "sse" && this.#eventsUrl !== undefined ? this.#eventsUrl : this.#url;
          return this.#seq === undefined ? url : `${url}?sinceSeq=${this.#seq}`;
        },
        rest: options.eventsUrl === undefined ? undefined : options.rest,
        getToken: options.getToken,
        receive: (frame) => this.#receive(frame as ServerFrame),
        state: (change) => this.#events.emit("state", change),
      },
      options,
      options.WebSocket,
    );
    if (options.session !== undefined) {
      this.#session = options.session;
      this.#seq = options.session.seq;
    }
    this.#load = options.load;
    if (!options.lazy) this.connect();
  }

  /** The session as of the last event delivered (undefined until the first snapshot). */
  get session(): Session | undefined {
    return this.#session;
  }

  /** The `seq` of the last event delivered. */
  get seq(): number | undefined {
    return this.#seq;
  }

  get state(): LiveState {
    return this.#socket.state;
  }

  /** How the session is followed: a WebSocket, or the event stream (`sse`) where WebSockets cannot go. */
  get transport(): Transport {
    return this.#socket.transport;
  }

  /** How many sockets the last `presence` counted (this one included). */
  get connections(): number {
    return this.#presence;
  }

  /** Subscribes to one kind of event; returns the unsubscribe. */
  on<K extends keyof LiveEvents>(type: K, listener: (value: LiveEvents[K]) => void): () => void {
    return this.#events.on(type, listener);
  }

  /**
   * Opens the socket (done by the constructor unless `lazy`). Without a copy held, the session is
   * first read over REST, then the socket attaches from its `seq`.
   */
  connect(): void {
    const load = this.#load;
    this.#load = undefined;
    if (load === undefined || this.#seq !== undefined) return this.#socket.connect();
    load().then(
      (session) => {
        if (this.#seq !== undefined || this.#socket.state === "closed") return;
        // Delivered as a snapshot: the whole session, replacing whatever was held.
        this.#session = session;
        this.#seq = session.seq;
        this.#events.emit("snapshot", { seq: session.seq, session });
        this.#events.emit("session", session);
      },
      () => {
        // Not read (offline, refused): the socket's snapshot brings it, or its close says why.
      },
    ).finally(() => this.#socket.connect());
  }

  /** Stops for good: closes the socket and fails the commands not yet answered. */
  close(): void {
    this.#socket.close();
  }

  /**
   * `message.add`. A `messageId` is generated when absent, so that the command can be sent again
   * after a dropped connection without adding the message twice.
   */
  addMessage(message: {
    prompt: string;
    images: NewImage[];
    messageId?: string;
    timestamp?: string;
  }): Promise<MessageAddResult> {
    return this.#socket.command({
      type: "message.add",
      ...message,
      messageId: message.messageId ?? this.#messageId(),
    }) as Promise<MessageAddResult>;
  }

  /** `image.add`: one more image for a message of the session (a retry of an image already there changes nothing). */
  addImage(messageId: string, image: NewImage): Promise<ImageAddResult> {
    return this.#socket.command({ type: "image.add", messageId, image }) as Promise<ImageAddResult>;
  }

  /** `session.complete`, at `completedAt` (default now: fixed when called, so a retry is the same). */
  complete(completedAt: string = new Date().toISOString()): Promise<LiveSeqResult> {
    return this.#socket.command({ type: "session.complete", completedAt }) as Promise<LiveSeqResult>;
  }

  /** `session.update`: only status, completedAt, model, frameSize and style. */
  update(changes: SessionUpdate): Promise<LiveSeqResult> {
    return this.#socket.command({ type: "session.update", changes }) as Promise<LiveSeqResult>;
  }

  /**
   * `signal`: `data` (any JSON value, at most 4 KiB encoded by default) to every other socket of
   * the session, as a `signal` event; resolves with the session's `seq` when it was sent. Made
   * while reconnecting, it waits for the next attach; one whose socket drops before its reply is
   * not sent again (it may have been delivered) and fails with a retryable `timeout`.
   */
  signal(data: unknown): Promise<LiveSeqResult> {
    return this.#socket.command({ type: "signal", data }, { once: true }) as Promise<LiveSeqResult>;
  }

  /** `ping`: a round trip to the server. */
  async ping(): Promise<void> {
    await this.#socket.command({ type: "ping" });
  }

  #receive(frame: ServerFrame): void {
    switch (frame.type) {
      case "snapshot": {
        const session: Session = frame.session;
        this.#session = session;
        this.#seq = frame.seq;
        this.#events.emit("snapshot", { seq: frame.seq, session });
        this.#events.emit("session", session);
        return this.#attach();
      }
      case "resumed":
        if (frame.seq !== this.#seq) {
          // The replay did not bring the client to where the server is: start over from a snapshot.
          this.#seq = undefined;
          return this.#socket.drop("the replay ended out of step");
        }
        this.#events.emit("resumed", { seq: frame.seq, replayed: this.#replayed });
        return this.#attach();
      case "presence":
        this.#presence = frame.connections;
        return this.#events.emit("presence", { connections: frame.connections });
      case "signal":
        return this.#events.emit("signal", { from: frame.from, seq: frame.seq, data: frame.data });
      case "message.added":
      case "image.added":
      case "session.updated":
      case "session.deleted":
        return this.#event(frame);
    }
  }

  #event(event: SessionEvent): void {
    if (this.#seq !== undefined && event.seq <= this.#seq) return; // delivered already
    if (this.#seq === undefined || this.#session === undefined || event.seq !== this.#seq + 1) {
      return this.#socket.drop(`gap: event ${event.seq} after ${this.#seq ?? "nothing"}`);
    }
    if (event.type === "session.deleted") {
      // The session is gone: nothing of it is kept (the close with CloseCode.NotFound, 4004, follows).
      this.#seq = event.seq;
      this.#session = undefined;
      return this.#events.emit("event", event);
    }
    if (event.type === "image.added" && !this.#session.messages.some((m) => m.id === event.messageId)) {
      // The copy lacks the message: it is not the server's; start again from a snapshot.
      this.#seq = undefined;
      return this.#socket.drop(`image.added for unknown message ${event.messageId}`);
    }
    this.#seq = event.seq;
    this.#session = applyEvent(this.#session, event);
    if (!this.#socket.attached) this.#replayed += 1;
    this.#events.emit("event", event);
    this.#events.emit("session", this.#session);
  }

  /** The socket is attached and up to date: commands may go. */
  #attach(): void {
    if (!this.#socket.attached) this.#replayed = 0;
    this.#socket.attach();
  }
}

/**
 * Message ids for one client: a random prefix of its own and a counter (`…-1`, `…-2`), as unique
 * as random ids and far cheaper to compress in a long session's answer, where each id appears
 * twice, too far apart for gzip to match a random one.
 */
export function messageIds(): () => string {
  const prefix = randomId();
  let count = 0;
  return () => `${prefix}-${++count}`;
}

/** A 20-character id (letters and digits). */
export function randomId(): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = crypto.getRandomValues(new Uint8Array(20));
  return Array.from(bytes, (byte) => alphabet[byte % alphabet.length]).join("");
}
