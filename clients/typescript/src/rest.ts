// The REST API of protocol/openapi.yaml, one method per route. Answers of `GET /{id}` and of
// restore by URL are revalidated: the client keeps the last answer of each with its ETag, sends
// If-None-Match, and a 304 costs the server no body.
import { ApiError, LiveError } from "./errors.js";
import { LiveSession, type LiveOptions, type WebSocketConstructor } from "./live.js";
import { LiveSessions, type LiveSessionsOptions } from "./live-list.js";
import type { RestBridge } from "./socket.js";
import type {
  Appended,
  Completion,
  Created,
  ErrorData,
  FoundOrCreated,
  NewMessage,
  NewSession,
  Session,
  SessionPage,
  SessionUpdate,
  SeqResult,
  SignalSent,
  Status,
  Summary,
  SummaryPage,
  TokenSource,
} from "./types.js";

export interface ClientOptions {
  /** The server, e.g. `https://sessions.example.com`; a page on the server itself may omit it. */
  baseUrl?: string;
  getToken: TokenSource;
  /** Defaults to the global `fetch`. */
  fetch?: typeof fetch;
  /** Defaults to the global `WebSocket` (browsers, Node.js 22; Node.js 20 with `--experimental-websocket`). */
  WebSocket?: WebSocketConstructor;
  /** How many revalidated answers to keep (default 256). */
  cachedAnswers?: number;
}

export interface ListOptions {
  /** 1..100, default 20. */
  limit?: number;
  /** The `nextCursor` of the previous page. */
  cursor?: string;
  status?: Status;
  /** `full` (the default): whole sessions; `summary`: what a history list shows (see {@link Summary}). */
  view?: "full" | "summary";
}

/** List options asking for summaries. */
export type SummaryListOptions = ListOptions & { view: "summary" };

const BASE = "/api/live-chat-sessions";

export class LiveChatClient {
  readonly baseUrl: string;
  readonly #getToken: TokenSource;
  readonly #fetch: typeof fetch;
  readonly #WebSocket: WebSocketConstructor | undefined;
  /** Path → the last full answer and its tag, oldest first (a Map keeps insertion order). */
  readonly #answers = new Map<string, { etag: string; session: Session }>();
  readonly #cachedAnswers: number;
  #token: Promise<string> | undefined;

  constructor(options: ClientOptions) {
    const origin = options.baseUrl ?? globalThis.location?.origin;
    if (!origin) throw new TypeError("baseUrl is required outside a browser page");
    this.baseUrl = origin.replace(/\/+$/, "");
    this.#getToken = options.getToken;
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#WebSocket = options.WebSocket;
    this.#cachedAnswers = options.cachedAnswers ?? 256;
  }

  /** `POST /`: a new session; 409 `conflict` (with `data.sessionDocId`) when the sessionId is taken. */
  createSession(body: NewSession): Promise<Created> {
    return this.#call("POST", BASE, body);
  }

  /** `POST /find-or-create`: the caller's session with this sessionId, created when absent. */
  findOrCreateSession(body: NewSession): Promise<FoundOrCreated> {
    return this.#call("POST", `${BASE}/find-or-create`, body);
  }

  /**
   * `POST /{id}/messages`. Pass a `messageId` to make retrying safe: a retry changes nothing
   * and is answered like the original.
   */
  appendMessage(id: string, message: NewMessage): Promise<Appended> {
    return this.#call("POST", `${BASE}/${encodeURIComponent(id)}/messages`, message);
  }

  /** `GET /{id}`, revalidated with If-None-Match. */
  getSession(id: string): Promise<Session> {
    return this.#revalidated(`${BASE}/${encodeURIComponent(id)}`);
  }

  /** `GET /by-image-url`: the caller's most recently updated session holding this image URL. */
  getSessionByImageUrl(imageUrl: string): Promise<Session> {
    return this.#revalidated(`${BASE}/by-image-url?imageUrl=${encodeURIComponent(imageUrl)}`);
  }

  /**
   * `GET /`: one page of the caller's sessions, most recently updated first: whole sessions, or
   * with `view: "summary"` their summaries (no messages, the last images only).
   */
  listSessions(options: SummaryListOptions): Promise<SummaryPage>;
  listSessions(options?: ListOptions & { view?: "full" }): Promise<SessionPage>;
  listSessions(options: ListOptions = {}): Promise<SessionPage | SummaryPage> {
    const query = new URLSearchParams();
    if (options.limit !== undefined) query.set("limit", String(options.limit));
    if (options.cursor !== undefined) query.set("cursor", options.cursor);
    if (options.status !== undefined) query.set("status", options.status);
    if (options.view !== undefined) query.set("view", options.view);
    const search = query.size > 0 ? `?${query}` : "";
    return this.#call("GET", `${BASE}${search}`);
  }

