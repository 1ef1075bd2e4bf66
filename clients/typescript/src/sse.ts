// The event stream (`GET …/events`, protocol/README.md "Server-Sent Events") read over `fetch`,
// behind the face of a WebSocket, so that the socket lifecycle of socket.ts (authentication,
// token refresh, reconnects, close codes, commands and their replies) runs unchanged on it:
// - the `auth` frame the lifecycle sends opens the stream with `Authorization: Bearer <token>`
//   (and, sent again with a fresh token, reopens it from where it was, the owner's address
//   carrying `sinceSeq`); its reply carries the token's expiry, read from the token;
// - each event's `data` is delivered as a socket message; `event: close` closes it with the
//   code and reason it names; a stream that ends without one is a dropped connection (1006);
// - a refused request is the close a socket would have had (401: 4001, 404: 4004, 429: 4029);
// - commands go to the owner's REST bridge, and come back as replies; a `ping` is answered
//   while the stream's heartbeats (`: ping`) arrive.
import { CloseCode } from "./close.js";
import type { WebSocketLike } from "./websocket.js";

/** How the stream reaches the server besides itself: the owner's REST calls for its commands. */
export interface RestBridge {
  fetch: typeof fetch;
  /** Runs a command (a socket frame) over REST; resolves with its result, or rejects with an ApiError. */
  command(frame: Record<string, unknown>): Promise<unknown>;
  /** Whether the server answers HTTP at all (any status): tells a refused upgrade from a server down. */
  reachable(): Promise<boolean>;
}

/** The server's heartbeat comes every 25 s: twice that without a byte, the stream is dead. */
const SILENT_MS = 60_000;
const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;

/** An HTTP refusal as the close code a socket would have got. */
function statusCode(status: number): number {
  if (status === 401 || status === 403) return CloseCode.Unauthenticated;
  if (status === 404) return CloseCode.NotFound;
  if (status === 429) return CloseCode.TooManySockets;
  if (status === 400) return CloseCode.ProtocolError;
  if (status >= 500) return CloseCode.InternalError;
  return CloseCode.Abnormal;
}

/** When a JWT expires, from its `exp` (an hour from now when it cannot be read). */
function expiry(token: string): string {
  try {
    const part = token.split(".")[1] ?? "";
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    if (typeof exp === "number") return new Date(exp * 1000).toISOString();
  } catch {
    // Not a JWT the client can read (a session cookie's token): the server's 4001 says when.
  }
  return new Date(Date.now() + 3_600_000).toISOString();
}

export class EventStreamSocket implements WebSocketLike {
  readyState = CONNECTING;
  onopen: WebSocketLike["onopen"] = null;
  onmessage: WebSocketLike["onmessage"] = null;
  onclose: WebSocketLike["onclose"] = null;
  onerror: WebSocketLike["onerror"] = null;
  readonly #url: () => string;
  readonly #bridge: RestBridge;
  #abort: AbortController | undefined;
  /** Bumped by every (re)open: what an older stream still reads is dropped. */
  #generation = 0;
  #lastByteAt = Date.now();

  constructor(url: () => string, bridge: RestBridge) {
    this.#url = url;
    this.#bridge = bridge;
    // Like a WebSocket, it opens after the constructor returns; the stream itself waits for `auth`.
    setTimeout(() => {
      if (this.readyState !== CONNECTING) return;
      this.readyState = OPEN;
      this.onopen?.({});
    }, 0);
  }

  send(data: string): void {
    if (this.readyState !== OPEN) return;
    const frame = JSON.parse(data) as Record<string, unknown> & { id: number; type: string };
    if (frame.type === "auth") return void this.#open(frame.id, String(frame.token));
    if (frame.type === "ping") {
      // Answered while the stream is alive; left unanswered (the lifecycle then drops it) when not.
      if (Date.now() - this.#lastByteAt < SILENT_MS) this.#deliver({ type: "reply", id: frame.id, ok: true, result: {} });
      return;
    }
    const { id, ...command } = frame;
    this.#bridge.command(command).then(
      (result) => this.#deliver({ type: "reply", id, ok: true, result }),
      (error: { code?: string; message?: string; retryable?: boolean; field?: string; data?: { field?: string } }) => {
        const field = error.field ?? error.data?.field;
        this.#deliver({
          type: "reply",
          id,
          ok: false,
          error: {
            code: error.code === "network" ? "unavailable" : (error.code ?? "internal"),
            message: error.message ?? String(error),
            retryable: error.retryable === true || error.code === "network",
            ...(field === undefined ? {} : { field }),
          },
        });
      },
    );
  }

  close(): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this.#generation += 1;
    this.#abort?.abort();
  }

  #deliver(frame: unknown): void {
    if (this.readyState === OPEN) this.onmessage?.({ data: JSON.stringify(frame) });
  }

  #end(code: number, reason: string): void {
    if (this.readyState === CLOSED) return;
    this.close();
    this.onclose?.({ code, reason });
  }

  /** Opens the stream with `token` (again, from where it was, when one is open): answers `auth` once it is. */
  async #open(authId: number, token: string): Promise<void> {
    this.#abort?.abort();
    const generation = ++this.#generation;
    const abort = new AbortController();
    this.#abort = abort;
    let response: Response;
    try {
      response = await this.#bridge.fetch(this.#url(), {
        headers: { accept: "text/event-stream", authorization: `Bearer ${token}` },
        cache: "no-store",
        signal: abort.signal,
      });
    } catch (cause) {
      if (generation === this.#generation) this.#end(CloseCode.Abnormal, `cannot connect: ${String(cause)}`.slice(0, 120));
      return;
    }
    if (generation !== this.#generation) return void response.body?.cancel().catch(() => {});
    if (!response.ok || response.body === null) {
      await response.body?.cancel().catch(() => {});
      return this.#end(statusCode(response.status), `HTTP ${response.status}`);
    }
    this.#lastByteAt = Date.now();
    this.#deliver({ type: "reply", id: authId, ok: true, result: { uid: "", expiresAt: expiry(token) } });
    await this.#read(response.body, generation);
  }

  async #read(body: ReadableStream<Uint8Array>, generation: number): Promise<void> {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let type = "";
    let data: string[] = [];
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (generation !== this.#generation) return void reader.cancel().catch(() => {});
        if (done) break;
        this.#lastByteAt = Date.now();
        buffer += decoder.decode(value, { stream: true });
        let newline: number;
        while ((newline = buffer.search(/\r\n|\r|\n/)) !== -1) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
          if (line === "") {
            // The end of an event: dispatch it.
            if (data.length > 0) {
              const payload = data.join("\n");
              if (type === "close") {
                const close = JSON.parse(payload) as { code?: number; reason?: string };
                return this.#end(close.code ?? CloseCode.Abnormal, close.reason ?? "");
              }
              this.#deliver(JSON.parse(payload));
              if (generation !== this.#generation) return;
            }
            type = "";
            data = [];
            continue;
          }
          if (line.startsWith(":")) continue; // a heartbeat
          const colon = line.indexOf(":");
          const field = colon === -1 ? line : line.slice(0, colon);
          const text = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") type = text;
          else if (field === "data") data.push(text);
          // `id:` needs no keeping: the owner's address carries the last seq it holds.
        }
      }
    } catch (cause) {
      if (generation === this.#generation) this.#end(CloseCode.Abnormal, `the stream broke: ${String(cause)}`.slice(0, 120));
      return;
    }
    if (generation === this.#generation) this.#end(CloseCode.Abnormal, "the stream ended without a close event");
  }
}
