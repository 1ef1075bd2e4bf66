// The close codes (src/close.ts): the table agrees with protocol/README.md, and both live streams
// (LiveSession and LiveSessions) reconnect or stop after each code as the table says. No server:
// a scripted WebSocket plays it, closing the socket with each code once the stream is attached.
import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

import {
  CloseCode,
  LiveChatClient,
  MAX_AUTH_FAILURES,
  closeAction,
  closeCodes,
  isCloseCode,
  type CloseAction,
  type LiveSession,
  type LiveSessions,
  type LiveState,
  type Session,
  type StateChange,
  type WebSocketLike,
} from "../src/index.js";
import { until } from "./server.js";

const ROOT = resolve(import.meta.dirname, "../../../..");

/** The codes of protocol/README.md's "Close codes" table, each with the group it is listed in. */
function documentedCloseCodes(): Map<number, CloseAction> {
  const readme = readFileSync(resolve(ROOT, "protocol/README.md"), "utf8");
  const start = readme.indexOf("\n## Close codes");
  assert.ok(start >= 0, "protocol/README.md has a Close codes section");
  const section = readme.slice(start, readme.indexOf("\n## ", start + 1));
  const codes = new Map<number, CloseAction>();
  let group: CloseAction | undefined;
  for (const line of section.split("\n")) {
    const first = line.split("|")[1]?.trim() ?? "";
    if (first === "**reconnect**" || first === "**stop**") group = first === "**stop**" ? "stop" : "reconnect";
    const code = /^\(?(\d{4})\)?$/.exec(first);
    if (code && group) codes.set(Number(code[1]), group);
  }
  return codes;
}

const SESSION: Session = {
  id: "s1",
  sessionId: "session-1",
  uid: "u1",
  model: "m",
  frameSize: null,
  style: null,
  status: "active",
  startedAt: "2025-01-15T10:00:00.000Z",
  createdAt: "2025-01-15T10:00:00.000Z",
  updatedAt: "2025-01-15T10:00:00.000Z",
  messages: [],
  images: [],
  imageUrls: [],
  imageOrderMap: {},
  totalImages: 0,
  seq: 0,
};

/**
 * A WebSocket played by the test: it opens, answers `auth` (or refuses it with 4001 when
 * `refuseAuth`), and pushes what a stream's first frame is (a snapshot on a session's socket, the
 * first page on the user's); `serverClose` closes it as the server would.
 */
class ScriptedSocket implements WebSocketLike {
  static made: ScriptedSocket[] = [];
  static refuseAuth = false;
  static failToOpen = false;
  readyState = 0;
  onopen: WebSocketLike["onopen"] = null;
  onmessage: WebSocketLike["onmessage"] = null;
  onclose: WebSocketLike["onclose"] = null;
  onerror: WebSocketLike["onerror"] = null;

  constructor(readonly url: string) {
    if (ScriptedSocket.failToOpen) throw new SyntaxError("not a WebSocket URL");
    ScriptedSocket.made.push(this);
    setTimeout(() => {
      this.readyState = 1;
      this.onopen?.({});
    });
  }

  send(data: string): void {
    const frame = JSON.parse(data) as { id: number; type: string };
    if (frame.type !== "auth") return;
    if (ScriptedSocket.refuseAuth) return this.serverClose(CloseCode.Unauthenticated, "invalid token");
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    this.#push({ type: "reply", id: frame.id, ok: true, result: { uid: "u1", expiresAt } });
    const path = new URL(this.url).pathname;
    if (path.endsWith("/live") && path.split("/").length === 4) this.#push({ type: "sessions", sessions: [] });
    else this.#push({ type: "snapshot", seq: SESSION.seq, session: SESSION });
  }

  close(): void {
    this.readyState = 3;
  }

  serverClose(code: number, reason = ""): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    setTimeout(() => this.onclose?.({ code, reason }));
  }

  #push(frame: object): void {
    setTimeout(() => {
      if (this.readyState === 1) this.onmessage?.({ data: JSON.stringify(frame) });
    });
  }
}

/** Whether each token asked for was to be fresh, in order. */
const tokens: boolean[] = [];
const options = { backoffMs: 5, maxBackoffMs: 20, heartbeatMs: 0, lazy: true };

const streams: { close(): void }[] = [];
afterEach(() => {
  streams.splice(0).forEach((stream) => stream.close());
  ScriptedSocket.made = [];
  ScriptedSocket.refuseAuth = false;
  ScriptedSocket.failToOpen = false;
  tokens.length = 0;
});

