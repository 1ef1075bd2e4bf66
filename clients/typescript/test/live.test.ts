// LiveSession against the real server: shared order, resume across kill -9, token refresh, stop
// on 4004, safe retries, and recovery from a misbehaving connection.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { LiveChatClient, type LiveSession, type Session, type SessionEvent, type StateChange } from "../src/index.js";
import { Server, appendWithoutPause, interposed, newUser, token, until } from "./server.js";

let server: Server;
before(async () => {
  server = await new Server().start();
});
after(async () => {
  await server.stop();
});

const open: LiveSession[] = [];
function watch(live: LiveSession) {
  open.push(live);
  const events: SessionEvent[] = [];
  const states: StateChange[] = [];
  live.on("event", (event) => events.push(event));
  live.on("state", (change) => states.push(change));
  return { live, events, states, seqs: () => events.map((event) => event.seq) };
}
after(() => open.forEach((live) => live.close()));

function api(uid: string, options: Partial<ConstructorParameters<typeof LiveChatClient>[0]> = {}) {
  return new LiveChatClient({ baseUrl: server.url, getToken: () => token(uid), ...options });
}

const image = (n: number) => ({ id: `img-${n}`, url: `https://images.example/${n}.png` });
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** What the server holds, without the timestamps a live copy does not follow. */
function content(session: Session | undefined) {
  assert.ok(session);
  const { updatedAt: _updatedAt, ...rest } = session;
  return rest;
}

