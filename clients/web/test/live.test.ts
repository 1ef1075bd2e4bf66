// The page's live list and generations in progress, in Chromium, with two tabs of one user (two
// pages of one browser context share the sign-in): a session started or grown in one tab moves to
// the top of the other's list with its thumbnails, without a reload; a deleted one leaves; a
// generation announced by signals over REST shows in both tabs until its image commits, or until
// it fails. Screenshots go to test-results/.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";

import type { Page } from "playwright-core";

import { Harness, RESULTS, shownOrders } from "./harness.js";

const h = new Harness();
before(() => h.start());
after(() => h.stop());

/** The ids of the list's items, top first. */
const listed = (page: Page) =>
  page.$$eval("#session-list li[data-session-id]", (nodes) => nodes.map((node) => (node as HTMLElement).dataset.sessionId));

/** The list's first item is this session, showing this thumbnail. */
const onTop = (page: Page, id: string, url: string) =>
  page.locator(`#session-list > li:first-child[data-session-id="${id}"] .thumb[data-url="${url}"]`);

describe("the live page", () => {
  test("a session started or grown in tab A moves to the top of tab B's list within a second; a deleted one leaves", async () => {
    const uid = "live-list-user";
    const { sessionDocId: older } = await h.api<{ sessionDocId: string }>(uid, "POST", "/", { sessionId: "older-session", model: "flux-kontext-pro" });
    await h.api(uid, "POST", `/${older}/messages`, { prompt: "A harbour", images: [{ url: `${h.imageBase}/img/1.png` }] });
    const { sessionDocId: doomed } = await h.api<{ sessionDocId: string }>(uid, "POST", "/", { sessionId: "doomed-session", model: "flux-kontext-pro" });

    const context = await h.browser.newContext({ viewport: { width: 1280, height: 900 } });
    const a = await h.newPage(context, "tab A");
    await a.goto(h.link(uid));
    await a.locator(`#session-list li[data-session-id="${older}"]`).waitFor();
    const b = await h.newPage(context, "tab B");
    await b.goto(`${h.base}/`);
    await b.locator(`#session-list li[data-session-id="${older}"]`).waitFor();
    assert.deepEqual(await listed(b), [doomed, older]);
    // Marks tab B's document: a reload would lose the mark.
    await b.evaluate(() => document.documentElement.setAttribute("data-not-reloaded", "yes"));

    // Tab A starts a session and adds an image to it.
    await a.click("#new-session button[type=submit]");
    await a.getByTestId("connection").filter({ hasText: "live" }).waitFor();
    const created = new URL(a.url()).searchParams.get("session");
    assert.ok(created);
    await a.fill("#prompt", "A red kite");
    await a.fill("#urls", `${h.imageBase}/img/7.png`);
    await a.click("#add-message button[type=submit]");
    await a.locator('#messages .image[data-order="1"]').waitFor();
    const shownInA = Date.now();
    await onTop(b, created, `${h.imageBase}/img/7.png`).waitFor({ timeout: 1_000 });
    const delay = Date.now() - shownInA;
    assert.deepEqual(await listed(b), [created, doomed, older]);
    assert.match((await b.locator("#session-list > li:first-child small").textContent()) ?? "", /1 image/);

    // Tab A grows the older session: it moves to the top of tab B's list with its new thumbnail.
    await a.locator(`#session-list li[data-session-id="${older}"] .open`).click();
    await a.getByTestId("connection").filter({ hasText: "live" }).waitFor();
    await a.fill("#prompt", "At night");
    await a.fill("#urls", `${h.imageBase}/img/8.png`);
    await a.click("#add-message button[type=submit]");
    await a.locator('#messages .image[data-order="2"]').waitFor();
    await onTop(b, older, `${h.imageBase}/img/8.png`).waitFor({ timeout: 1_000 });
    assert.equal(await b.locator(`#session-list > li:first-child .thumb`).count(), 2, "both thumbnails of the session");
    assert.deepEqual(await listed(b), [older, created, doomed]);

    // Deleted elsewhere (over REST): it leaves both lists.
    await h.api(uid, "DELETE", `/${doomed}`);
    await b.waitForFunction((id) => !document.querySelector(`#session-list li[data-session-id="${id}"]`), doomed, { timeout: 1_000 });
    await a.waitForFunction((id) => !document.querySelector(`#session-list li[data-session-id="${id}"]`), doomed, { timeout: 1_000 });
    assert.deepEqual(await listed(b), [older, created]);
    assert.deepEqual(await listed(a), [older, created]);

    assert.equal(await b.evaluate(() => document.documentElement.getAttribute("data-not-reloaded")), "yes", "tab B was not reloaded");
    await b.screenshot({ path: join(RESULTS, "live-list-tab-b.png"), fullPage: true });
    await context.close();
    assert.deepEqual(h.problems, []);
    console.log(`tab B's list showed tab A's new session ${delay} ms after tab A showed its image`);
  });

  test("signals posted over REST show a generation in progress in both tabs, until its image commits or it fails", async () => {
    const uid = "generation-user";
    const { sessionDocId: id } = await h.api<{ sessionDocId: string }>(uid, "POST", "/", { sessionId: "generating-session", model: "flux-kontext-pro" });
    await h.api(uid, "POST", `/${id}/messages`, { prompt: "A heron", images: [{ url: `${h.imageBase}/img/1.png` }] });
    const context = await h.browser.newContext({ viewport: { width: 1280, height: 900 } });
    const a = await h.newPage(context, "tab A");
    await a.goto(h.link(uid).replace("/#", `/?session=${id}#`));
    const b = await h.newPage(context, "tab B");
    await b.goto(`${h.base}/?session=${id}`);
    const tabs = [a, b];
    for (const tab of tabs) await tab.getByTestId("connection").filter({ hasText: "live" }).waitFor();
    await a.getByTestId("presence").filter({ hasText: "2 tabs open" }).waitFor();

    const signal = (data: unknown) => h.api(uid, "POST", `/${id}/signals`, { data });
    const generation = (tab: Page, g: string) => tab.locator(`#generations li[data-generation="${g}"]`);
    const g1 = { kind: "generation", generation: "g-1" };

    await signal({ ...g1, state: "started", prompt: "A blue heron at dawn" });
    for (const tab of tabs) await generation(tab, "g-1").filter({ hasText: "Generating “A blue heron at dawn”" }).waitFor({ timeout: 1_000 });
    await signal({ ...g1, state: "progress", progress: 0.5 });
    for (const tab of tabs) await generation(tab, "g-1").filter({ hasText: "50%" }).waitFor({ timeout: 1_000 });
    assert.equal(await generation(a, "g-1").locator("progress").evaluate((bar: HTMLProgressElement) => bar.value), 0.5);
    await signal({ ...g1, state: "preview", progress: 0.8, previewUrl: `${h.imageBase}/img/preview-2.png` });
    for (const tab of tabs) await generation(tab, "g-1").locator(`img[src="${h.imageBase}/img/preview-2.png"]`).waitFor({ timeout: 1_000 });
    await a.screenshot({ path: join(RESULTS, "generation-tab-a.png"), fullPage: true });

    // `done` names the message whose image commits next: shown until that commit.
    await signal({ ...g1, state: "done", messageId: "m-heron" });
    for (const tab of tabs) await generation(tab, "g-1").filter({ hasText: "done" }).waitFor({ timeout: 1_000 });
    await new Promise((done) => setTimeout(done, 300));
    for (const tab of tabs) assert.equal(await generation(tab, "g-1").count(), 1, "still shown: its image has not committed");
    await h.api(uid, "POST", `/${id}/messages`, { prompt: "A blue heron at dawn", images: [{ url: `${h.imageBase}/img/2.png` }], messageId: "m-heron" });
    for (const tab of tabs) {
      await tab.locator('#messages .image[data-order="2"]').waitFor({ timeout: 1_000 });
      await generation(tab, "g-1").waitFor({ state: "detached", timeout: 1_000 });
      assert.equal(await tab.locator("#generations").isHidden(), true);
      assert.deepEqual(await shownOrders(tab), [1, 2]);
    }
    // A late signal of a generation that ended does not bring it back.
    await signal({ ...g1, state: "progress", progress: 0.9 });
    await new Promise((done) => setTimeout(done, 300));
    for (const tab of tabs) assert.equal(await generation(tab, "g-1").count(), 0);

    // The other order: the image commits first, then `done` names its message and ends it.
    await signal({ kind: "generation", generation: "g-2", state: "started", prompt: "An egret" });
    for (const tab of tabs) await generation(tab, "g-2").filter({ hasText: "An egret" }).waitFor({ timeout: 1_000 });
    await h.api(uid, "POST", `/${id}/messages`, { prompt: "An egret", images: [{ url: `${h.imageBase}/img/3.png` }], messageId: "m-egret" });
    for (const tab of tabs) await tab.locator('#messages .image[data-order="3"]').waitFor({ timeout: 1_000 });
    for (const tab of tabs) assert.equal(await generation(tab, "g-2").count(), 1, "shown until its done");
    await signal({ kind: "generation", generation: "g-2", state: "done", messageId: "m-egret" });
    for (const tab of tabs) await generation(tab, "g-2").waitFor({ state: "detached", timeout: 1_000 });

    // A failure shows in both tabs, with its reason.
    await signal({ kind: "generation", generation: "g-3", state: "started", prompt: "A storm" });
    await signal({ kind: "generation", generation: "g-3", state: "failed", error: "the model is overloaded" });
    for (const tab of tabs) await generation(tab, "g-3").filter({ hasText: "Generation failed: the model is overloaded" }).waitFor({ timeout: 1_000 });
    await b.screenshot({ path: join(RESULTS, "generation-failed-tab-b.png"), fullPage: true });

    // Anything else in a signal is not a generation, and shows nothing.
    await signal("hello");
    await signal({ kind: "generation", generation: "g-4", state: "exploded" });
    await new Promise((done) => setTimeout(done, 300));
    for (const tab of tabs) assert.equal(await generation(tab, "g-4").count(), 0);
    await context.close();
    assert.deepEqual(h.problems, []);
  });
});