/** A session's live stream or the user's list (of a new client), with the state changes it reported. */
function open(kind: "session" | "list") {
  const client = new LiveChatClient({
    baseUrl: "http://sessions.test",
    getToken: ({ forceRefresh }) => {
      tokens.push(forceRefresh);
      return "a-token";
    },
    WebSocket: ScriptedSocket,
  });
  const states: StateChange[] = [];
  const record = (change: StateChange) => void states.push(change);
  let stream: LiveSession | LiveSessions;
  if (kind === "session") (stream = client.live("s1", options)).on("state", record);
  else (stream = client.liveSessions(options)).on("state", record);
  streams.push(stream);
  stream.connect();
  return { stream, states, state: (): LiveState => stream.state };
}

/** Closes the attached stream's socket with `code`, and says what the stream did after it. */
async function afterClose(kind: "session" | "list", code: number): Promise<CloseAction> {
  const { states, state } = open(kind);
  await until("attached", () => state() === "live");
  ScriptedSocket.made.at(-1)?.serverClose(code, "from the test");
  await until(`the close ${code} seen`, () => states.some((change) => change.code === code));
  const seen = states.find((change) => change.code === code);
  if (seen?.state === "closed") {
    // A stop: no other socket is opened, ever.
    await new Promise((done) => setTimeout(done, 100));
    assert.equal(ScriptedSocket.made.length, 1, `no reconnect after ${code}`);
    assert.equal(state(), "closed");
    return "stop";
  }
  assert.equal(seen?.state, "reconnecting", `after ${code}`);
  await until(`attached again after ${code}`, () => state() === "live" && ScriptedSocket.made.length === 2);
  return "reconnect";
}

describe("close codes", () => {
  test("the table is protocol/README.md's: every code the server sends, with the same reconnect or stop", () => {
    const documented = documentedCloseCodes();
    assert.ok(documented.size >= 10, `the README's table was read (${[...documented.keys()].join(", ")})`);
    for (const [code, action] of documented) {
      assert.ok(isCloseCode(code), `${code} is in closeCodes`);
      assert.equal(closeAction(code), action, `the action after ${code}`);
    }
    const own = Object.keys(closeCodes)
      .map(Number)
      .filter((code) => !documented.has(code));
    assert.deepEqual(own, [CloseCode.ClientReconnect], "only the client's own code is not the protocol's");
    for (const [name, code] of Object.entries(CloseCode)) assert.equal(closeCodes[code].name, name);
    assert.equal(closeAction(4999), "reconnect", "an unknown code is a dropped connection");
    assert.equal(isCloseCode(4999), false);
  });

  for (const kind of ["session", "list"] as const) {
    test(`a ${kind === "session" ? "session's socket" : "user's list"} reconnects or stops after each code as the table says`, async () => {
      for (const code of Object.keys(closeCodes).map(Number)) {
        if (code === CloseCode.Unauthenticated) continue; // below: it asks for a fresh token first
        assert.equal(await afterClose(kind, code), closeAction(code), `after ${code}`);
        streams.splice(0).forEach((stream) => stream.close());
        ScriptedSocket.made = [];
      }
      for (const code of [1005, 1012, 4999]) {
        assert.equal(await afterClose(kind, code), "reconnect", `after the unknown ${code}`);
        streams.splice(0).forEach((stream) => stream.close());
        ScriptedSocket.made = [];
      }
    });
  }

  test("4001 reconnects with a fresh token, and stops after MAX_AUTH_FAILURES refusals in a row", async () => {
    assert.equal(await afterClose("session", CloseCode.Unauthenticated), "reconnect");
    assert.deepEqual(tokens, [false, true], "the reconnect asked for a fresh token");
    streams.splice(0).forEach((stream) => stream.close());
    ScriptedSocket.made = [];

    ScriptedSocket.refuseAuth = true;
    const { states, state } = open("session");
    await until("stopped", () => state() === "closed");
    assert.equal(ScriptedSocket.made.length, MAX_AUTH_FAILURES);
    assert.deepEqual(
      states.filter((change) => change.code !== undefined).map((change) => [change.state, change.code]),
      [
        ...Array.from({ length: MAX_AUTH_FAILURES - 1 }, () => ["reconnecting", CloseCode.Unauthenticated]),
        ["closed", CloseCode.Unauthenticated],
      ],
    );
  });

  test("a socket that cannot even be made stops with ProtocolError (a client bug), and close() with Normal", async () => {
    ScriptedSocket.failToOpen = true;
    const failed = open("session");
    assert.equal(failed.state(), "closed");
    assert.equal(failed.states.at(-1)?.code, CloseCode.ProtocolError);

    ScriptedSocket.failToOpen = false;
    const closed = open("list");
    await until("attached", () => closed.state() === "live");
    closed.stream.close();
    assert.deepEqual(closed.states.at(-1), { state: "closed", code: CloseCode.Normal, reason: "closed by the client" });
  });
});
