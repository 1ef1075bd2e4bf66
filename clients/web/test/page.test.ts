// The page in a real browser (Debian's Chromium, driven by playwright-core), on the real server:
// two tabs of one user kept in sync, a reload that resumes, restore by clicking an image, a phone
// sized viewport, the assets' headers, and not one console error. Screenshots go to
// test-results/.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";

import { Harness, RESULTS, range, shownOrders } from "./harness.js";

const h = new Harness();
before(() => h.start());
after(() => h.stop());

describe("the web page", () => {
  test("keeps two tabs of one user in sync, resumes after a reload, and restores by image", async () => {
    const uid = "page-user";
    const { sessionDocId: first } = await h.api<{ sessionDocId: string }>(uid, "POST", "/", { sessionId: "first-session", model: "flux-kontext-pro" });
    await h.api(uid, "POST", `/${first}/messages`, { prompt: "A lighthouse at dusk", images: [{ url: `${h.imageBase}/img/1.png` }, { url: `${h.imageBase}/img/2.png` }] });
    const { sessionDocId: second } = await h.api<{ sessionDocId: string }>(uid, "POST", "/", { sessionId: "second-session", model: "flux-kontext-pro" });
    await h.api(uid, "POST", `/${second}/messages`, { prompt: "Make it winter", images: [{ url: `${h.imageBase}/img/3.png` }] });

    const context = await h.browser.newContext({ viewport: { width: 1280, height: 900 } });
    const a = await h.newPage(context, "tab A");
    await a.goto(h.link(uid));
    await a.getByTestId("who").filter({ hasText: uid }).waitFor();
    assert.equal(new URL(a.url()).hash, "", "the token leaves the address bar");
    await a.locator("#session-list .open", { hasText: "first-session" }).click();
    await a.getByTestId("connection").filter({ hasText: "live" }).waitFor();
    assert.deepEqual(await shownOrders(a), [1, 2]);

    // Tab B: the same user (the sign-in is shared), the same session.
    const b = await h.newPage(context, "tab B");
    await b.goto(`${h.base}/?session=${first}`);
    await b.getByTestId("connection").filter({ hasText: "live" }).waitFor();
    await a.getByTestId("presence").filter({ hasText: "2 tabs open" }).waitFor();
    await b.getByTestId("presence").filter({ hasText: "2 tabs open" }).waitFor();

    // An image added in tab A appears in tab B within a second of appearing in A.
    await a.fill("#prompt", "Add a rainbow");
    await a.fill("#urls", `${h.imageBase}/img/4.png`);
    await a.click("#add-message button[type=submit]");
    await a.locator('#messages .image[data-order="3"]').waitFor();
    await b.locator('#messages .image[data-order="3"]').waitFor({ timeout: 1_000 });
    await a.screenshot({ path: join(RESULTS, "tab-a.png"), fullPage: true });
    await b.screenshot({ path: join(RESULTS, "tab-b.png"), fullPage: true });

    // A stream of images while tab B reloads in the middle of it.
    const resumedBefore = await h.resumes("replayed");
    const writing = (async () => {
      for (let n = 5; n <= 34; n++) {
        await h.api(uid, "POST", `/${first}/messages`, { prompt: `Frame ${n}`, images: [{ url: `${h.imageBase}/img/${n}.png` }] });
        await new Promise((done) => setTimeout(done, 40));
      }
    })();
    await b.locator('#messages .image[data-order="10"]').waitFor();
    await b.reload();
    await writing;
    await b.locator('#messages .image[data-order="33"]').waitFor();
    await a.locator('#messages .image[data-order="33"]').waitFor();
    assert.deepEqual(await shownOrders(b), range(1, 33), "tab B shows every image once, in order");
    assert.deepEqual(await shownOrders(a), range(1, 33));
    assert.ok((await h.resumes("replayed")) > resumedBefore, "the reloaded tab resumed from its seq rather than a snapshot");

    // Clicking an image in the history restores its session.
    await a.locator(`#session-list .thumb[data-url="${h.imageBase}/img/3.png"]`).click();
    await a.getByTestId("notice").filter({ hasText: "Restored “second-session”" }).waitFor();
    await a.locator("#session-title", { hasText: "second-session" }).waitFor();
    assert.equal(new URL(a.url()).searchParams.get("session"), second);
    assert.equal(await a.locator("#messages .image.restored").getAttribute("data-url"), `${h.imageBase}/img/3.png`);
    await a.screenshot({ path: join(RESULTS, "restored.png"), fullPage: true });
    await context.close();
    assert.deepEqual(h.problems, []);
  });

  test("pages and filters the list, and says plainly what went wrong", async () => {
    const uid = "list-user";
    const ids: string[] = [];
    for (let n = 0; n < 12; n++) {
      ids.push((await h.api<{ sessionDocId: string }>(uid, "POST", "/", { sessionId: `s-${String(n).padStart(2, "0")}`, model: "m" })).sessionDocId);
    }
    await h.api(uid, "PATCH", `/${ids[4]}/complete`, {});
    const context = await h.browser.newContext();
    const page = await h.newPage(context, "list");
    await page.goto(h.link(uid));
    await page.locator("#session-list li[data-session-id]").nth(9).waitFor();
    assert.equal(await page.locator("#session-list li[data-session-id]").count(), 10);
    await page.click("#more");
    await page.locator("#session-list li[data-session-id]").nth(11).waitFor();
    assert.equal(await page.locator("#more").isHidden(), true);
    await page.selectOption("#status-filter", "completed");
    await page.waitForFunction(() => document.querySelectorAll("#session-list li[data-session-id]").length === 1);
    assert.match((await page.locator("#session-list li[data-session-id]").textContent()) ?? "", /s-04/);

    // Someone else's session, or one that does not exist: the same words, nothing of it shown.
    const { sessionDocId: theirs } = await h.api<{ sessionDocId: string }>("someone-else", "POST", "/", { sessionId: "x", model: "m" });
    await page.goto(`${h.base}/?session=${theirs}`);
    await page.getByTestId("notice").filter({ hasText: "does not exist any more, or it is not yours" }).waitFor();
    assert.equal(await page.locator("#messages .image").count(), 0);

    // A token that is not valid: back to the sign-in, with the reason.
    await page.goto(`${h.base}/#token=${h.bearer(uid).slice(0, -4)}AAAA`);
    await page.getByTestId("notice").filter({ hasText: "Please sign in again" }).waitFor();
    assert.equal(await page.locator("#sign-in").isVisible(), true);
    await context.close();
    // The refused requests are the only console lines (the browser logs every 401 and 404).
    assert.deepEqual(h.problems.filter((line) => !/status of (401|404)/.test(line)), []);
    h.problems.length = 0;
  });

  test("fits a 375 px wide phone", async () => {
    const uid = "phone-user";
    const { sessionDocId } = await h.api<{ sessionDocId: string }>(uid, "POST", "/", { sessionId: "session-on-a-phone-with-a-long-name-1736935200000", model: "flux-kontext-pro" });
    await h.api(uid, "POST", `/${sessionDocId}/messages`, {
      prompt: "A very long prompt that wraps over several lines on a narrow screen, to see that nothing overflows",
      images: range(1, 5).map((n) => ({ url: `${h.imageBase}/img/${n}.png` })),
    });
    const context = await h.browser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
    const page = await h.newPage(context, "phone");
    await page.goto(`${h.link(uid).replace("/#", `/?session=${sessionDocId}#`)}`);
    await page.getByTestId("connection").filter({ hasText: "live" }).waitFor();
    await page.locator('#messages .image[data-order="5"] img').evaluate((img: HTMLImageElement) => img.decode());
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 375, `the page is ${width} px wide`);
    for (const id of ["#prompt", "#urls", "#add-message button[type=submit]"]) {
      const box = await page.locator(id).boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 375, `${id} fits`);
    }
    await page.screenshot({ path: join(RESULTS, "phone.png"), fullPage: true });
    await context.close();
    assert.deepEqual(h.problems, []);
  });

  test("serves its assets with their content types and cache headers", async () => {
    const index = await fetch(`${h.base}/`);
    assert.equal(index.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(index.headers.get("cache-control"), "no-cache");
    assert.match(index.headers.get("content-security-policy") ?? "", /script-src 'self'/);
    const html = await index.text();
    const assets = [...html.matchAll(/"(\/assets\/[^"]+)"/g)].map((match) => match[1]!);
    assert.equal(assets.length, 2);
    for (const path of assets) {
      const asset = await fetch(`${h.base}${path}`);
      assert.equal(asset.status, 200);
      assert.equal(asset.headers.get("content-type"), path.endsWith(".js") ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8");
      assert.equal(asset.headers.get("cache-control"), "public, max-age=31536000, immutable");
      assert.equal(asset.headers.get("x-content-type-options"), "nosniff");
    }
    assert.equal((await fetch(`${h.base}/assets/app-0000000000.js`)).status, 404);
  });
});

