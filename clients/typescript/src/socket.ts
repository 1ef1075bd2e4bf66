// What every socket of the client shares, whichever stream it follows (one session's events for
// `LiveSession`, the user's list for `LiveSessions`): one WebSocket at a time, kept open across
// dropped connections, server restarts and token expiry.
//
// The rules it follows, from the protocol's "Writing a client":
// - authenticate with an `auth` frame (a browser cannot set headers on a socket), and send it
//   again with a fresh token before the last one expires; on 4001 get a fresh token and reconnect;
// - reconnect on every close but a stop (the close codes whose action is `stop` in close.ts, or
//   `close()`), after a full-jitter backoff, at the address its owner gives for the next attempt;
// - send commands only once attached (the owner says when: after its first push); a command
//   without a reply when the socket drops is sent again after the next attach, unless it is one
//   that must not be repeated (a signal), which then fails;
// - check with a `ping` that an idle socket is alive.
// What a frame means is left to the owner: the lifecycle handles replies and passes on the rest.
import { CloseCode, MAX_AUTH_FAILURES, closeAction } from "./close.js";
import { LiveError } from "./errors.js";
import { EventStreamSocket, type RestBridge } from "./sse.js";
import type { AuthResult, ReplyError, ServerFrame } from "./types.js";
import type { WebSocketConstructor, WebSocketLike } from "./websocket.js";

export type { RestBridge } from "./sse.js";

/**
 * How a live stream reaches the server: a WebSocket, or the event stream (Server-Sent Events over
 * `fetch`, with its commands over REST) where WebSockets cannot go.
 */
export type Transport = "websocket" | "sse";

export type { WebSocketConstructor, WebSocketLike } from "./websocket.js";

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
  /**
   * The close code that caused the change, when a socket closed (1006: dropped without one); see
   * `closeCodes` for what each means.
   */
  code?: number;
  reason?: string;
  /** With `reconnecting`: when the next attempt starts. */
  retryInMs?: number;
  /** With `reconnecting`: how many attempts in a row have failed. */
  attempt?: number;
}

/** How a socket connects, reconnects and waits: the options every live stream takes. */
export interface SocketOptions {
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
  /** Start without calling `connect()` (default: connect at once). */
  lazy?: boolean;
  /**
   * `auto` (the default): a WebSocket, and the event stream after {@link FALLBACK_AFTER} upgrades
   * in a row that never opened while the server answered HTTP (a proxy refusing upgrades);
   * `websocket` or `sse`: that one only.
   */
  transport?: Transport | "auto";
}

/** What the owner of a {@link LiveSocket} tells it, and is told by it. */
export interface SocketOwner {
  /** What the owner is called in errors ("live session"). */
  readonly name: string;
  /** The address of the next attempt on `transport` (it may change between attempts: `sinceSeq`). */
  url(transport: Transport): string;
  /** Where the event stream runs its commands (without it, only WebSockets are used). */
  readonly rest?: RestBridge | undefined;
  getToken(forceRefresh: boolean): Promise<string>;
  /** A frame that is not a reply (parsed, not checked: the owner checks what it reads). */
  receive(frame: { type?: unknown }): void;
  state(change: StateChange): void;
}

interface Command {
  id: number;
  frame: Record<string, unknown>;
  resolve: (result: unknown) => void;
  reject: (error: LiveError) => void;
  deadline: ReturnType<typeof setTimeout>;
  /** Sent on the current socket and waiting for its reply. */
  sent: boolean;
  /** Never sent twice: when the socket drops before its reply, it fails instead. */
  once: boolean;
}

type Reply = Extract<ServerFrame, { type: "reply" }>;

/** A socket attached for this long resets the backoff. */
const STABLE_MS = 10_000;
/** `WebSocket.OPEN`. */
const OPEN = 1;
/** After this many WebSocket upgrades in a row that never opened (the server answering HTTP), `auto` switches to the event stream. */
export const FALLBACK_AFTER = 3;

/** Stands for the WebSocket a client on the event stream alone never opens. */
const NoWebSocket: WebSocketConstructor = class {
  constructor() {
    throw new TypeError("no WebSocket here");
  }
} as unknown as WebSocketConstructor;

export class LiveSocket {
  readonly #owner: SocketOwner;
  readonly #options: Required<Omit<SocketOptions, "lazy" | "transport">>;
  readonly #auto: boolean;
  #transport: Transport;
  /** WebSocket upgrades in a row that never opened while the server answered HTTP. */
  #unopened = 0;
  /** How many sockets have opened: a probe started before the latest open counts for nothing. */
  #opens = 0;
  readonly #WebSocket: WebSocketConstructor;
  /** Commands not yet answered, in the order they were made (a Map keeps insertion order). */
  readonly #commands = new Map<number, Command>();
  #socket: WebSocketLike | undefined;
  #state: LiveState = "connecting";
  #attached = false;
  #attachedAt = 0;
  #attempt = 0;
  #authFailures = 0;
  #forceRefresh = false;
  #nextId = 1;
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

