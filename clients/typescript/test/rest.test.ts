// Every REST route through the client, against the real server.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { ApiError, LiveChatClient } from "../src/index.js";
import { Server, newUser, token } from "./server.js";

let server: Server;
before(async () => {
  server = await new Server().start();
});
after(async () => {
  await server.stop();
});

/** A client for a new user, recording the status of every answer it receives. */
function client(uid = newUser()) {
  const statuses: number[] = [];
  const refreshes: boolean[] = [];
  const api = new LiveChatClient({
    baseUrl: server.url,
    getToken: ({ forceRefresh }) => {
      refreshes.push(forceRefresh);
      return token(uid);
    },
    fetch: async (input, init) => {
      const response = await fetch(input, init);
      statuses.push(response.status);
      return response;
    },
  });
  return { api, uid, statuses, refreshes };
}

const image = (n: number, extra = {}) => ({ id: `img-${n}`, url: `https://images.example/${n}.png`, ...extra });

describe("the REST client", () => {
  test("creates, finds and appends to a session, and reads it back", async () => {
    const { api, uid } = client();
    const { sessionDocId } = await api.createSession({ sessionId: "session-1", model: "flux-kontext-pro", frameSize: "1024x1024" });
    const found = await api.findOrCreateSession({ sessionId: "session-1", model: "flux-kontext-pro" });
    assert.deepEqual(found, { sessionDocId, created: false });
    const other = await api.findOrCreateSession({ sessionId: "session-2", model: "flux-kontext-pro" });
    assert.equal(other.created, true);
    assert.notEqual(other.sessionDocId, sessionDocId);

    const appended = await api.appendMessage(sessionDocId, {
      prompt: "Make the sky blue",
      images: [image(1), image(2, { firebaseUrl: "https://firebase.example/2.png" })],
      messageId: "msg-1",
    });
    assert.deepEqual(appended, { messageId: "msg-1", orders: [1, 2], seq: 1 });
    // A retry with the same messageId changes nothing and is answered like the original.
    assert.deepEqual(await api.appendMessage(sessionDocId, { prompt: "Make the sky blue", images: [image(1), image(2)], messageId: "msg-1" }), appended);

    const session = await api.getSession(sessionDocId);
    assert.equal(session.uid, uid);
    assert.equal(session.seq, 1);
    assert.deepEqual(session.imageUrls, ["https://images.example/1.png", "https://images.example/2.png"]);
    assert.deepEqual(session.images.map((i) => [i.order, i.prompt, i.messageId]), [[1, "Make the sky blue", "msg-1"], [2, "Make the sky blue", "msg-1"]]);
  });

  test("revalidates get and restore with If-None-Match: an unchanged session costs a 304", async () => {
    const { api, statuses } = client();
    const { sessionDocId } = await api.createSession({ sessionId: "s", model: "m" });
    await api.appendMessage(sessionDocId, { prompt: "p", images: [image(7)] });

    const first = await api.getSession(sessionDocId);
    const again = await api.getSession(sessionDocId);
    assert.deepEqual(again, first);
    const restored = await api.getSessionByImageUrl("https://images.example/7.png");
    const restoredAgain = await api.getSessionByImageUrl("https://images.example/7.png");
    assert.equal(restored.id, sessionDocId);
    assert.deepEqual(restoredAgain, restored);
    assert.deepEqual(statuses.slice(-4), [200, 304, 200, 304]);

    // A change gives a new answer, and a 304 for it afterwards.
    await api.appendMessage(sessionDocId, { prompt: "more", images: [image(8)] });
    const changed = await api.getSession(sessionDocId);
    assert.equal(changed.seq, 2);
    assert.equal(changed.totalImages, 2);
    assert.equal((await api.getSession(sessionDocId)).seq, 2);
    assert.deepEqual(statuses.slice(-2), [200, 304]);
  });

  test("lists the caller's sessions page by page, filtered by status", async () => {
    const { api } = client();
    const ids: string[] = [];
    for (let n = 0; n < 5; n++) ids.push((await api.createSession({ sessionId: `s-${n}`, model: "m" })).sessionDocId);
    await api.completeSession(ids[1]!);
    await api.completeSession(ids[3]!, { completedAt: "2025-01-15T10:30:00Z" });

    const first = await api.listSessions({ limit: 2 });
    assert.equal(first.sessions.length, 2);
    assert.ok(first.nextCursor);
    const seen: string[] = [];
    for await (const session of api.allSessions({ limit: 2 })) seen.push(session.id);
    assert.deepEqual([...seen].sort(), [...ids].sort());
    assert.deepEqual(seen.slice(0, 2), first.sessions.map((s) => s.id));

    const completed = await api.listSessions({ status: "completed" });
    assert.deepEqual(completed.sessions.map((s) => s.id).sort(), [ids[1], ids[3]].sort());
    assert.equal(completed.nextCursor, undefined);
    assert.equal(completed.sessions.find((s) => s.id === ids[3])?.completedAt, "2025-01-15T10:30:00.000Z");
  });

  test("completes, updates and deletes a session", async () => {
    const { api } = client();
    const { sessionDocId } = await api.createSession({ sessionId: "s", model: "m" });
    assert.deepEqual(await api.completeSession(sessionDocId), { seq: 1 });
    assert.equal((await api.getSession(sessionDocId)).status, "completed");
    assert.deepEqual(await api.updateSession(sessionDocId, { status: "active", style: "watercolor" }), { seq: 2 });
    const updated = await api.getSession(sessionDocId);
    assert.equal(updated.status, "active");
    assert.equal(updated.style, "watercolor");
    assert.equal(updated.completedAt, undefined);

    await api.deleteSession(sessionDocId);
    await assert.rejects(api.getSession(sessionDocId), (error: ApiError) => error.status === 404 && error.code === "not_found");
  });

  test("turns error envelopes into ApiErrors naming the code and the field", async () => {
    const { api } = client();
    const { sessionDocId } = await api.createSession({ sessionId: "s", model: "m" });
    await assert.rejects(
      api.appendMessage(sessionDocId, { prompt: "p", images: [{ url: "not a url" }] }),
      (error: ApiError) => error.status === 400 && error.code === "invalid_argument" && error.field === "images[0].url" && !error.retryable,
    );
    await assert.rejects(
      api.createSession({ sessionId: "s", model: "m" }),
      (error: ApiError) => error.status === 409 && error.code === "conflict" && error.data.sessionDocId === sessionDocId,
    );
    // Another user's session is not found, like one that does not exist.
    const stranger = client().api;
    await assert.rejects(stranger.getSession(sessionDocId), (error: ApiError) => error.code === "not_found");
    await assert.rejects(stranger.getSessionByImageUrl("https://images.example/none.png"), (error: ApiError) => error.status === 404);
    await assert.rejects(api.listSessions({ cursor: "garbage" }), (error: ApiError) => error.status === 400 && error.field === "cursor");
  });

  test("asks for a fresh token when the server refuses the one it holds", async () => {
    const uid = newUser();
    const refreshes: boolean[] = [];
    const api = new LiveChatClient({
      baseUrl: server.url,
      getToken: ({ forceRefresh }) => {
        refreshes.push(forceRefresh);
        // The first token has already expired.
        return token(uid, forceRefresh ? 3600 : -10);
      },
    });
    const { sessionDocId } = await api.createSession({ sessionId: "s", model: "m" });
    assert.deepEqual(refreshes, [false, true]);
    assert.equal((await api.getSession(sessionDocId)).uid, uid);
    assert.deepEqual(refreshes, [false, true], "the fresh token is kept for later requests");
  });

  test("reports a server that cannot be reached as a retryable network error", async () => {
    const api = new LiveChatClient({ baseUrl: "http://127.0.0.1:9", getToken: () => token(newUser()) });
    await assert.rejects(api.getSession("x"), (error: ApiError) => error.status === 0 && error.code === "network" && error.retryable);
  });
});
