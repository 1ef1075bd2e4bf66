// What the page's browser tests share: the server binary on port 0 with a data dir of its own,
// a server of small pictures standing in for the users' image storage, and Debian's Chromium.
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
export const BIN = process.env.LIVECHAT_BIN ?? join(ROOT, "target/debug/livechat-sessions");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
export const RESULTS = join(ROOT, "clients/web/test-results");

export class Harness {
  readonly dataDir = mkdtempSync(join(tmpdir(), "livechat-page-"));
  base = "";
  imageBase = "";
  browser!: Browser;
  /** Every console error and uncaught exception of every page. */
  readonly problems: string[] = [];
  #server: ChildProcess | undefined;
  #images: HttpServer | undefined;
  #proxy: ChildProcess | undefined;

  async start(args: string[] = [], env: Record<string, string> = {}): Promise<this> {
    mkdirSync(RESULTS, { recursive: true });
    const server = spawn(BIN, ["serve", "--addr", "127.0.0.1:0", "--data-dir", this.dataDir, ...args], {
      env: { ...process.env, LIVECHAT_STORE: "sqlite", RUST_LOG: "warn", ...env },
      stdio: ["ignore", "pipe", "inherit"],
    });
    this.#server = server;
    let out = "";
    for await (const chunk of server.stdout!) {
      out += String(chunk);
      const listening = /listening on (http:\/\/\S+)/.exec(out);
      if (listening?.[1]) {
        this.base = listening[1];
        break;
      }
    }
    assert.ok(this.base, "the server started");
    const images = createServer((request, response) => {
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
    this.#images = images;
    this.imageBase = `http://127.0.0.1:${(images.address() as AddressInfo).port}`;
    this.browser = await chromium.launch({
      executablePath: CHROMIUM,
      // As root in CI; and no calls to Google's services, which a closed network cannot reach.
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    return this;
  }

  /**
   * Starts the client tests' proxy in front of the server (clients/typescript/test/proxy.ts, built
   * by the client's tests): HTTP forwarded, WebSocket upgrades refused with 403. Its address.
   */
  async proxy(): Promise<string> {
    const proxy = spawn(process.execPath, [join(ROOT, "clients/typescript/build/test/proxy.js"), this.base], { stdio: ["ignore", "pipe", "inherit"] });
    this.#proxy = proxy;
    let out = "";
    for await (const chunk of proxy.stdout!) {
      out += String(chunk);
      const listening = /listening on (http:\/\/\S+)/.exec(out);
      if (listening?.[1]) return listening[1];
    }
    throw new Error("the proxy did not start (run the client's tests first: they build it)");
  }

  async stop(): Promise<void> {
    this.#proxy?.kill("SIGKILL");
    await this.browser?.close();
    this.#server?.kill("SIGKILL");
    this.#images?.close();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** A signed-in link for `uid`, as `livechat-sessions token --link` prints it. */
  link(uid: string): string {
    return execFileSync(BIN, ["token", "--uid", uid, "--data-dir", this.dataDir, "--link", "--url", this.base], { encoding: "utf8" }).trim();
  }

  bearer(uid: string): string {
    return execFileSync(BIN, ["token", "--uid", uid, "--data-dir", this.dataDir], { encoding: "utf8" }).trim();
  }

  /** A REST call as `uid`; fails the test unless it succeeds. */
  async api<T = unknown>(uid: string, method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.base}/api/live-chat-sessions${path}`, {
      method,
      headers: { authorization: `Bearer ${this.bearer(uid)}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await response.json()) as { data: T };
    assert.ok(response.ok, `${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
    return json.data;
  }

  /** A tab whose console errors and uncaught exceptions are recorded in `problems`. */
  async newPage(context: BrowserContext, name: string): Promise<Page> {
    const page = await context.newPage();
    page.on("console", (message) => {
      if (message.type() === "error") this.problems.push(`${name}: console: ${message.text()}`);
    });
    page.on("pageerror", (error) => this.problems.push(`${name}: uncaught: ${error.message}`));
    return page;
  }

  /** `livechat_resumes_total{outcome}` from the server's metrics. */
  async resumes(outcome: string): Promise<number> {
    const text = await (await fetch(`${this.base}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith(`livechat_resumes_total{outcome="${outcome}"}`));
    return line ? Number(line.split(" ").pop()) : 0;
  }
}

/** The orders of the images the page shows, in the order it shows them. */
export const shownOrders = (page: Page) =>
  page.$$eval("#messages .image", (nodes) => nodes.map((node) => Number((node as HTMLElement).dataset.order)));

export const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
