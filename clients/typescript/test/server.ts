// The real server for the client's tests: the binary of this workspace (LIVECHAT_BIN, or the
// debug build), started on port 0 with a data dir of its own, killed and restarted on it.
import { spawn, type ChildProcess } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { once } from "node:events";

import type { NewImage, WebSocketConstructor, WebSocketLike } from "../src/index.js";

const ROOT = resolve(import.meta.dirname, "../../../..");
const BIN = process.env.LIVECHAT_BIN ?? join(ROOT, "target/debug/livechat-sessions");
const SECRET = "client-tests-secret-of-at-least-32-bytes";

export class Server {
  readonly dataDir = mkdtempSync(join(tmpdir(), "livechat-client-"));
  #child: ChildProcess | undefined;
  #port = 0;
  stderr = "";

  /** Starts the server; with `port` (after a restart), on the same port so clients find it again. */
  async start(port = 0): Promise<this> {
    const child = spawn(BIN, ["serve", "--addr", `127.0.0.1:${port}`, "--data-dir", this.dataDir], {
      env: { ...process.env, LIVECHAT_JWT_SECRET: SECRET, LIVECHAT_STORE: "sqlite", RUST_LOG: "warn" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stderr?.on("data", (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.#child = child;
    let out = "";
    for await (const chunk of child.stdout!) {
      out += String(chunk);
      const listening = /listening on http:\/\/[^:]+:(\d+)/.exec(out);
      if (listening) {
        this.#port = Number(listening[1]);
        return this;
      }
    }
    throw new Error(`the server did not start (${BIN}):\n${this.stderr}`);
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** `kill -9`: nothing is flushed, nothing is closed. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGKILL");
    await once(child, "exit");
  }

  /** Kills the server and starts it again on the same data dir and port. */
  async restart(): Promise<void> {
    await this.kill();
    await this.start(this.#port);
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** An HS256 token the server accepts, for `uid`, valid for `ttlSeconds`. */
export function token(uid: string, ttlSeconds = 3600): string {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const unsigned = `${encode({ alg: "HS256", typ: "JWT" })}.${encode({ sub: uid, iat: now, exp: now + ttlSeconds })}`;
  return `${unsigned}.${createHmac("sha256", SECRET).update(unsigned).digest("base64url")}`;
}

/** Waits until `check` holds, polling; fails with `what` after `ms`. */
export async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 20));
  }
}

/**
 * Appends message n (`m-n`, prompt `pn`, holding `image(n)`) for n = 1, 2, … without pause, each
 * after the last was acknowledged, until `stop()` (which resolves once the last one is);
 * `written` holds the n of each acknowledged append.
 */
export function appendWithoutPause(
  writer: { addMessage(message: { prompt: string; images: NewImage[]; messageId: string }): Promise<unknown> },
  image: (n: number) => NewImage,
): { written: number[]; stop: () => Promise<void> } {
  let stopped = false;
  const written: number[] = [];
  const writing = (async () => {
    for (let n = 1; !stopped; n++) {
      await writer.addMessage({ prompt: `p${n}`, images: [image(n)], messageId: `m-${n}` });
      written.push(n);
    }
  })();
  return {
    written,
    stop: () => {
      stopped = true;
      return writing;
    },
  };
}

let counter = 0;
/** A uid no other test uses. */
export function newUser(): string {
  counter += 1;
  return `user-${process.pid}-${counter}-${Date.now()}`;
}

/**
 * A WebSocket class around the real one that lets a test see what is sent (`send`) and decide
 * what is delivered (`receive` calls `deliver` as often as the frame should arrive: an injected
 * fault).
 */
export function interposed(hooks: {
  send?: (data: string) => void;
  receive?: (data: string, deliver: () => void) => void;
}): WebSocketConstructor {
  return class implements WebSocketLike {
    readonly #inner: WebSocket;
    onopen: WebSocketLike["onopen"] = null;
    onmessage: WebSocketLike["onmessage"] = null;
    onclose: WebSocketLike["onclose"] = null;
    onerror: WebSocketLike["onerror"] = null;

    constructor(url: string) {
      this.#inner = new WebSocket(url);
      this.#inner.onopen = (e) => this.onopen?.(e);
      this.#inner.onclose = (e) => this.onclose?.(e);
      this.#inner.onerror = (e) => this.onerror?.(e);
      this.#inner.onmessage = (e) => {
        const deliver = () => this.onmessage?.(e);
        if (hooks.receive) hooks.receive(String(e.data), deliver);
        else deliver();
      };
    }

    get readyState() {
      return this.#inner.readyState;
    }

    send(data: string) {
      hooks.send?.(data);
      this.#inner.send(data);
    }

    close(code?: number, reason?: string) {
      this.#inner.close(code, reason);
    }
  };
}

export { UpgradeRefusingProxy } from "./proxy.js";
