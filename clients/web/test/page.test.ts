// The page in a real browser (Debian's Chromium, driven by playwright-core), on the real server:
// two tabs of one user kept in sync, a reload that resumes, restore by clicking an image, a phone
// sized viewport, the assets' headers, and not one console error. Screenshots go to
// test-results/.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server as HttpServer } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { once } from "node:events";
import type { AddressInfo } from "node:net";

import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

const ROOT = resolve(import.meta.dirname, "../../../..");
const BIN = process.env.LIVECHAT_BIN ?? join(ROOT, "target/debug/livechat-sessions");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const RESULTS = join(ROOT, "clients/web/test-results");

let server: ChildProcess;
let base = "";
const dataDir = mkdtempSync(join(tmpdir(), "livechat-page-"));
let images: HttpServer;
let imageBase = "";
let browser: Browser;
/** Every console error and uncaught exception of every page. */
const problems: string[] = [];

before(async () => {
  mkdirSync(RESULTS, { recursive: true });
  server = spawn(BIN, ["serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir], {
    env: { ...process.env, LIVECHAT_STORE: "sqlite", RUST_LOG: "warn" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  for await (const chunk of server.stdout!) {
    out += String(chunk);
    const listening = /listening on (http:\/\/\S+)/.exec(out);
    if (listening?.[1]) {
      base = listening[1];
      break;
    }
  }
  assert.ok(base, "the server started");
  // The sessions' images: a small picture per URL, as a storage bucket would serve them.
  images = createServer((request, response) => {
    const n = /(\d+)/.exec(request.url ?? "")?.[1] ?? "0";
    const hue = (Number(n) * 47) % 360;
    response.writeHead(200, { "content-type": "image/svg+xml", "cache-control": "max-age=3600" });
    response.end(
      `<svg xmlns="http://www.w3.org/2000/svg" width="160" height="160"><rect width="160" height="160" fill="hsl(${hue} 70% 55%)"/>` +
        `<text x="80" y="95" font-size="48" text-anchor="middle" fill="#fff" font-family="sans-serif">${n}</text></svg>`,
    );
  });
  images.listen(0, "127.0.0.1");
  await once(images, "listening");
  imageBase = `http://127.0.0.1:${(images.address() as AddressInfo).port}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // As root in CI; and no calls to Google's services, which this machine cannot reach.
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  server?.kill("SIGKILL");
  images?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** A signed-in link for `uid`, as `livechat-sessions token --link` prints it. */
function link(uid: string): string {
  return execFileSync(BIN, ["token", "--uid", uid, "--data-dir", dataDir, "--link", "--url", base], { encoding: "utf8" }).trim();
}

function bearer(uid: string): string {
  return execFileSync(BIN, ["token", "--uid", uid, "--data-dir", dataDir], { encoding: "utf8" }).trim();
}

/** A REST call as `uid`. */
async function api<T = unknown>(uid: string, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${base}/api/live-chat-sessions${path}`, {
    method,
    headers: { authorization: `Bearer ${bearer(uid)}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await response.json()) as { data: T };
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
  return json.data;
}

async function newPage(context: BrowserContext, name: string): Promise<Page> {
  const page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`${name}: console: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`${name}: uncaught: ${error.message}`));
  return page;
}

/** The orders of the images the page shows, in the order it shows them. */
const shownOrders = (page: Page) =>
  page.$$eval("#messages .image", (nodes) => nodes.map((node) => Number((node as HTMLElement).dataset.order)));

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("the web page", () => {
  test("keeps two tabs of one user in sync, resumes after a reload, and restores by image", async () => {
    const uid = "page-user";
    const { sessionDocId: first } = await api<{ sessionDocId: string }>(uid, "POST", "/", { sessionId: "first-session", model: "flux-kontext-pro" });
    await api(uid, "POST", `/${first}/messages`, { prompt: "A lighthouse at dusk", images: [{ url: `${imageBase}/img/1.png` }, { url: `${imageBase}/img/2.png` }] });
    const { sessionDocId: second } = await api<{ sessionDocId: string }>(uid, "POST", "/", { sessionId: "second-session", model: "flux-kontext-pro" });
    await api(uid, "POST", `/${second}/messages`, { prompt: "Make it winter", images: [{ url: `${imageBase}/img/3.png` }] });

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const a = await newPage(context, "tab A");
    await a.goto(link(uid));
    await a.getByTestId("who").filter({ hasText: uid }).waitFor();
    assert.equal(new URL(a.url()).hash, "", "the token leaves the address bar");
    await a.locator("#session-list .open", { hasText: "first-session" }).click();
    await a.getByTestId("connection").filter({ hasText: "live" }).waitFor();
    assert.deepEqual(await shownOrders(a), [1, 2]);

    // Tab B: the same user (the sign-in is shared), the same session.
    const b = await newPage(context, "tab B");
    await b.goto(`${base}/?session=${first}`);
    await b.getByTestId("connection").filter({ hasText: "live" }).waitFor();
    await a.getByTestId("presence").filter({ hasText: "2 tabs open" }).waitFor();
    await b.getByTestId("presence").filter({ hasText: "2 tabs open" }).waitFor();

    // An image added in tab A appears in tab B within a second of appearing in A.
    await a.fill("#prompt", "Add a rainbow");
    await a.fill("#urls", `${imageBase}/img/4.png`);
    await a.click("#add-message button[type=submit]");
    await a.locator('#messages .image[data-order="3"]').waitFor();
    await b.locator('#messages .image[data-order="3"]').waitFor({ timeout: 1_000 });
    await a.screenshot({ path: join(RESULTS, "tab-a.png"), fullPage: true });
    await b.screenshot({ path: join(RESULTS, "tab-b.png"), fullPage: true });

    // A stream of images while tab B reloads in the middle of it.
    const resumedBefore = await resumes("replayed");
    const writing = (async () => {
      for (let n = 5; n <= 34; n++) {
        await api(uid, "POST", `/${first}/messages`, { prompt: `Frame ${n}`, images: [{ url: `${imageBase}/img/${n}.png` }] });
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
    assert.ok((await resumes("replayed")) > resumedBefore, "the reloaded tab resumed from its seq rather than a snapshot");

    // Clicking an image in the history restores its session.
    await a.locator(`#session-list .thumb[data-url="${imageBase}/img/3.png"]`).click();
    await a.getByTestId("notice").filter({ hasText: "Restored “second-session”" }).waitFor();
    await a.locator("#session-title", { hasText: "second-session" }).waitFor();
    assert.equal(new URL(a.url()).searchParams.get("session"), second);
    assert.equal(await a.locator("#messages .image.restored").getAttribute("data-url"), `${imageBase}/img/3.png`);
    await a.screenshot({ path: join(RESULTS, "restored.png"), fullPage: true });
    await context.close();
    assert.deepEqual(problems, []);
  });

  test("pages and filters the list, and says plainly what went wrong", async () => {
    const uid = "list-user";
    const ids: string[] = [];
    for (let n = 0; n < 12; n++) {
      ids.push((await api<{ sessionDocId: string }>(uid, "POST", "/", { sessionId: `s-${String(n).padStart(2, "0")}`, model: "m" })).sessionDocId);
    }
    await api(uid, "PATCH", `/${ids[4]}/complete`, {});
    const context = await browser.newContext();
    const page = await newPage(context, "list");
    await page.goto(link(uid));
    await page.locator("#session-list li[data-session-id]").nth(9).waitFor();
    assert.equal(await page.locator("#session-list li[data-session-id]").count(), 10);
    await page.click("#more");
    await page.locator("#session-list li[data-session-id]").nth(11).waitFor();
    assert.equal(await page.locator("#more").isHidden(), true);
    await page.selectOption("#status-filter", "completed");
    await page.waitForFunction(() => document.querySelectorAll("#session-list li[data-session-id]").length === 1);
    assert.match((await page.locator("#session-list li[data-session-id]").textContent()) ?? "", /s-04/);

    // Someone else's session, or one that does not exist: the same words, nothing of it shown.
    const { sessionDocId: theirs } = await api<{ sessionDocId: string }>("someone-else", "POST", "/", { sessionId: "x", model: "m" });
    await page.goto(`${base}/?session=${theirs}`);
    await page.getByTestId("notice").filter({ hasText: "does not exist any more, or it is not yours" }).waitFor();
    assert.equal(await page.locator("#messages .image").count(), 0);

    // A token that is not valid: back to the sign-in, with the reason.
    await page.goto(`${base}/#token=${bearer(uid).slice(0, -4)}AAAA`);
    await page.getByTestId("notice").filter({ hasText: "Please sign in again" }).waitFor();
    assert.equal(await page.locator("#sign-in").isVisible(), true);
    await context.close();
    // The refused requests are the only console lines (the browser logs every 401 and 404).
    assert.deepEqual(problems.filter((line) => !/status of (401|404)/.test(line)), []);
    problems.length = 0;
  });

  test("fits a 375 px wide phone", async () => {
    const uid = "phone-user";
    const { sessionDocId } = await api<{ sessionDocId: string }>(uid, "POST", "/", { sessionId: "session-on-a-phone-with-a-long-name-1736935200000", model: "flux-kontext-pro" });
    await api(uid, "POST", `/${sessionDocId}/messages`, {
      prompt: "A very long prompt that wraps over several lines on a narrow screen, to see that nothing overflows",
      images: range(1, 5).map((n) => ({ url: `${imageBase}/img/${n}.png` })),
    });
    const context = await browser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
    const page = await newPage(context, "phone");
    await page.goto(`${link(uid).replace("/#", `/?session=${sessionDocId}#`)}`);
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
    assert.deepEqual(problems, []);
  });

  test("serves its assets with their content types and cache headers", async () => {
    const index = await fetch(`${base}/`);
    assert.equal(index.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(index.headers.get("cache-control"), "no-cache");
    assert.match(index.headers.get("content-security-policy") ?? "", /script-src 'self'/);
    const html = await index.text();
    const assets = [...html.matchAll(/"(\/assets\/[^"]+)"/g)].map((match) => match[1]!);
    assert.equal(assets.length, 2);
    for (const path of assets) {
      const asset = await fetch(`${base}${path}`);
      assert.equal(asset.status, 200);
      assert.equal(asset.headers.get("content-type"), path.endsWith(".js") ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8");
      assert.equal(asset.headers.get("cache-control"), "public, max-age=31536000, immutable");
      assert.equal(asset.headers.get("x-content-type-options"), "nosniff");
    }
    assert.equal((await fetch(`${base}/assets/app-0000000000.js`)).status, 404);
  });
});

/** `livechat_resumes_total{outcome}` from the server's metrics. */
async function resumes(outcome: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`livechat_resumes_total{outcome="${outcome}"}`));
  return line ? Number(line.split(" ").pop()) : 0;
}