  /** Every page of `listSessions`, one after another. */
  allSessions(options: Omit<SummaryListOptions, "cursor">): AsyncGenerator<Summary>;
  allSessions(options?: Omit<ListOptions, "cursor"> & { view?: "full" }): AsyncGenerator<Session>;
  async *allSessions(options: Omit<ListOptions, "cursor"> = {}): AsyncGenerator<Session | Summary> {
    let cursor: string | undefined;
    do {
      const page: SessionPage | SummaryPage = await this.listSessions({ ...options, cursor } as ListOptions & { view?: "full" });
      yield* page.sessions;
      cursor = page.nextCursor;
    } while (cursor !== undefined);
  }

  /** `PATCH /{id}/complete`. */
  completeSession(id: string, completion: Completion = {}): Promise<SeqResult> {
    return this.#call("PATCH", `${BASE}/${encodeURIComponent(id)}/complete`, completion);
  }

  /** `PATCH /{id}`: only status, completedAt, model, frameSize and style. */
  updateSession(id: string, changes: SessionUpdate): Promise<SeqResult> {
    return this.#call("PATCH", `${BASE}/${encodeURIComponent(id)}`, changes);
  }

  /** `DELETE /{id}`. */
  async deleteSession(id: string): Promise<void> {
    await this.#call("DELETE", `${BASE}/${encodeURIComponent(id)}`);
  }

  /**
   * `POST /{id}/signals`: `data` (any JSON value, at most 4 KiB encoded by default) to every
   * socket of the session, as a `signal` event with `from: "rest"`; resolves with the session's
   * `seq` when it was sent. Nothing is stored; a socket that is not attached misses it.
   */
  sendSignal(id: string, data: unknown): Promise<SignalSent> {
    return this.#call("POST", `${BASE}/${encodeURIComponent(id)}/signals`, { data });
  }

  /**
   * The user's live list (`GET /live`): every session of the caller, as summaries, kept up to
   * date; see {@link LiveSessions}. Its `more()` reads further pages through this client.
   */
  liveSessions(options: LiveSessionsOptions = {}): LiveSessions {
    return new LiveSessions({
      url: `${this.baseUrl.replace(/^http/, "ws")}${BASE}/live`,
      eventsUrl: `${this.baseUrl}${BASE}/events`,
      rest: this.#bridge(`${BASE}/live`, undefined),
      getToken: (refresh) => this.token(refresh),
      WebSocket: this.#WebSocket,
      page: (cursor) => this.listSessions({ view: "summary", cursor, status: options.status, limit: options.limit }),
      ...options,
    });
  }

  /** A live socket on the session (`GET /{id}/live`); see {@link LiveSession}. */
  live(id: string, options: LiveOptions = {}): LiveSession {
    return new LiveSession({
      url: `${this.baseUrl.replace(/^http/, "ws")}${BASE}/${encodeURIComponent(id)}/live`,
      eventsUrl: `${this.baseUrl}${BASE}/${encodeURIComponent(id)}/events`,
      rest: this.#bridge(`${BASE}/${encodeURIComponent(id)}/live`, id),
      // The copy this client holds of the session is revalidated over REST first (304 when it is
      // current, compressed when not), then the socket attaches from its seq: no whole session
      // on the socket. Without any copy, the socket's snapshot is the fallback.
      load: options.session === undefined && this.#answers.has(`${BASE}/${encodeURIComponent(id)}`) ? () => this.getSession(id) : undefined,
      getToken: (refresh) => this.token(refresh),
      WebSocket: this.#WebSocket,
      ...options,
    });
  }

