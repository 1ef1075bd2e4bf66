// Opening a session never pulls it whole through the socket when it can be avoided: LiveSession
// reads it over REST (revalidated: 304 when the client's copy is current) and attaches with
// sinceSeq, so the socket's first push is `resumed`, not a `snapshot`.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { LiveChatClient, type LiveSession } from "../src/index.js";
import { Server, interposed, newUser, token, until } from "./server.js";

let server: Server;
before(async () => {
  server = await new Server().start();
});
after(async () => {
  await server.stop();
});

const open: LiveSession[] = [];
after(() => open.forEach((live) => live.close()));

describe("opening a session", () => {
  test("reads it over REST, revalidated, and attaches from its seq: no snapshot on the socket", async () => {
    const uid = newUser();
    const frames: string[] = [];
    const statuses: number[] = [];
    const rest = new LiveChatClient({
      baseUrl: server.url,
      getToken: () => token(uid),
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