  constructor(owner: SocketOwner, options: SocketOptions, WebSocket: WebSocketConstructor | undefined) {
    const transport = owner.rest === undefined ? "websocket" : (options.transport ?? "auto");
    const Constructor = WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (Constructor === undefined && transport !== "sse") {
      throw new TypeError("no WebSocket here: pass one in the client's options (Node.js 20: --experimental-websocket)");
    }
    this.#WebSocket = Constructor ?? NoWebSocket;
    this.#owner = owner;
    this.#options = {
      commandTimeoutMs: options.commandTimeoutMs ?? 15_000,
      backoffMs: options.backoffMs ?? 500,
      maxBackoffMs: options.maxBackoffMs ?? 30_000,
      refreshMarginMs: options.refreshMarginMs ?? 60_000,
      heartbeatMs: options.heartbeatMs ?? 25_000,
    };
    this.#auto = transport === "auto";
    this.#transport = transport === "auto" ? "websocket" : transport;
    globalThis.addEventListener?.("online", this.#onOnline);
  }

  /** The transport of the current (or next) attempt. */
  get transport(): Transport {
    return this.#transport;
  }

  get state(): LiveState {
    return this.#state;
  }

  /** The socket is attached: its first push has arrived, commands go out. */
  get attached(): boolean {
    return this.#attached;
  }

