// LiveSessions (the user's live list) against the real server: the snapshot, then the summary of
// every change made over REST and over another socket, removals, a status filter, further pages,
// a fresh snapshot after a dropped connection, and token refresh on the open socket. And the
// summaries of the list route (`view=summary`) that it is compared with.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { LiveChatClient, type LiveSessions, type StateChange, type Summary } from "../src/index.js";
import { Server, interposed, newUser, token, until } from "./server.js";

let server: Server;
before(async () => {
  server = await new Server().start();
});
after(async () => {
  await server.stop();
});

const open: { close(): void }[] = [];
after(() => open.forEach((live) => live.close()));

function api(uid: string, options: Partial<ConstructorParameters<typeof LiveChatClient>[0]> = {}) {
  return new LiveChatClient({ baseUrl: server.url, getToken: () => token(uid), ...options });
}

/** Follows a list, recording what it says and checking that no session's summary goes back. */
function watch(list: LiveSessions) {
  open.push(list);
  const states: StateChange[] = [];
  const changed: { id: string; seq: number }[] = [];
  const removed: { id: string; seq: number }[] = [];
  const backwards: string[] = [];
  const last = new Map<string, number>();
  list.on("state", (change) => states.push(change));
  list.on("changed", ({ id, seq, session }) => {
    changed.push({ id, seq });
    assert.equal(session.id, id);
    assert.equal(session.seq, seq);
    if ((last.get(id) ?? -1) >= seq) backwards.push(`${id}: ${last.get(id)} then ${seq}`);
    last.set(id, seq);
  });
  list.on("snapshot", ({ sessions }) => sessions.forEach((s) => last.set(s.id, s.seq)));
  list.on("removed", (removal) => removed.push(removal));
  const ids = () => list.sessions.map((s) => s.id);
  return { list, states, changed, removed, backwards, ids };
}

const image = (n: number) => ({ id: `img-${n}`, url: `https://images.example/${n}.png` });

/** What the list route says, as summaries, for the same filter. */
async function summaries(rest: LiveChatClient, options: { status?: "active" | "completed" | "failed"; limit?: number } = {}) {
  return (await rest.listSessions({ view: "summary", limit: 100, ...options })).sessions;
}

/** Waits until the list holds exactly what the list route answers. */
async function converged(rest: LiveChatClient, list: LiveSessions, options: { status?: "active" | "completed" | "failed" } = {}) {
  let expected: Summary[] = [];
  const end = Date.now() + 10_000;
  for (;;) {
    expected = await summaries(rest, options);
    try {
      assert.deepEqual(list.sessions, expected);
      return;
    } catch (error) {
      if (Date.now() > end) throw error;
    }
    await new Promise((done) => setTimeout(done, 50));
  }
}

describe("the list route's summaries", () => {
  test("view=summary leaves out messages and image lists, and carries the last six images", async () => {
    const rest = api(newUser());
    const { sessionDocId: id } = await rest.createSession({ sessionId: "s", model: "m", style: "ink" });
    await rest.appendMessage(id, { prompt: "first", images: [image(1), image(2), image(3)], messageId: "m-1" });
    await rest.appendMessage(id, { prompt: "second", images: [image(4), image(5), image(6), image(7), image(8)], messageId: "m-2" });

    const { sessions } = await rest.listSessions({ view: "summary" });
    assert.equal(sessions.length, 1);
    const summary = sessions[0]!;
    const full = await rest.getSession(id);
    const { messages: _m, images: _i, imageUrls: _u, imageOrderMap: _o, ...fields } = full;
    const { lastImages, ...rest_ } = summary;
    assert.deepEqual(rest_, fields, "a summary is the session without its messages and image lists");
    assert.deepEqual(
      lastImages,
      [3, 4, 5, 6, 7, 8].map((n) => ({ url: image(n).url, order: n, messageId: n <= 3 ? "m-1" : "m-2" })),
      "the last six images, ascending by order",
    );
    assert.equal(summary.totalImages, 8);
    assert.equal("messages" in summary, false);

    // The default view is unchanged: whole sessions.
    const page = await rest.listSessions();
    assert.deepEqual(page.sessions[0]?.messages.map((m) => m.id), ["m-1", "m-2"]);
  });
});

