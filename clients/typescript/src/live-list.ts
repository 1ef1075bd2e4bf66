// The user's live list: one WebSocket on `GET /live` (no session id) following every session of
// the caller, kept open with the same lifecycle as a session's socket (socket.ts).
//
// On every attach, a reconnect included, the server sends a `sessions` frame: the first page of
// the list as summaries (what `GET /?view=summary` answers). It replaces the list held: whatever
// happened while the socket was away is in it, and a session deleted meanwhile is not. Then
// `session.changed` brings a session's new summary after each committed change, and
// `session.removed` a session that left the list (deleted, or no longer matching `status`).
//
// Per session, summaries only move forward: one replaces the held summary only when its `seq` is
// greater (the server may skip intermediate ones, and a snapshot or a page read over REST may be
// older than what a push already brought). A removal is remembered with its `seq`, so that a
// summary older than it (a page of `more()` read before the deletion) cannot bring the session
// back. The list is ordered as the list route orders it: `updatedAt` descending, then `id`
// descending.
import { Emitter, LiveSocket, type LiveState, type RestBridge, type SocketOptions, type StateChange, type Transport, type WebSocketConstructor } from "./socket.js";
import type { Status, Summary, SummaryPage, UserServerFrame } from "./types.js";

export interface LiveSessionsEvents {
  /** The first page, on every attach (a reconnect included): it replaced the list held. */
  snapshot: { sessions: readonly Summary[]; nextCursor?: string };
  /** A session's newer summary (it was added to the list, or replaced an older one). */
  changed: { id: string; seq: number; session: Summary };
  /** A session left the list: deleted, or no longer matching the `status` filter. */
  removed: { id: string; seq: number };
  /** The whole list, ordered, after any of the above (and after `more()`). */
  sessions: readonly Summary[];
  state: StateChange;
}

export interface LiveSessionsOptions extends SocketOptions {
  /** Only sessions with this status (a session whose status changes away leaves the list). */
  status?: Status;
  /** The size of the first page, 1..100 (the server's default: 20). */
  limit?: number;
}

interface ListOptions extends LiveSessionsOptions {
  /** The user socket's address, without a query. */
  url: string;
  /** The list's event stream (`GET /events`), without a query, for the `sse` transport. */
  eventsUrl?: string;
  /** Where the event stream's commands go (REST); without it, only WebSockets are used. */
  rest?: RestBridge;
  getToken: (forceRefresh: boolean) => Promise<string>;
  WebSocket: WebSocketConstructor | undefined;
  /** Reads the page after `cursor` (with the same status and limit), for `more()`. */
  page?: (cursor: string) => Promise<SummaryPage>;
}

/** How many removals are remembered (the oldest are forgotten first). */
const REMEMBERED_REMOVALS = 1_000;

export class LiveSessions {
  readonly #socket: LiveSocket;
  readonly #events = new Emitter<LiveSessionsEvents>();
  readonly #page: ((cursor: string) => Promise<SummaryPage>) | undefined;
  /** The list, ordered. */
  #sessions: Summary[] = [];
  readonly #byId = new Map<string, Summary>();
  /** id → the `seq` of its removal. */
  readonly #removed = new Map<string, number>();
  #nextCursor: string | undefined;
  /** Bumped by every snapshot: a page of `more()` read before it is not merged into it. */
  #generation = 0;
  #snapshots = 0;

