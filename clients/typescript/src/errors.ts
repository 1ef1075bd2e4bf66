import type { ErrorData, ReplyErrorCode } from "./types.js";

/**
 * A refused or failed REST call. `status` is the HTTP status (0 when no answer came: the
 * network or the server is down); `code` is the server's machine code (`invalid_argument`,
 * `not_found`, …), or `network` when no answer came, or, for an answer that is not the server's
 * error envelope (a proxy's page), `unavailable` (5xx) or `unexpected_response`; `retryable` says
 * whether the same call may succeed later.
 */
export class ApiError extends Error {
  override readonly name = "ApiError";

  constructor(
    message: string,
    readonly status: number,
    readonly code: ErrorData["code"] | "network" | "unexpected_response",
    /** The envelope's `data` (`field` of an `invalid_argument`, `sessionDocId` of a `conflict`, …). */
    readonly data: Partial<ErrorData> = {},
    /** Seconds to wait, from `Retry-After`, when the server sent one. */
    readonly retryAfter?: number,
    /**
     * Whether the same call may succeed later: the error envelope's `data.retryable` (absent
     * means no). Without an envelope (no answer, or a proxy's page) it is guessed from the status:
     * no answer, 429, 502, 503 and 504 are.
     */
    readonly retryable: boolean = retryableStatus(status),
  ) {
    super(message);
  }

  /** The offending field of an `invalid_argument`. */
  get field(): string | undefined {
    return this.data.field;
  }
}

/** Whether a failure with this HTTP status and no error envelope may pass if the call is repeated. */
function retryableStatus(status: number): boolean {
  return status === 0 || status === 429 || status === 502 || status === 503 || status === 504;
}

/**
 * A live command that did not succeed: an error reply from the server (`code` is its code), or
 * `timeout` (no reply within the command's deadline: the command may still have been applied,
 * and sending it again with the same `messageId` is safe), or `closed` (the session stopped: it
 * was deleted, is not the caller's, or `close()` was called).
 */
export class LiveError extends Error {
  override readonly name = "LiveError";

  constructor(
    message: string,
    readonly code: ReplyErrorCode | "timeout" | "closed",
    readonly retryable = false,
    readonly field?: string,
  ) {
    super(message);
  }
}