  /**
   * The token requests are sent with: the one held, or a new one from `getToken` (when none is
   * held, or with `forceRefresh`). Concurrent callers share one call to `getToken`.
   */
  token(forceRefresh = false): Promise<string> {
    if (forceRefresh || this.#token === undefined) {
      const token = Promise.resolve().then(() => this.#getToken({ forceRefresh }));
      // A failed call is not kept: the next request asks again.
      token.catch(() => {
        if (this.#token === token) this.#token = undefined;
      });
      this.#token = token;
    }
    return this.#token;
  }

  /**
   * What a live stream on the event stream needs besides it: this client's `fetch`, its commands
   * as the REST calls they mirror (each with what makes it safe to repeat), and a probe that the
   * server answers HTTP at `path` (the socket's route, read without an upgrade).
   */
  #bridge(path: string, id: string | undefined): RestBridge {
    return {
      fetch: this.#fetch,
      reachable: async () => {
        try {
          const response = await this.#fetch(`${this.baseUrl}${path}`, { cache: "no-store" });
          await response.body?.cancel().catch(() => {});
          // A gateway's 502, 503 or 504 is the server down behind it, not an upgrade refused.
          return response.status < 500;
        } catch {
          return false;
        }
      },
      command: async (frame) => {
        if (id === undefined) throw new LiveError(`${String(frame.type)} has no place on the user's list`, "invalid_argument");
        switch (frame.type) {
          case "message.add": {
            const { type: _type, ...message } = frame;
            return this.appendMessage(id, message as unknown as NewMessage);
          }
          case "session.complete":
            return this.completeSession(id, frame.completedAt === undefined ? {} : { completedAt: frame.completedAt as string });
          case "session.update":
            return this.updateSession(id, frame.changes as SessionUpdate);
          case "signal":
            return this.sendSignal(id, frame.data);
          default:
            // image.add has no REST route: adding an image to an existing message needs the socket.
            throw new LiveError(`${String(frame.type)} cannot be sent on the event stream (no REST route)`, "invalid_argument");
        }
      },
    };
  }

  async #revalidated(path: string): Promise<Session> {
    const held = this.#answers.get(path);
    const response = await this.#send("GET", path, undefined, held?.etag);
    if (response.status === 304 && held) {
      // Most recently used last, so the oldest is the first to go.
      this.#answers.delete(path);
      this.#answers.set(path, held);
      return held.session;
    }
    const { session } = await envelope<{ session: Session }>(response);
    const etag = response.headers.get("etag");
    this.#answers.delete(path);
    if (etag) {
      this.#answers.set(path, { etag, session });
      for (const oldest of this.#answers.keys()) {
        if (this.#answers.size <= this.#cachedAnswers) break;
        this.#answers.delete(oldest);
      }
    }
    return session;
  }

  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    return envelope<T>(await this.#send(method, path, body));
  }

  /** Sends a request with the held token; on 401 asks for a fresh token and tries once more. */
  async #send(method: string, path: string, body?: unknown, ifNoneMatch?: string): Promise<Response> {
    let response = await this.#fetchOnce(method, path, body, ifNoneMatch, false);
    if (response.status === 401) {
      response = await this.#fetchOnce(method, path, body, ifNoneMatch, true);
    }
    return response;
  }

  async #fetchOnce(
    method: string,
    path: string,
    body: unknown,
    ifNoneMatch: string | undefined,
    forceRefresh: boolean,
  ): Promise<Response> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${await this.token(forceRefresh)}`,
    };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (ifNoneMatch !== undefined) headers["if-none-match"] = ifNoneMatch;
    try {
      return await this.#fetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        // The client revalidates by itself; the browser's cache would only answer for it.
        cache: "no-store",
      });
    } catch (cause) {
      throw new ApiError(`cannot reach ${this.baseUrl}: ${String(cause)}`, 0, "network");
    }
  }
}

/** The `data` of a success envelope, or the envelope's error as an {@link ApiError}. */
async function envelope<T>(response: Response): Promise<T> {
  let parsed: unknown;
  try {
    parsed = await response.json();
  } catch {
    parsed = undefined;
  }
  const body = (parsed ?? {}) as { status?: string; message?: string; data?: unknown };
  if (response.ok && body.status === "success") return body.data as T;
  const retryAfter = Number(response.headers.get("retry-after") ?? Number.NaN);
  if (body.status === "error" && typeof body.data === "object" && body.data !== null) {
    const data = body.data as ErrorData;
    return Promise.reject(
      new ApiError(
        body.message ?? data.code,
        response.status,
        data.code,
        data,
        Number.isFinite(retryAfter) ? retryAfter : undefined,
        // The server says whether the call may be repeated; it says so only when it may.
        data.retryable === true,
      ),
    );
  }
  // Not the server's envelope (a proxy's or a load balancer's page): retryable is guessed from the status.
  return Promise.reject(
    new ApiError(
      `unexpected answer: HTTP ${response.status}`,
      response.status,
      response.status >= 500 ? "unavailable" : "unexpected_response",
      {},
      Number.isFinite(retryAfter) ? retryAfter : undefined,
    ),
  );
}
