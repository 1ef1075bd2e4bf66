// The event stream: where a proxy refuses WebSocket upgrades (UpgradeRefusingProxy answers 403),
// LiveSession and LiveSessions fall back to Server-Sent Events by themselves, deliver every event
// once and in order across a kill -9 of the server, write over REST, and handle tokens and close
// codes as on a socket; `transport: "sse"` asks for the stream at once.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { FALLBACK_AFTER, LiveChatClient, type LiveSession, type LiveSessions, type Session, type SessionEvent, type StateChange } from "../src/index.js";
import { Server, appendWithoutPause, UpgradeRefusingProxy, newUser, token, until } from "./server.js";

let server: Server;
let proxy: UpgradeRefusingProxy;
before(async () => {
  server = await new Server().start();
  proxy = await new UpgradeRefusingProxy(() => server.url).start();
});
after(async () => {
  await proxy.stop();
  await server.stop();
});

const open: Array<LiveSession | LiveSessions> = [];
after(() => open.forEach((live) => live.close()));

function api(uid: string, baseUrl: string, options: Partial<ConstructorParameters<typeof LiveChatClient>[0]> = {}) {
  return new LiveChatClient({ baseUrl, getToken: () => token(uid), ...options });
}

function watch(live: LiveSession) {
  open.push(live);
  const events: SessionEvent[] = [];
  const states: StateChange[] = [];
  let snapshots = 0;
  live.on("event", (event) => events.push(event));
  live.on("state", (change) => states.push(change));
  live.on("snapshot", () => (snapshots += 1));
  return { live, events, states, snapshots: () => snapshots, seqs: () => events.map((event) => event.seq) };
}

const image = (n: number) => ({ id: `img-${n}`, url: `https://images.example/${n}.png` });
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

function content(session: Session | undefined) {
  assert.ok(session);
  const { updatedAt: _updatedAt, ...rest } = session;
  return rest;
}

describe("the event stream", () => {
  test("behind a proxy refusing upgrades, LiveSession falls back to SSE and delivers every event once across kill -9", async () => {
    const uid = newUser();
    const rest = api(uid, proxy.url);
    const { sessionDocId: id } = await rest.createSession({ sessionId: "s", model: "m" });
    const refusedBefore = proxy.refused;
    const watcher = watch(rest.live(id, { backoffMs: 50, maxBackoffMs: 1_000 }));
    const writer = rest.live(id, { backoffMs: 50, maxBackoffMs: 1_000, commandTimeoutMs: 30_000 });
    open.push(writer);
    await until("both live on the event stream", () => watcher.live.state === "live" && writer.state === "live", 15_000);
    assert.equal(watcher.live.transport, "sse");
    assert.equal(writer.transport, "sse");
    assert.ok(proxy.refused - refusedBefore >= 2 * FALLBACK_AFTER, "each tried WebSockets first");

    // Writes go over REST; one writer appends without pause while the server dies.
    const { written, stop } = appendWithoutPause(writer, image);
    await until("some appends", () => written.length >= 10);
    await writer.update({ style: "watercolor" });
    await server.kill();
    await until("the watcher noticed", () => watcher.live.state !== "live");
    await new Promise((done) => setTimeout(done, 300));
    await server.restart();
    const atRestart = written.length;
    await until("appends after the restart", () => written.length >= atRestart + 10, 20_000);
    await stop();
    await writer.complete("2025-01-15T10:30:00Z");

    const held = await rest.getSession(id);
    await until("every event delivered", () => watcher.live.seq === held.seq, 15_000);
    assert.deepEqual(watcher.seqs(), range(1, held.seq), "each seq delivered once, in order");
    assert.deepEqual(content(watcher.live.session), content(held));
    assert.deepEqual(held.messages.map((m) => m.id), written.map((n) => `m-${n}`));
    assert.equal(held.status, "completed");
    assert.equal(watcher.snapshots(), 1, "the reconnect resumed from its seq: one snapshot, the first");
    assert.ok(watcher.states.some((s) => s.state === "reconnecting"), "the watcher did reconnect");
    assert.equal(watcher.live.transport, "sse", "it stayed on the event stream");
  });

  test("behind the same proxy, LiveSessions falls back to SSE and follows every change across kill -9", async () => {
    const uid = newUser();
    const rest = api(uid, proxy.url);
    const list = rest.liveSessions({ backoffMs: 50, maxBackoffMs: 1_000 });
    open.push(list);
    const changes: string[] = [];
    list.on("changed", ({ id, seq }) => changes.push(`${id}@${seq}`));
    await until("live on the event stream", () => list.state === "live", 15_000);
    assert.equal(list.transport, "sse");

    const { sessionDocId: a } = await rest.createSession({ sessionId: "a", model: "m" });
    const { sessionDocId: b } = await rest.createSession({ sessionId: "b", model: "m" });
    await rest.appendMessage(a, { prompt: "one", images: [image(1)], messageId: "m-1" });
    await until("both listed", () => list.get(a)?.seq === 1 && list.get(b) !== undefined);

    await server.kill();
    await until("the list noticed", () => list.state !== "live");
    await server.restart();
    await rest.appendMessage(b, { prompt: "two", images: [image(2)], messageId: "m-2" });
    await rest.deleteSession(a);
    await until("the change and the removal followed", () => list.get(b)?.seq === 1 && list.get(a) === undefined, 15_000);
    assert.deepEqual(list.sessions.map((s) => s.id), [b]);
    assert.equal(new Set(changes).size, changes.length, "no change delivered twice");
    assert.ok(list.snapshots >= 2, "each attach started with the list's page");
    assert.equal(list.transport, "sse");
  });

  test("transport sse: signals over REST, a stop on 4004, and a fresh token after expiry", async () => {
    const uid = newUser();
    const tokens: string[] = [];
    const rest = api(uid, server.url, {
      getToken: () => {
        const fresh = token(uid, 3);
        tokens.push(fresh);
        return fresh;
      },
    });
    const { sessionDocId: id } = await rest.createSession({ sessionId: "s", model: "m" });
    const a = watch(rest.live(id, { transport: "sse", backoffMs: 50 }));
    const b = watch(rest.live(id, { transport: "sse", backoffMs: 50 }));
    const signals: unknown[] = [];
    b.live.on("signal", ({ data }) => signals.push(data));
    await until("both live", () => a.live.state === "live" && b.live.state === "live");
    assert.equal(a.live.transport, "sse");

    // Tokens live 3 s: the streams are reopened with fresh ones (or closed with 4001 and
    // resumed); either way nothing is lost.
    const end = Date.now() + 7_000;
    let n = 0;
    while (Date.now() < end) {
      n += 1;
      await a.live.addMessage({ prompt: `p${n}`, images: [image(n)], messageId: `m-${n}` });
      await new Promise((done) => setTimeout(done, 100));
    }
    await a.live.signal({ hello: "b" });
    await until("the signal", () => signals.length === 1);
    assert.deepEqual(signals, [{ hello: "b" }]);
    await until("every event on b", () => b.live.seq === n);
    assert.deepEqual(b.seqs(), range(1, n));
    assert.ok(tokens.length > 3, "fresh tokens were asked for");

    await rest.deleteSession(id);
    await until("stopped on 4004", () => b.live.state === "closed");
    assert.equal(b.states.at(-1)?.code, 4004);
    assert.equal(b.events.at(-1)?.type, "session.deleted");
  });
});
