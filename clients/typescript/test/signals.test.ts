// Signals against the real server: `live.signal(data)` and `sendSignal` over REST reach every
// other socket of the session as a `signal` event, never the sender, never another session; they
// change nothing in the session; a signal over the size limit is refused naming `data`.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { ApiError, LiveChatClient, type LiveEvents, type LiveSession } from "../src/index.js";
import { Server, newUser, token, until } from "./server.js";

let server: Server;
before(async () => {
  server = await new Server().start();
});
after(async () => {
  await server.stop();
});

const open: LiveSession[] = [];
after(() => open.forEach((live) => live.close()));

function api(uid: string) {
  return new LiveChatClient({ baseUrl: server.url, getToken: () => token(uid) });
}

function watch(live: LiveSession) {
  open.push(live);
  const signals: LiveEvents["signal"][] = [];
  const events: string[] = [];
  live.on("signal", (signal) => signals.push(signal));
  live.on("event", (event) => events.push(event.type));
  return { live, signals, events };
}

const settle = () => new Promise((done) => setTimeout(done, 500));

describe("signals", () => {
  test("reach the other sockets of the session, not the sender and not another session", async () => {
    const uid = newUser();
    const rest = api(uid);
    const { sessionDocId: id } = await rest.createSession({ sessionId: "s", model: "m" });
    const { sessionDocId: other } = await rest.createSession({ sessionId: "t", model: "m" });
    await rest.appendMessage(id, { prompt: "p", images: [{ url: "https://images.example/1.png" }] });
    const a = watch(rest.live(id));
    const b = watch(rest.live(id));
    const c = watch(rest.live(other));
    await until("attached", () => [a, b, c].every((w) => w.live.state === "live"));

    const progress = { kind: "generation", generation: "g-1", state: "progress", progress: 0.4 };
    assert.deepEqual(await a.live.signal(progress), { seq: 1 }, "the session's seq when sent");
    await until("b got it", () => b.signals.length === 1);
    const received = b.signals[0]!;
    assert.deepEqual(received.data, progress);
    assert.equal(received.seq, 1);
    assert.equal(typeof received.from, "string");
    assert.notEqual(received.from, "rest");

    // Any JSON value; in the order sent by one socket.
    await a.live.signal("text");
    await a.live.signal([1, null, { nested: true }]);
    await until("b got them", () => b.signals.length === 3);
    assert.deepEqual(b.signals.map((s) => s.data), [progress, "text", [1, null, { nested: true }]]);
    assert.ok(b.signals.every((s) => s.from === received.from), "one sender, one `from`");

    // From b to a: a hears b, with another `from`.
    await b.live.signal({ kind: "generation", generation: "g-1", state: "done", messageId: "m-9" });
    await until("a got it", () => a.signals.length === 1);
    assert.notEqual(a.signals[0]?.from, received.from);

    await settle();
    assert.equal(a.signals.length, 1, "a sender never hears its own signals");
    assert.equal(b.signals.length, 3);
    assert.deepEqual(c.signals, [], "nothing reaches another session's socket");
    assert.deepEqual([...a.events, ...b.events, ...c.events], [], "signals are not events");
    const held = await rest.getSession(id);
    assert.equal(held.seq, 1, "signals change nothing in the session");
    assert.equal(a.live.seq, 1);
  });

  test("sendSignal over REST reaches every socket of the session, from `rest`", async () => {
    const uid = newUser();
    const rest = api(uid);
    const { sessionDocId: id } = await rest.createSession({ sessionId: "s", model: "m" });
    const a = watch(rest.live(id));
    const b = watch(rest.live(id));
    await until("attached", () => a.live.state === "live" && b.live.state === "live");

    const started = { kind: "generation", generation: "g-2", state: "started", prompt: "a fox" };
    assert.deepEqual(await rest.sendSignal(id, started), { seq: 0 });
    await until("both got it", () => a.signals.length === 1 && b.signals.length === 1);
    assert.deepEqual(a.signals, [{ from: "rest", seq: 0, data: started }]);
    assert.deepEqual(b.signals, a.signals);
    assert.equal((await rest.getSession(id)).seq, 0);
  });

  test("a signal over the size limit is refused naming data; another user's session is not found", async () => {
    const uid = newUser();
    const rest = api(uid);
    const { sessionDocId: id } = await rest.createSession({ sessionId: "s", model: "m" });
    const a = watch(rest.live(id));
    const b = watch(rest.live(id));
    await until("attached", () => a.live.state === "live" && b.live.state === "live");

    const big = "x".repeat(5_000);
    await assert.rejects(a.live.signal(big), { name: "LiveError", code: "invalid_argument", field: "data" });
    await assert.rejects(rest.sendSignal(id, big), (error: ApiError) => error.status === 413 && error.code === "payload_too_large");
    // Just under the default limit of 4096 bytes encoded (the quotes count).
    await a.live.signal("y".repeat(4_000));
    await until("b got the one that fits", () => b.signals.length === 1);
    await settle();
    assert.equal(b.signals.length, 1, "the refused ones went nowhere");
    assert.equal(a.live.state, "live", "a refused signal leaves the socket open");

    await assert.rejects(api(newUser()).sendSignal(id, { hello: 1 }), (error: ApiError) => error.status === 404 && error.code === "not_found");
  });
});