describe("LiveSession", () => {
  test("two live sessions see the same events in the same order as the server's copy", async () => {
    const uid = newUser();
    const rest = api(uid);
    const { sessionDocId: id } = await rest.createSession({ sessionId: "s", model: "m" });
    const a = watch(rest.live(id));
    const b = watch(rest.live(id));
    await until("both attached", () => a.live.state === "live" && b.live.state === "live");
    await until("presence of both", () => a.live.connections === 2 && b.live.connections === 2);

    const first = await a.live.addMessage({ prompt: "a cat", images: [image(1)] });
    await b.live.addImage(first.messageId, image(2));
    await rest.appendMessage(id, { prompt: "over REST", images: [image(3), image(4)] });
    await a.live.update({ style: "watercolor" });
    await b.live.complete("2025-01-15T10:30:00Z");
    const again = await a.live.addMessage({ prompt: "again", images: [image(5)] });

    await until("six events on both", () => a.events.length === 6 && b.events.length === 6);
    // Ids made up by one client share its prefix and count; the server's share the session's id.
    assert.match(first.messageId, /^[A-Za-z0-9]{20}-1$/);
    assert.equal(again.messageId, first.messageId.replace(/-1$/, "-2"));
    assert.deepEqual(a.seqs(), range(1, 6));
    assert.deepEqual(b.events, a.events);
    assert.deepEqual(a.events.map((e) => e.type), ["message.added", "image.added", "message.added", "session.updated", "session.updated", "message.added"]);
    const held = await rest.getSession(id);
    assert.deepEqual(content(a.live.session), content(held));
    assert.deepEqual(content(b.live.session), content(held));
    assert.equal(held.status, "active", "an append reactivates a completed session");
    assert.equal(held.messages[1]?.id, `${id}-m3`);
  });

  test("resumes after kill -9 and a restart with no gap and no duplicate, and retries what was sent meanwhile", async () => {
    const uid = newUser();
    const rest = api(uid);
    const { sessionDocId: id } = await rest.createSession({ sessionId: "s", model: "m" });
    const watcher = watch(rest.live(id, { backoffMs: 100, maxBackoffMs: 1_000 }));
    const writer = rest.live(id, { backoffMs: 100, maxBackoffMs: 1_000, commandTimeoutMs: 30_000 });
    open.push(writer);
    await until("attached", () => watcher.live.state === "live" && writer.state === "live");

    // One writer appends without pause; the server dies in the middle of it.
    const { written, stop } = appendWithoutPause(writer, image);
    await until("some appends", () => written.length >= 20);
    await server.kill();
    await until("the watcher noticed", () => watcher.live.state !== "live");
    await new Promise((done) => setTimeout(done, 300));
    await server.restart();
    const atRestart = written.length;
    await until("appends after the restart", () => written.length >= atRestart + 20, 20_000);
    await stop();

    const held = await rest.getSession(id);
    await until("every event delivered", () => watcher.live.seq === held.seq);
    assert.deepEqual(watcher.seqs(), range(1, held.seq), "each seq delivered once, in order");
    assert.deepEqual(content(watcher.live.session), content(held));
    // No append was lost or added twice: message n holds image n, for every n written.
    assert.deepEqual(held.messages.map((m) => m.id), written.map((n) => `m-${n}`));
    assert.ok(watcher.states.some((s) => s.state === "reconnecting"), "the watcher did reconnect");
  });

  test("refreshes an expiring token on the open socket, and reconnects through a fresh one after 4001", async () => {
    const uid = newUser();
    let calls = 0;
    let refused = false;
    const rest = api(uid, {
      getToken: ({ forceRefresh }) => {
        calls += 1;
        // Tokens live 3 s. The third refresh is refused by the server once, so that token expires
        // and the socket is closed with 4001; the client must then get a fresh one and resume.
        if (forceRefresh && calls === 4 && !refused) {
          refused = true;
          return "not-a-token";
        }
        return token(uid, 3);
      },
    });
    const { sessionDocId: id } = await rest.createSession({ sessionId: "s", model: "m" });
    const watcher = watch(rest.live(id, { backoffMs: 50 }));
    await until("attached", () => watcher.live.state === "live");

    const writer = api(uid);
    let n = 0;
    const end = Date.now() + 9_000;
    while (Date.now() < end) {
      n += 1;
      await writer.appendMessage(id, { prompt: `p${n}`, images: [image(n)] });
      await new Promise((done) => setTimeout(done, 100));
    }
    await until("every event delivered", () => watcher.live.seq === n);
    assert.deepEqual(watcher.seqs(), range(1, n));
    assert.ok(refused, "a refresh was refused");
    const closes = watcher.states.filter((s) => s.state === "reconnecting");
    assert.deepEqual(closes.map((s) => s.code), [4001], "one 4001 (the refused refresh), no other reconnect");
    assert.ok(calls >= 5, `tokens were refreshed on the open socket (${calls} calls)`);
  });

  test("stops on 4004 and does not reconnect: a deleted session, or another user's", async () => {
    const uid = newUser();
    const rest = api(uid);
    const { sessionDocId: id } = await rest.createSession({ sessionId: "s", model: "m" });
    const watcher = watch(rest.live(id));
    await until("attached", () => watcher.live.state === "live");
    await rest.deleteSession(id);
    await until("closed", () => watcher.live.state === "closed");
    assert.deepEqual(watcher.events.map((e) => e.type), ["session.deleted"]);
    assert.equal(watcher.states.at(-1)?.code, 4004);
    await assert.rejects(watcher.live.ping(), { name: "LiveError", code: "closed" });

    const { sessionDocId: theirs } = await rest.createSession({ sessionId: "t", model: "m" });
    const stranger = watch(api(newUser()).live(theirs));
    await until("closed", () => stranger.live.state === "closed");
    await new Promise((done) => setTimeout(done, 1_000));
    assert.deepEqual(stranger.states.map((s) => [s.state, s.code]), [["closed", 4004]]);
    assert.equal(stranger.live.session, undefined, "nothing of another user's session is shown");
  });

  test("delivers each event once and fills a gap when the connection duplicates and loses frames", async () => {
    const uid = newUser();
    // An injected fault: a connection that delivers every event twice and loses the 3rd one.
    let eventsSeen = 0;
    const Faulty = interposed({
      receive: (data, deliver) => {
        const frame = JSON.parse(data) as { type: string };
        if (frame.type.includes(".")) {
          eventsSeen += 1;
          if (eventsSeen === 3) return;
          deliver();
        }
        deliver();
      },
    });
    const rest = api(uid);
    const { sessionDocId: id } = await rest.createSession({ sessionId: "s", model: "m" });
    const watcher = watch(api(uid, { WebSocket: Faulty }).live(id, { backoffMs: 50 }));
    await until("attached", () => watcher.live.state === "live");
    for (let n = 1; n <= 6; n++) await rest.appendMessage(id, { prompt: `p${n}`, images: [image(n)] });
    await until("six events", () => watcher.live.seq === 6);
    assert.deepEqual(watcher.seqs(), range(1, 6));
    assert.deepEqual(content(watcher.live.session), content(await rest.getSession(id)));
    assert.equal(watcher.states.filter((s) => s.state === "reconnecting").length, 1, "the gap made it reconnect once");
  });

  test("a command's reply that never comes fails with a timeout; invalid commands fail naming the field", async () => {
    const uid = newUser();
    const rest = api(uid);
    const { sessionDocId: id } = await rest.createSession({ sessionId: "s", model: "m" });
    const live = watch(rest.live(id)).live;
    await assert.rejects(live.addImage("no-such-message", image(1)), { name: "LiveError", code: "invalid_argument", field: "messageId" });
    await assert.rejects(live.addMessage({ prompt: "p", images: [{ url: "nope" }] }), { code: "invalid_argument", field: "images[0].url" });

    // A command made while the server is down waits for it, up to its deadline.
    const patient = watch(rest.live(id, { commandTimeoutMs: 800, backoffMs: 5_000, maxBackoffMs: 5_000 })).live;
    await until("attached", () => patient.state === "live");
    await server.kill();
    await until("noticed", () => patient.state === "reconnecting");
    await assert.rejects(patient.addMessage({ prompt: "lost", images: [] }), { code: "timeout", retryable: true });
    await server.restart();
  });

  test("a token that cannot be renewed is not sent again and again, and ends in closed 4001", async () => {
    const uid = newUser();
    // The same token every time, as a pasted token is: it cannot be refreshed.
    const only = token(uid, 3);
    const sent: string[] = [];
    const Recording = interposed({ send: (data) => sent.push(data) });
    const rest = api(uid);
    const { sessionDocId: id } = await rest.createSession({ sessionId: "s", model: "m" });
    const watcher = watch(api(uid, { WebSocket: Recording, getToken: () => only }).live(id, { backoffMs: 50 }));
    await until("closed", () => watcher.live.state === "closed", 15_000);
    assert.equal(watcher.states.at(-1)?.code, 4001);
    const auths = sent.filter((frame) => frame.includes('"auth"')).length;
    // The first auth, one refresh that brought nothing new, and the reconnects that failed.
    assert.ok(auths <= 4, `${auths} auth frames`);
  });

  test("opens a session the client holds by revalidating it over REST and attaching from its seq: no snapshot on the socket", async () => {
    const uid = newUser();
    const frames: string[] = [];
    const statuses: number[] = [];
    const rest = api(uid, {
      WebSocket: interposed({ receive: (data, deliver) => (frames.push(JSON.parse(data).type), deliver()) }),
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        if (String(input).includes("/live-chat-sessions/")) statuses.push(response.status);
        return response;
      },
    });
    const { sessionDocId: id } = await rest.createSession({ sessionId: "s", model: "m" });
    await rest.appendMessage(id, { prompt: "a cat", images: [{ id: "i1", url: "https://images.example/1.png" }], messageId: "m-1" });
    await rest.getSession(id);

    const snapshots: number[] = [];
    const live = rest.live(id);
    open.push(live);
    live.on("snapshot", ({ seq }) => snapshots.push(seq));
    await until("attached", () => live.state === "live");
    assert.equal(live.transport, "websocket");
    assert.equal(statuses.at(-1), 304, "the copy the client held was revalidated, not read again");
    assert.ok(!frames.includes("snapshot"), `no snapshot on the socket (${frames.join(", ")})`);
    assert.ok(frames.includes("resumed"), "the socket resumed from the REST copy's seq");
    assert.deepEqual(snapshots, [1], "the REST copy delivered as the snapshot event");
    assert.equal(live.session?.messages[0]?.id, "m-1");

    await rest.appendMessage(id, { prompt: "a dog", images: [{ id: "i2", url: "https://images.example/2.png" }], messageId: "m-2" });
    await until("the next event", () => live.seq === 2);
  });
});

