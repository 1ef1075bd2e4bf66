// A live session: one WebSocket on `GET /{id}/live` (protocol/README.md), kept open across
// dropped connections, server restarts and token expiry, delivering every event of the session
// once and in `seq` order.
//
// The rules it follows, from the protocol's "Writing a client":
// - authenticate with an `auth` frame (a browser cannot set headers on a socket), and send it
//   again with a fresh token before the last one expires; on 4001 get a fresh token and reconnect;
// - reconnect on every close but a stop (4004, 1009, 4009, or `close()`), after a full-jitter
//   backoff, with `sinceSeq` = the last `seq` delivered, so the server replays what was missed or
//   sends a snapshot;
// - deliver an event only if its `seq` is the next one; drop one already delivered; on a gap,
//   reconnect with `sinceSeq`;
// - send commands only once attached; a command without a reply when the socket drops is sent
//   again after the next attach. Every write carries what makes it safe to repeat: message.add
//   its `messageId` (generated when absent), image.add its image (an image already in the
//   session is a retry), session.complete its `completedAt`.
import { applyEvent } from "./apply.js";
import { LiveError } from "./errors.js";
import type {
  AuthResult,
  ImageAddResult,
  LiveNewImage,
  LiveSeqResult,
  LiveSessionUpdate,
  MessageAddResult,
  NewImage,
  ReplyError,
  ServerFrame,
  Session,
  SessionEvent,
} from "./types.js";

/** The part of the WHATWG WebSocket the client uses (browsers, Node.js, the `ws` package). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export type LiveState =
  /** Opening the socket and authenticating. */
  | "connecting"
  /** Attached: events flow, commands are sent. */
  | "live"
  /** The socket closed; another attempt follows after `retryInMs`. */
  | "reconnecting"
  /** Stopped for good: the session is gone or not the caller's, a client bug, or `close()`. */
  | "closed";

export interface StateChange {
  state: LiveState;
  /** The close code that caused the change, when a socket closed (1006: dropped without one). */
  code?: number;
  reason?: string;
  /** With `reconnecting`: when the next attempt starts. */
  retryInMs?: number;
  /** With `reconnecting`: how many attempts in a row have failed. */
  attempt?: number;
}

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
  state: StateChange;
}

export interface LiveOptions {
  /** Resume from a copy already held (restored from storage, say) rather than a snapshot. */
  session?: Session;
  /** How long a command may wait for its reply, across reconnects (default 15 s). */
  commandTimeoutMs?: number;
  /** The first reconnect waits up to this long; each failure doubles it (default 500 ms). */
  backoffMs?: number;
  /** The longest wait between reconnects (default 30 s). */
  maxBackoffMs?: number;
  /** Refresh the token this long before it expires (default 60 s, at most half its life). */
  refreshMarginMs?: number;
  /** Check that an idle socket is alive this often with a `ping` (default 25 s; 0: never). */
  heartbeatMs?: number;
  /** Start without calling {@link LiveSession.connect} (default: connect at once). */
  lazy?: boolean;
}

interface SessionOptions extends LiveOptions {
  url: string;
  getToken: (forceRefresh: boolean) => Promise<string>;
  WebSocket: WebSocketConstructor | undefined;
}

interface Command {
  id: number;
  frame: Record<string, unknown>;
  resolve: (result: unknown) => void;
  reject: (error: LiveError) => void;
  deadline: ReturnType<typeof setTimeout>;
  /** Sent on the current socket and waiting for its reply. */
  sent: boolean;
}

type Listener<K extends keyof LiveEvents> = (value: LiveEvents[K]) => void;

/** Close codes after which reconnecting cannot help. */
const STOP = new Set([4004, 1009, 4009]);
/** A socket attached for this long resets the backoff. */
const STABLE_MS = 10_000;
/** After this many 4001 closes in a row without a successful `auth`, stop: the user must sign in. */
const MAX_AUTH_FAILURES = 3;
/** `WebSocket.OPEN`. */
const OPEN = 1;
/** The close code the client uses to drop a socket it no longer trusts (a gap, a silent peer). */
const CLIENT_RECONNECT = 4000;

export class LiveSession {
  readonly #options: Required<Omit<SessionOptions, "session" | "WebSocket">>;
  readonly #WebSocket: WebSocketConstructor;
  readonly #listeners = new Map<keyof LiveEvents, Set<(value: never) => void>>();
  /** Commands not yet answered, in the order they were made (a Map keeps insertion order). */
  readonly #commands = new Map<number, Command>();
  #socket: WebSocketLike | undefined;
  #state: LiveState = "connecting";
  #session: Session | undefined;
  /** The `seq` of the last snapshot or event delivered; `sinceSeq` of the next attach. */
  #seq: number | undefined;
  #attached = false;
  #attachedAt = 0;
  #attempt = 0;
  #authFailures = 0;
  #forceRefresh = false;
  #nextId = 1;
  #replayed = 0;
  #presence = 0;
  #stopped = false;
  #authId: number | undefined;
  /** When the socket's token expires, from the last `auth` reply. */
  #expiresAt: number | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  #heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  #lastFrameAt = 0;
  readonly #onOnline = () => {
    if (this.#state === "reconnecting") this.#reconnectNow();
  };