describe("LiveSessions", () => {
  test("gets the first page as a snapshot, then the summary of every change, from REST and from another socket", async () => {
    const uid = newUser();
    const rest = api(uid);
    const ids: string[] = [];
    for (let n = 0; n < 3; n++) ids.push((await rest.createSession({ sessionId: `s-${n}`, model: "m" })).sessionDocId);
    const [a, b, c] = ids as [string, string, string];

    const watcher = watch(rest.liveSessions());
    await until("attached", () => watcher.list.state === "live");
    assert.equal(watcher.list.snapshots, 1);
    assert.deepEqual(watcher.list.sessions, await summaries(rest), "the snapshot is the list route's first page");
    assert.deepEqual(watcher.ids(), [c, b, a], "most recently updated first");

    // Over REST: an append moves the oldest session to the top, with its thumbnail.
    await rest.appendMessage(a, { prompt: "p", images: [image(1)], messageId: "m-a" });
    await until("a on top", () => watcher.ids()[0] === a && watcher.list.get(a)?.totalImages === 1);
    assert.deepEqual(watcher.list.get(a)?.lastImages, [{ url: image(1).url, order: 1, messageId: "m-a" }]);

    // Over another socket: a message and an image.
    const live = rest.live(b);
    open.push(live);
    const { messageId } = await live.addMessage({ prompt: "q", images: [image(2), image(3)] });
    await live.addImage(messageId, image(4));
    await until("b on top with three images", () => watcher.ids()[0] === b && watcher.list.get(b)?.totalImages === 3);
    assert.deepEqual(watcher.list.get(b)?.lastImages.map((i) => i.order), [1, 2, 3]);
    await live.update({ style: "watercolor" });
    await until("b's style", () => watcher.list.get(b)?.style === "watercolor");

    // Complete, update, find-or-create that creates (seq 0), find-or-create that finds (no change).
    await rest.completeSession(c, { completedAt: "2025-01-15T10:30:00Z" });
    await until("c completed", () => watcher.list.get(c)?.status === "completed");
    assert.equal(watcher.list.get(c)?.completedAt, "2025-01-15T10:30:00.000Z");
    await rest.updateSession(a, { model: "other-model" });
    const { sessionDocId: d } = await rest.findOrCreateSession({ sessionId: "s-new", model: "m" });
    await until("d on top", () => watcher.ids()[0] === d);
    assert.equal(watcher.list.get(d)?.seq, 0);
    await rest.findOrCreateSession({ sessionId: "s-new", model: "m" });

    await converged(rest, watcher.list);
    assert.equal(watcher.list.get(a)?.model, "other-model");
    assert.deepEqual(watcher.backwards, [], "no summary went back in seq");
    assert.deepEqual(watcher.removed, []);
    assert.equal(watcher.list.snapshots, 1, "no reconnect");

    // Another user's changes never reach it.
    const stranger = api(newUser());
    const { sessionDocId: theirs } = await stranger.createSession({ sessionId: "s-0", model: "m" });
    await stranger.appendMessage(theirs, { prompt: "x", images: [image(9)] });
    await rest.appendMessage(d, { prompt: "after", images: [] });
    await until("d's change", () => watcher.list.get(d)?.seq === 1);
    assert.equal(watcher.list.get(theirs), undefined);
    assert.ok(!watcher.changed.some((change) => change.id === theirs));
  });

  test("drops a deleted session; with a status filter, drops one that leaves it and takes it back when it returns", async () => {
    const uid = newUser();
    const rest = api(uid);
    const { sessionDocId: a } = await rest.createSession({ sessionId: "a", model: "m" });
    const { sessionDocId: b } = await rest.createSession({ sessionId: "b", model: "m" });
    const all = watch(rest.liveSessions());
    const active = watch(rest.liveSessions({ status: "active" }));
    await until("attached", () => all.list.state === "live" && active.list.state === "live");
    assert.deepEqual(active.ids(), [b, a]);

    await rest.deleteSession(a);
    await until("a gone", () => all.list.get(a) === undefined && active.list.get(a) === undefined);
    assert.deepEqual(all.removed.map((r) => r.id), [a]);
    assert.equal(all.removed[0]?.seq, 1, "one past the session's last event");

    await rest.completeSession(b);
    await until("b completed in the full list", () => all.list.get(b)?.status === "completed");
    await until("b gone from the active list", () => active.list.get(b) === undefined);
    assert.deepEqual(active.removed.map((r) => [r.id, r.seq]), [[a, 1], [b, 1]]);

    await rest.updateSession(b, { status: "active" });
    await until("b back in the active list", () => active.list.get(b)?.seq === 2);
    await converged(rest, all.list);
    await converged(rest, active.list, { status: "active" });
    assert.deepEqual([...all.backwards, ...active.backwards], []);
  });

  test("reads further pages with more(), and follows them live too", async () => {
    const uid = newUser();
    const rest = api(uid);
    const ids: string[] = [];
    for (let n = 0; n < 5; n++) ids.push((await rest.createSession({ sessionId: `s-${n}`, model: "m" })).sessionDocId);
    const watcher = watch(rest.liveSessions({ limit: 2 }));
    await until("attached", () => watcher.list.state === "live");
    assert.deepEqual(watcher.ids(), [ids[4], ids[3]]);
    assert.ok(watcher.list.nextCursor);
    assert.equal(await watcher.list.more(), true);
    assert.deepEqual(watcher.ids(), [ids[4], ids[3], ids[2], ids[1]]);
    assert.equal(await watcher.list.more(), false);
    assert.deepEqual(watcher.ids(), [...ids].reverse());
    assert.equal(await watcher.list.more(), false, "nothing more to read");

    // The oldest session, from the last page, changes: it moves to the top.
    await rest.appendMessage(ids[0]!, { prompt: "p", images: [image(1)] });
    await until("the oldest on top", () => watcher.ids()[0] === ids[0]);
    await converged(rest, watcher.list);
  });

  test("after a dropped connection, resumes with a fresh snapshot holding what it missed", async () => {
    const uid = newUser();
    const rest = api(uid);
    const { sessionDocId: a } = await rest.createSession({ sessionId: "a", model: "m" });
    const { sessionDocId: b } = await rest.createSession({ sessionId: "b", model: "m" });
    // An injected fault: while `deaf`, the connection loses every frame the server sends.
    let deaf = false;
    const Lossy = interposed({ receive: (_data, deliver) => (deaf ? undefined : deliver()) });
    const watcher = watch(api(uid, { WebSocket: Lossy }).liveSessions({ backoffMs: 100, maxBackoffMs: 500 }));
    await until("attached", () => watcher.list.state === "live");
    assert.deepEqual(watcher.ids(), [b, a]);

    // Changes the list never hears of, then the connection drops (the server is killed).
    deaf = true;
    await rest.appendMessage(a, { prompt: "missed", images: [image(1)] });
    await rest.deleteSession(b);
    const { sessionDocId: c } = await rest.createSession({ sessionId: "c", model: "m" });
    await new Promise((done) => setTimeout(done, 300));
    assert.deepEqual(watcher.ids(), [b, a], "nothing was heard");
    await server.kill();
    await until("the list noticed", () => watcher.list.state !== "live");
    deaf = false;
    await server.restart();

    await until("a second snapshot", () => watcher.list.snapshots === 2 && watcher.list.state === "live");
    assert.deepEqual(watcher.ids(), [c, a], "the snapshot holds what was missed, and not the deleted session");
    assert.equal(watcher.list.get(a)?.totalImages, 1);
    await converged(rest, watcher.list);
    assert.ok(watcher.states.some((s) => s.state === "reconnecting"));

    // Live again: changes flow.
    await rest.appendMessage(c, { prompt: "after", images: [image(2)] });
    await until("c's change", () => watcher.list.get(c)?.totalImages === 1);
    assert.deepEqual(watcher.backwards, []);
  });

  test("never moves a session back when the connection delivers stale and duplicated summaries", async () => {
    const uid = newUser();
    const rest = api(uid);
    const { sessionDocId: id } = await rest.createSession({ sessionId: "s", model: "m" });
    // An injected fault: every session.changed arrives twice, then the one before it again.
    let previous: (() => void) | undefined;
    const Stale = interposed({
      receive: (data, deliver) => {
        deliver();
        if ((JSON.parse(data) as { type: string }).type !== "session.changed") return;
        deliver();
        previous?.();
        previous = deliver;
      },
    });
    const watcher = watch(api(uid, { WebSocket: Stale }).liveSessions());
    const seen: number[] = [];
    watcher.list.on("sessions", () => seen.push(watcher.list.get(id)?.seq ?? -1));
    await until("attached", () => watcher.list.state === "live");
    for (let n = 1; n <= 5; n++) await rest.appendMessage(id, { prompt: `p${n}`, images: [image(n)] });
    await until("seq 5", () => watcher.list.get(id)?.seq === 5);
    await new Promise((done) => setTimeout(done, 200));
    assert.equal(watcher.list.get(id)?.totalImages, 5);
    assert.deepEqual(seen, [...seen].sort((x, y) => x - y), "the list's copy only moved forward");
    assert.deepEqual(watcher.backwards, []);
    assert.equal(new Set(watcher.changed.map((c) => c.seq)).size, watcher.changed.length, "each summary applied once");
    await converged(rest, watcher.list);
  });

  test("refreshes an expiring token on the open socket, without reconnecting", async () => {
    const uid = newUser();
    let calls = 0;
    const rest = api(uid, {
      getToken: () => {
        calls += 1;
        return token(uid, 3);
      },
    });
    const { sessionDocId: id } = await rest.createSession({ sessionId: "s", model: "m" });
    const watcher = watch(rest.liveSessions());
    await until("attached", () => watcher.list.state === "live");
    // Tokens live 3 s: past 6 s the socket is still open only if it refreshed its token.
    await new Promise((done) => setTimeout(done, 6_500));
    await rest.appendMessage(id, { prompt: "p", images: [image(1)] });
    await until("the change", () => watcher.list.get(id)?.seq === 1);
    assert.deepEqual(watcher.states.map((s) => s.state), ["live"], "attached once, never reconnected");
    assert.ok(calls >= 3, `tokens were refreshed on the open socket (${calls} calls)`);
    assert.equal(watcher.list.snapshots, 1);
  });

  test("stops for good on close(), and refuses commands then", async () => {
    const rest = api(newUser());
    const watcher = watch(rest.liveSessions());
    await until("attached", () => watcher.list.state === "live");
    await watcher.list.ping();
    watcher.list.close();
    assert.equal(watcher.list.state, "closed");
    await assert.rejects(watcher.list.ping(), { name: "LiveError", code: "closed" });
  });
});
