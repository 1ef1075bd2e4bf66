// The page behind a proxy that refuses WebSocket upgrades (403), in Chromium: the client falls
// back to the event stream by itself, and the page shows a live session and the live list, writes
// over REST, and a reload resumes from the tab's copy (the server counts a replay, never a
// snapshot). Screenshots go to test-results/.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";

import { Harness, RESULTS, range, shownOrders } from "./harness.js";

const h = new Harness();
let proxy = "";
before(async () => {
  await h.start();
  proxy = await h.proxy();
});
after(() => h.stop());

describe("the page behind a proxy refusing WebSockets", () => {
  test("shows a live session and the live list on the event stream, and a reload resumes without a snapshot", async () => {
    const uid = "sse-page-user";
    const { sessionDocId: first } = await h.api<{ sessionDocId: string }>(uid, "POST", "/", { sessionId: "first-session", model: "flux-kontext-pro" });
    await h.api(uid, "POST", `/${first}/messages`, { prompt: "A lighthouse at dusk", images: [{ url: `${h.imageBase}/img/1.png` }, { url: `${h.imageBase}/img/2.png` }] });

    const context = await h.browser.newContext({ viewport: { width: 1280, height: 900 } });
    const a = await h.newPage(context, "tab A");
    await a.goto(h.link(uid).replace(h.base, proxy));
    await a.getByTestId("who").filter({ hasText: uid }).waitFor();
    await a.locator("#session-list .open", { hasText: "first-session" }).click();
    await a.getByTestId("connection").filter({ hasText: "live (event stream)" }).waitFor({ timeout: 20_000 });
    assert.deepEqual(await shownOrders(a), [1, 2]);

    // The session, live: an append over REST from elsewhere, and one from the page's form.
    await h.api(uid, "POST", `/${first}/messages`, { prompt: "Add a moon", images: [{ url: `${h.imageBase}/img/3.png` }] });
    await a.locator('#messages .image[data-order="3"]').waitFor({ timeout: 5_000 });
    await a.fill("#prompt", "Add a rainbow");
    await a.fill("#urls", `${h.imageBase}/img/4.png`);
    await a.click("#add-message button[type=submit]");
    await a.locator('#messages .image[data-order="4"]').waitFor({ timeout: 5_000 });

    // The live list: a session started elsewhere appears at the top without a reload.
    const { sessionDocId: second } = await h.api<{ sessionDocId: string }>(uid, "POST", "/", { sessionId: "second-session", model: "m" });
    await h.api(uid, "POST", `/${second}/messages`, { prompt: "Make it winter", images: [{ url: `${h.imageBase}/img/9.png` }] });
    await a.locator(`#session-list > li:first-child[data-session-id="${second}"]`).waitFor({ timeout: 10_000 });
    await a.screenshot({ path: join(RESULTS, "event-stream.png"), fullPage: true });

    // A reload in the middle of a stream of appends resumes from the tab's copy.
    const replayed = await h.resumes("replayed");
    const snapshots = await h.resumes("snapshot");
    const writing = (async () => {
      for (let n = 5; n <= 20; n++) {
        await h.api(uid, "POST", `/${first}/messages`, { prompt: `Frame ${n}`, images: [{ url: `${h.imageBase}/img/${n}.png` }] });
        await new Promise((done) => setTimeout(done, 40));
      }
    })();
    await a.locator('#messages .image[data-order="8"]').waitFor();
    await a.reload();
    await writing;
    await a.getByTestId("connection").filter({ hasText: "live (event stream)" }).waitFor({ timeout: 20_000 });
    await a.locator('#messages .image[data-order="20"]').waitFor();
    assert.deepEqual(await shownOrders(a), range(1, 20), "every image once, in order");
    assert.ok((await h.resumes("replayed")) > replayed, "the reloaded tab resumed from its seq");
    assert.equal(await h.resumes("snapshot"), snapshots, "and was sent no snapshot");
    await context.close();
    // The refused upgrades (and the probe of the socket's route) are the browser's own reports.
    assert.deepEqual(
      h.problems.filter((line) => !/WebSocket connection to .* failed|status of 4\d\d/.test(line)),
      [],
    );
  });
});