  constructor(options: SessionOptions) {
    const WebSocket = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (WebSocket === undefined) {
      throw new TypeError("no WebSocket here: pass one in the client's options (Node.js 20: --experimental-websocket)");
    }
    this.#WebSocket = WebSocket;
    this.#options = {
      url: options.url,
      getToken: options.getToken,
      commandTimeoutMs: options.commandTimeoutMs ?? 15_000,
      backoffMs: options.backoffMs ?? 500,
      maxBackoffMs: options.maxBackoffMs ?? 30_000,
      refreshMarginMs: options.refreshMarginMs ?? 60_000,
      heartbeatMs: options.heartbeatMs ?? 25_000,
      lazy: options.lazy ?? false,
    };
    if (options.session !== undefined) {
      this.#session = options.session;
      this.#seq = options.session.seq;
    }
    globalThis.addEventListener?.("online", this.#onOnline);
    if (!this.#options.lazy) this.connect();
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
    return this.#state;
  }

  /** How many sockets the last `presence` counted (this one included). */
  get connections(): number {
    return this.#presence;
  }

  /** Subscribes to one kind of event; returns the unsubscribe. */
  on<K extends keyof LiveEvents>(type: K, listener: Listener<K>): () => void {
    let set = this.#listeners.get(type);
    if (set === undefined) this.#listeners.set(type, (set = new Set()));
    set.add(listener as (value: never) => void);
    return () => set.delete(listener as (value: never) => void);
  }

  /** Opens the socket (done by the constructor unless `lazy`). */
  connect(): void {
    if (this.#stopped || this.#socket !== undefined) return;
    clearTimeout(this.#retryTimer);
    this.#setState({ state: "connecting" });
    const url = this.#seq === undefined ? this.#options.url : `${this.#options.url}?sinceSeq=${this.#seq}`;
    let socket: WebSocketLike;
    try {
      socket = new this.#WebSocket(url);
    } catch (cause) {
      this.#stop(4009, `cannot open ${url}: ${String(cause)}`);
      return;
    }
    this.#socket = socket;
    socket.onopen = () => void this.#authenticate(socket);
    socket.onmessage = (message) => {
      if (this.#socket === socket) this.#receive(message.data);
    };
    socket.onclose = (close) => {
      if (this.#socket === socket) this.#closed(close.code, close.reason);
    };
    socket.onerror = () => {
      // On an open socket a close event follows with its code. A connection that could not be
      // made at all may end with the error alone (Node.js 20 sends no close event then).
      if (this.#socket === socket && socket.readyState !== OPEN) {
        this.#closed(1006, "cannot connect");
        try {
          socket.close();
        } catch {
          // Never opened.
        }
      }
    };
  }

  /** Stops for good: closes the socket and fails the commands not yet answered. */
  close(): void {
    this.#stop(1000, "closed by the client");
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
    return this.#command({
      type: "message.add",
      ...message,
      messageId: message.messageId ?? randomId(),
    }) as Promise<MessageAddResult>;
  }

  /** `image.add`: one more image for a message of the session (a retry of an image already there changes nothing). */
  addImage(messageId: string, image: LiveNewImage): Promise<ImageAddResult> {
    return this.#command({ type: "image.add", messageId, image }) as Promise<ImageAddResult>;
  }

  /** `session.complete`, at `completedAt` (default now: fixed when called, so a retry is the same). */
  complete(completedAt: string = new Date().toISOString()): Promise<LiveSeqResult> {
    return this.#command({ type: "session.complete", completedAt }) as Promise<LiveSeqResult>;
  }

  /** `session.update`: only status, completedAt, model, frameSize and style. */
  update(changes: LiveSessionUpdate): Promise<LiveSeqResult> {
    return this.#command({ type: "session.update", changes }) as Promise<LiveSeqResult>;
  }

  /** `ping`: a round trip to the server. */
  async ping(): Promise<void> {
    await this.#command({ type: "ping" });
  }

  #command(frame: Record<string, unknown>): Promise<unknown> {
    if (this.#stopped) return Promise.reject(new LiveError("the live session is closed", "closed"));
    return new Promise((resolve, reject) => {
      const id = this.#nextId++;
      const deadline = setTimeout(() => {
        this.#commands.delete(id);
        reject(new LiveError(`no reply to ${String(frame.type)} within ${this.#options.commandTimeoutMs} ms`, "timeout", true));
      }, this.#options.commandTimeoutMs);
      const command: Command = { id, frame: { id, ...frame }, resolve, reject, deadline, sent: false };
      this.#commands.set(id, command);
      if (this.#attached) this.#sendCommand(command);
    });
  }

  #sendCommand(command: Command): void {
    command.sent = true;
    this.#send(command.frame);
  }

  #send(frame: Record<string, unknown>): void {
    try {
      this.#socket?.send(JSON.stringify(frame));
    } catch {
      // The socket is closing; its close event brings the reconnect and the resend.
    }
  }

  async #authenticate(socket: WebSocketLike): Promise<void> {
    let token: string;
    try {
      token = await this.#options.getToken(this.#forceRefresh);
    } catch (cause) {
      // No token can be had (signed out, offline): counted as a refusal, so that it ends in
      // `closed` with 4001 (sign in again) rather than in reconnecting for ever.
      if (this.#socket !== socket) return;
      this.#closed(4001, `no token: ${String(cause)}`.slice(0, 120));
      try {
        socket.close(CLIENT_RECONNECT);
      } catch {
        // Already closing.
      }
      return;
    }
    if (this.#socket !== socket) return;
    this.#authId = this.#nextId++;
    this.#send({ id: this.#authId, type: "auth", token });
  }

  #receive(data: unknown): void {
    this.#lastFrameAt = Date.now();
    let frame: ServerFrame;
    try {
      frame = JSON.parse(String(data)) as ServerFrame;
    } catch {
      return;
    }
    switch (frame.type) {
      case "reply":
        return this.#reply(frame);
      case "snapshot": {
        const session = frame.session as unknown as Session;
        this.#session = session;
        this.#seq = frame.seq;
        this.#emit("snapshot", { seq: frame.seq, session });
        this.#emit("session", session);
        return this.#attach();
      }
      case "resumed":
        if (frame.seq !== this.#seq) {
          // The replay did not bring the client to where the server is: start over from a snapshot.
          this.#seq = undefined;
          return this.#drop("the replay ended out of step");
        }
        this.#emit("resumed", { seq: frame.seq, replayed: this.#replayed });
        return this.#attach();
      case "presence":
        this.#presence = frame.connections;
        return this.#emit("presence", { connections: frame.connections });
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
      return this.#drop(`gap: event ${event.seq} after ${this.#seq ?? "nothing"}`);
    }
    if (event.type === "session.deleted") {
      // The session is gone: nothing of it is kept (the 4004 close follows).
      this.#seq = event.seq;
      this.#session = undefined;
      return this.#emit("event", event);
    }
    if (event.type === "image.added" && !this.#session.messages.some((m) => m.id === event.messageId)) {
      // The copy lacks the message: it is not the server's; start again from a snapshot.
      this.#seq = undefined;
      return this.#drop(`image.added for unknown message ${event.messageId}`);
    }
    this.#seq = event.seq;
    this.#session = applyEvent(this.#session, event);
    if (!this.#attached) this.#replayed += 1;
    this.#emit("event", event);
    this.#emit("session", this.#session);
  }

  #reply(frame: Extract<ServerFrame, { type: "reply" }>): void {
    if (frame.id !== null && frame.id === this.#authId) return this.#authReply(frame);
    const command = frame.id === null ? undefined : this.#commands.get(frame.id);
    if (command === undefined) return;
    if (frame.ok) {
      this.#settle(command);
      return command.resolve(frame.result);
    }
    const error = (frame as ReplyError).error;
    if (error.retryable) {
      // Not applied (rate_limited, unavailable): send it again shortly, within its deadline.
      command.sent = false;
      setTimeout(() => {
        if (this.#commands.has(command.id) && this.#attached && !command.sent) this.#sendCommand(command);
      }, 250 + Math.random() * 750);
      return;
    }
    this.#settle(command);
    command.reject(new LiveError(error.message, error.code, false, error.field));
  }

  #authReply(frame: Extract<ServerFrame, { type: "reply" }>): void {
    this.#authId = undefined;
    if (!frame.ok) {
      // A refused refresh keeps the socket's current token; try again before it expires. (A refused
      // first auth is followed by a 4001 close.)
      if (this.#attached) this.#scheduleRefresh(5_000);
      return;
    }
    this.#authFailures = 0;
    this.#forceRefresh = false;
    const expiresAt = Date.parse((frame.result as AuthResult).expiresAt);
    const refreshed = this.#expiresAt === undefined || expiresAt > this.#expiresAt;
    this.#expiresAt = expiresAt;
    // A token that could not be renewed (the same one came back) is left to expire: the 4001
    // that follows brings a reconnect with a fresh one, rather than a stream of `auth` frames.
    if (!refreshed) return;
    const left = expiresAt - Date.now();
    this.#scheduleRefresh(Math.max(0, left - Math.min(this.#options.refreshMarginMs, left / 2)));
  }

  #scheduleRefresh(delayMs: number): void {
    clearTimeout(this.#refreshTimer);
    const socket = this.#socket;
    const current = () => !this.#stopped && socket !== undefined && this.#socket === socket;
    // Timers hold at most 2^31 - 1 ms; a longer wait would fire at once.
    this.#refreshTimer = setTimeout(async () => {
      let token: string;
      try {
        token = await this.#options.getToken(true);
      } catch {
        if (current()) this.#scheduleRefresh(5_000);
        return;
      }
      if (!current() || socket === undefined) return;
      this.#authId = this.#nextId++;
      this.#send({ id: this.#authId, type: "auth", token });
    }, Math.min(delayMs, 2 ** 31 - 1));
  }

  /** The socket is attached and up to date: commands may go. */
  #attach(): void {
    if (this.#attached || this.#stopped) return;
    this.#attached = true;
    this.#attachedAt = Date.now();
    this.#replayed = 0;
    this.#setState({ state: "live" });
    for (const command of this.#commands.values()) {
      if (!command.sent) this.#sendCommand(command);
    }
    this.#startHeartbeat();
  }

  #startHeartbeat(): void {
    clearInterval(this.#heartbeatTimer);
    if (this.#options.heartbeatMs <= 0) return;
    this.#heartbeatTimer = setInterval(() => {
      if (Date.now() - this.#lastFrameAt < this.#options.heartbeatMs) return;
      const socket = this.#socket;
      this.ping().catch(() => {
        // No answer: the connection is dead without having said so (a sleeping laptop, a lost route).
        if (this.#socket === socket) this.#drop("no answer to ping");
      });
    }, this.#options.heartbeatMs);
  }

  /** Closes the current socket and reconnects (with `sinceSeq`). */
  #drop(reason: string): void {
    const socket = this.#socket;
    if (socket === undefined) return;
    this.#closed(CLIENT_RECONNECT, reason);
    try {
      socket.close(CLIENT_RECONNECT, reason.slice(0, 120));
    } catch {
      // Already closing.
    }
  }

  #closed(code: number, reason: string): void {
    this.#socket = undefined;
    this.#authId = undefined;
    const wasStable = this.#attached && Date.now() - this.#attachedAt >= STABLE_MS;
    this.#detach();
    if (this.#stopped) return;
    if (STOP.has(code)) return this.#stop(code, reason);
    if (code === 4001) {
      this.#authFailures += 1;
      if (this.#authFailures >= MAX_AUTH_FAILURES) return this.#stop(code, reason);
      this.#forceRefresh = true;
    }
    if (wasStable) this.#attempt = 0;
    const ceiling = Math.min(this.#options.maxBackoffMs, this.#options.backoffMs * 2 ** this.#attempt);
    const retryInMs = Math.round(Math.random() * ceiling);
    this.#attempt += 1;
    this.#setState({ state: "reconnecting", code, reason, retryInMs, attempt: this.#attempt });
    this.#retryTimer = setTimeout(() => this.connect(), retryInMs);
  }

  #reconnectNow(): void {
    clearTimeout(this.#retryTimer);
    this.connect();
  }

  #detach(): void {
    this.#attached = false;
    this.#expiresAt = undefined;
    clearTimeout(this.#refreshTimer);
    clearInterval(this.#heartbeatTimer);
    // Commands sent on the socket that closed go again on the next one.
    for (const command of this.#commands.values()) command.sent = false;
  }

  #stop(code: number, reason: string): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    this.#detach();
    globalThis.removeEventListener?.("online", this.#onOnline);
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket !== undefined) {
      try {
        socket.close(1000);
      } catch {
        // Already closing.
      }
    }
    for (const command of this.#commands.values()) {
      this.#settle(command);
      command.reject(new LiveError(`the live session stopped (${code}${reason ? `: ${reason}` : ""})`, "closed"));
    }
    this.#setState({ state: "closed", code, reason });
  }

  #settle(command: Command): void {
    clearTimeout(command.deadline);
    this.#commands.delete(command.id);
  }

  #setState(change: StateChange): void {
    this.#state = change.state;
    this.#emit("state", change);
  }

  #emit<K extends keyof LiveEvents>(type: K, value: LiveEvents[K]): void {
    for (const listener of this.#listeners.get(type) ?? []) {
      try {
        (listener as Listener<K>)(value);
      } catch (error) {
        // A listener's bug must not break delivery to the others, nor the session itself.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}

/** A 20-character id (letters and digits), as the server generates. */
export function randomId(): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = crypto.getRandomValues(new Uint8Array(20));
  return Array.from(bytes, (byte) => alphabet[byte % alphabet.length]).join("");
}