  constructor(options: ListOptions) {
    const query = new URLSearchParams();
    if (options.status !== undefined) query.set("status", options.status);
    if (options.limit !== undefined) query.set("limit", String(options.limit));
    const withQuery = (url: string) => (query.size > 0 ? `${url}?${query}` : url);
    const url = withQuery(options.url);
    const eventsUrl = options.eventsUrl === undefined ? url : withQuery(options.eventsUrl);
    this.#page = options.page;
    this.#socket = new LiveSocket(
      {
        name: "live list",
        url: (transport) => (transport === "sse" ? eventsUrl : url),
        rest: options.eventsUrl === undefined ? undefined : options.rest,
        getToken: options.getToken,
        receive: (frame) => this.#receive(frame as UserServerFrame),
        state: (change) => this.#events.emit("state", change),
      },
      options,
      options.WebSocket,
    );
    if (!options.lazy) this.connect();
  }

  /** The sessions held, ordered as the list route orders them (empty until the first snapshot). */
  get sessions(): readonly Summary[] {
    return this.#sessions;
  }

  /** The summary held of one session. */
  get(id: string): Summary | undefined {
    return this.#byId.get(id);
  }

  /** Where the next page starts, when the server has more than the list holds from its pages. */
  get nextCursor(): string | undefined {
    return this.#nextCursor;
  }

  /** How many `sessions` snapshots have arrived (one per attach). */
  get snapshots(): number {
    return this.#snapshots;
  }

  get state(): LiveState {
    return this.#socket.state;
  }

  /** How the list is followed: a WebSocket, or the event stream (`sse`) where WebSockets cannot go. */
  get transport(): Transport {
    return this.#socket.transport;
  }

  /** Subscribes to one kind of event; returns the unsubscribe. */
  on<K extends keyof LiveSessionsEvents>(type: K, listener: (value: LiveSessionsEvents[K]) => void): () => void {
    return this.#events.on(type, listener);
  }

  /** Opens the socket (done by the constructor unless `lazy`). */
  connect(): void {
    this.#socket.connect();
  }

  /** Stops for good. */
  close(): void {
    this.#socket.close();
  }

  /** `ping`: a round trip to the server. */
  async ping(): Promise<void> {
    await this.#socket.command({ type: "ping" });
  }

  /**
   * Reads the next page over REST and adds it to the list; resolves with whether more remain.
   * The pages so read are followed live like the first; a snapshot (after a reconnect) replaces
   * them with the first page again.
   */
  async more(): Promise<boolean> {
    const cursor = this.#nextCursor;
    if (cursor === undefined) return false;
    if (this.#page === undefined) throw new TypeError("this list was made without a REST client: it cannot read more pages");
    const generation = this.#generation;
    const page = await this.#page(cursor);
    // A snapshot came meanwhile (a reconnect): the page continues a list that is no longer held.
    if (generation !== this.#generation || cursor !== this.#nextCursor) return this.#nextCursor !== undefined;
    for (const session of page.sessions) this.#put(session);
    this.#nextCursor = page.nextCursor;
    this.#events.emit("sessions", this.#sessions);
    return this.#nextCursor !== undefined;
  }

  #receive(frame: UserServerFrame): void {
    switch (frame.type) {
      case "sessions":
        this.#snapshot(frame.sessions, frame.nextCursor);
        return this.#socket.attach();
      case "session.changed":
        if (!this.#put(frame.session)) return;
        this.#events.emit("changed", { id: frame.id, seq: frame.seq, session: frame.session });
        return this.#events.emit("sessions", this.#sessions);
      case "session.removed": {
        if (!this.#remove(frame.id, frame.seq)) return;
        this.#events.emit("removed", { id: frame.id, seq: frame.seq });
        return this.#events.emit("sessions", this.#sessions);
      }
    }
  }

  #snapshot(sessions: Summary[], nextCursor: string | undefined): void {
    this.#generation += 1;
    this.#snapshots += 1;
    const held = new Map(this.#byId);
    this.#byId.clear();
    this.#sessions = [];
    for (const session of sessions) {
      // A summary already held from a push may be newer than the page (it was read before it).
      const newer = held.get(session.id);
      this.#put(newer !== undefined && newer.seq > session.seq ? newer : session);
    }
    this.#nextCursor = nextCursor;
    this.#events.emit("snapshot", { sessions: this.#sessions, nextCursor });
    this.#events.emit("sessions", this.#sessions);
  }

  /** Holds `session` unless what is held of it (or its removal) is as new; says whether it did. */
  #put(session: Summary): boolean {
    const removedAt = this.#removed.get(session.id);
    if (removedAt !== undefined) {
      if (session.seq <= removedAt) return false;
      this.#removed.delete(session.id);
    }
    const held = this.#byId.get(session.id);
    if (held !== undefined && session.seq <= held.seq) return false;
    // A new array each time: a listener may keep the one it was given.
    const list = held === undefined ? [...this.#sessions] : this.#sessions.filter((other) => other !== held);
    const at = list.findIndex((other) => before(session, other));
    list.splice(at === -1 ? list.length : at, 0, session);
    this.#sessions = list;
    this.#byId.set(session.id, session);
    return true;
  }

  #remove(id: string, seq: number): boolean {
    const held = this.#byId.get(id);
    // A removal older than the summary held is out of date (the session came back into the list).
    if (held !== undefined && held.seq >= seq) return false;
    const removedAt = Math.max(seq, this.#removed.get(id) ?? 0);
    // Most recent last, so that the oldest removals are the first forgotten.
    this.#removed.delete(id);
    this.#removed.set(id, removedAt);
    for (const oldest of this.#removed.keys()) {
      if (this.#removed.size <= REMEMBERED_REMOVALS) break;
      this.#removed.delete(oldest);
    }
    if (held === undefined) return false;
    this.#byId.delete(id);
    this.#sessions = this.#sessions.filter((session) => session !== held);
    return true;
  }
}

/** Whether `a` comes before `b` in the list: more recently updated first, then the greater id. */
function before(a: Summary, b: Summary): boolean {
  const at = Date.parse(a.updatedAt);
  const bt = Date.parse(b.updatedAt);
  if (at !== bt) return at > bt;
  return a.id > b.id;
}
