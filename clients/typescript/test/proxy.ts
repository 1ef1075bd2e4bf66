// A proxy that refuses WebSocket upgrades, for the client's tests and the page's: run as a
// program (`node build/test/proxy.js <server url>`), it prints `listening on <its url>` and
// forwards to that server until it is killed.
import { once } from "node:events";
import * as http from "node:http";
import type * as net from "node:net";
import { fileURLToPath } from "node:url";

/**
 * A proxy in front of the server that forwards every HTTP request (streams included, unbuffered)
 * and refuses every WebSocket upgrade with 403, as some corporate proxies do. It follows the
 * server across restarts (the same port); while the server is down, requests fail with 502.
 */
export class UpgradeRefusingProxy {
  readonly #server: http.Server;
  readonly #target: () => string;
  /** How many upgrades it refused. */
  refused = 0;

  constructor(target: () => string) {
    this.#target = target;
    this.#server = http.createServer((request, response) => {
      const upstream = new URL(this.#target());
      const forwarded = http.request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: request.method,
          path: request.url,
          // The Host the client used, so that the server sees the page's origin as its own.
          headers: request.headers,
        },
        (answer) => {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
          // The server died mid-answer (kill -9): the client sees the connection break.
          answer.on("error", () => response.destroy());
          answer.on("aborted", () => response.destroy());
        },
      );
      forwarded.on("error", () => {
        if (!response.headersSent) response.writeHead(502).end();
        else response.destroy();
      });
      response.on("close", () => forwarded.destroy());
      request.pipe(forwarded);
    });
    this.#server.on("upgrade", (_request, socket: net.Socket) => {
      this.refused += 1;
      socket.end("HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 19\r\nconnection: close\r\n\r\nWebSockets refused\n");
    });
  }

  async start(): Promise<this> {
    this.#server.listen(0, "127.0.0.1");
    await once(this.#server, "listening");
    return this;
  }

  get url(): string {
    const address = this.#server.address() as net.AddressInfo;
    return `http://127.0.0.1:${address.port}`;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((done) => this.#server.close(done));
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const target = process.argv[2];
  if (target === undefined) throw new Error("usage: proxy.js <server url>");
  const proxy = await new UpgradeRefusingProxy(() => target).start();
  console.log(`listening on ${proxy.url}`);
}
