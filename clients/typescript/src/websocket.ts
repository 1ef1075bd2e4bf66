/**
 * What a live stream is read through: the part of the WHATWG WebSocket the client uses, which the
 * event stream (`sse.ts`) also presents, so that the socket lifecycle (`socket.ts`) drives both.
 */

/** The part of the WHATWG WebSocket the client uses (browsers, Node.js, the `ws` package). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;