  /** Opens the socket, unless one is open or the stream was stopped. */
  connect(): void {
    if (this.#stopped || this.#socket !== undefined) return;
    clearTimeout(this.#retryTimer);
    this.#setState({ state: "connecting" });
    const transport = this.#transport;
    const url = this.#owner.url(transport);
    const rest = this.#owner.rest;
    let socket: WebSocketLike;
    let opened = false;
    try {
      socket =
        transport === "sse" && rest !== undefined
          ? new EventStreamSocket(() => this.#owner.url("sse"), rest)
          : new this.#WebSocket(url);
    } catch (cause) {
      this.#stop(CloseCode.ProtocolError, `cannot open ${url}: ${String(cause)}`);
      return;
    }
    this.#socket = socket;
    socket.onopen = () => {
      opened = true;
      this.#opens += 1;
      this.#unopened = 0;
      void this.#authenticate(socket);
    };
    socket.onmessage = (message) => {
      if (this.#socket === socket) this.#receive(message.data);
    };
    socket.onclose = (close) => {
      if (this.#socket !== socket) return;
      if (!opened) this.#neverOpened(transport);
      this.#closed(close.code, close.reason);
    };
    socket.onerror = () => {
      // On an open socket a close event follows with its code. A connection that could not be
      // made at all may end with the error alone (Node.js 20 sends no close event then).
      if (this.#socket === socket && socket.readyState !== OPEN) {
        if (!opened) this.#neverOpened(transport);
        this.#closed(CloseCode.Abnormal, "cannot connect");
        try {
          socket.close();
        } catch {
          // Never opened.
        }
      }
    };
  }

  /**
   * A WebSocket that never opened: with `auto`, counted toward the switch to the event stream
   * when the server answers HTTP meanwhile (a server down, restarting, is no reason to switch).
   */
  #neverOpened(transport: Transport): void {
    const rest = this.#owner.rest;
    if (!this.#auto || transport !== "websocket" || rest === undefined) return;
    const opens = this.#opens;
    void rest.reachable().then((reachable) => {
      if (!reachable || opens !== this.#opens || this.#transport !== "websocket") return;
      this.#unopened += 1;
      if (this.#unopened >= FALLBACK_AFTER) this.#transport = "sse";
    });
  }

  /** Stops for good: closes the socket and fails the commands not yet answered. */
  close(): void {
    this.#stop(CloseCode.Normal, "closed by the client");
  }

  /**
   * Sends a command once attached and resolves with its result. A command sent on a socket that
   * drops goes again on the next one, unless `once`: then it fails with a retryable `timeout`
   * (it may or may not have reached the server).
   */
  command(frame: Record<string, unknown>, { once = false } = {}): Promise<unknown> {
    if (this.#stopped) return Promise.reject(new LiveError(`the ${this.#owner.name} is closed`, "closed"));
    return new Promise((resolve, reject) => {
      const id = this.#nextId++;
      const deadline = setTimeout(() => {
        this.#commands.delete(id);
        reject(new LiveError(`no reply to ${String(frame.type)} within ${this.#options.commandTimeoutMs} ms`, "timeout", true));
      }, this.#options.commandTimeoutMs);
      const command: Command = { id, frame: { id, ...frame }, resolve, reject, deadline, sent: false, once };
      this.#commands.set(id, command);
      if (this.#attached) this.#sendCommand(command);
    });
  }

  /** The socket is attached and up to date: commands may go. */
  attach(): void {
    if (this.#attached || this.#stopped) return;
    this.#attached = true;
    this.#attachedAt = Date.now();
    this.#setState({ state: "live" });
    for (const command of this.#commands.values()) {
      if (!command.sent) this.#sendCommand(command);
    }
    this.#startHeartbeat();
  }

  /** Closes the current socket and reconnects (at the owner's next address). */
  drop(reason: string): void {
    const socket = this.#socket;
    if (socket === undefined) return;
    this.#closed(CloseCode.ClientReconnect, reason);
    try {
      socket.close(CloseCode.ClientReconnect, reason.slice(0, 120));
    } catch {
      // Already closing.
    }
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
      token = await this.#owner.getToken(this.#forceRefresh);
    } catch (cause) {
      // No token can be had (signed out, offline): counted as a refusal, so that it ends in
      // `closed` with 4001 (sign in again) rather than in reconnecting for ever.
      if (this.#socket !== socket) return;
      this.#closed(CloseCode.Unauthenticated, `no token: ${String(cause)}`.slice(0, 120));
      try {
        socket.close(CloseCode.ClientReconnect);
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
    let frame: unknown;
    try {
      frame = JSON.parse(String(data));
    } catch {
      return;
    }
    if (typeof frame !== "object" || frame === null) return;
    if ((frame as { type?: unknown }).type === "reply") return this.#reply(frame as Reply);
    this.#owner.receive(frame);
  }

  #reply(frame: Reply): void {
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

  #authReply(frame: Reply): void {
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
        token = await this.#owner.getToken(true);
      } catch {
        if (current()) this.#scheduleRefresh(5_000);
        return;
      }
      if (!current() || socket === undefined) return;
      this.#authId = this.#nextId++;
      this.#send({ id: this.#authId, type: "auth", token });
    }, Math.min(delayMs, 2 ** 31 - 1));
  }

  #startHeartbeat(): void {
    clearInterval(this.#heartbeatTimer);
    if (this.#options.heartbeatMs <= 0) return;
    this.#heartbeatTimer = setInterval(() => {
      if (Date.now() - this.#lastFrameAt < this.#options.heartbeatMs) return;
      const socket = this.#socket;
      this.command({ type: "ping" }).catch(() => {
        // No answer: the connection is dead without having said so (a sleeping laptop, a lost route).
        if (this.#socket === socket) this.drop("no answer to ping");
      });
    }, this.#options.heartbeatMs);
  }

  #closed(code: number, reason: string): void {
    this.#socket = undefined;
    this.#authId = undefined;
    const wasStable = this.#attached && Date.now() - this.#attachedAt >= STABLE_MS;
    // A command that must not be repeated and may have reached the server fails now.
    for (const command of this.#commands.values()) {
      if (command.once && command.sent) {
        this.#settle(command);
        command.reject(
          new LiveError(`the connection dropped before the reply to ${String(command.frame.type)}: it may or may not have been applied`, "timeout", true),
        );
      }
    }
    this.#detach();
    if (this.#stopped) return;
    if (closeAction(code) === "stop") return this.#stop(code, reason);
    if (code === CloseCode.Unauthenticated) {
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
        socket.close(CloseCode.Normal);
      } catch {
        // Already closing.
      }
    }
    for (const command of this.#commands.values()) {
      this.#settle(command);
      command.reject(new LiveError(`the ${this.#owner.name} stopped (${code}${reason ? `: ${reason}` : ""})`, "closed"));
    }
    this.#setState({ state: "closed", code, reason });
  }

  #settle(command: Command): void {
    clearTimeout(command.deadline);
    this.#commands.delete(command.id);
  }

  #setState(change: StateChange): void {
    this.#state = change.state;
    this.#owner.state(change);
  }
}

/** Typed listeners: `on` returns the unsubscribe; a listener's exception never reaches the emitter. */
export class Emitter<Events> {
  readonly #listeners = new Map<keyof Events, Set<(value: never) => void>>();

  on<K extends keyof Events>(type: K, listener: (value: Events[K]) => void): () => void {
    let set = this.#listeners.get(type);
    if (set === undefined) this.#listeners.set(type, (set = new Set()));
    set.add(listener as (value: never) => void);
    return () => set.delete(listener as (value: never) => void);
  }

  emit<K extends keyof Events>(type: K, value: Events[K]): void {
    for (const listener of this.#listeners.get(type) ?? []) {
      try {
        (listener as (value: Events[K]) => void)(value);
      } catch (error) {
        // A listener's bug must not break delivery to the others, nor the stream itself.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
