// ApiError.retryable: read from the error envelope (`data.retryable`), whatever the status; only an
// answer without the envelope (no answer at all, a proxy's page) is judged by its status. No
// server: `fetch` answers what each case needs.
import { describe, test } from "node:test";
import assert from "node:assert/strict";

import { ApiError, LiveChatClient } from "../src/index.js";

/** A client whose every request is answered with `status` and `body` (or fails, without `status`). */
function answering(status?: number, body = "", headers: Record<string, string> = {}) {
  return new LiveChatClient({
    baseUrl: "http://sessions.test",
    getToken: () => "a-token",
    fetch: async () => {
      if (status === undefined) throw new TypeError("fetch failed");
      return new Response(body, { status, headers });
    },
  });
}

const envelope = (data: Record<string, unknown>, message = "what went wrong") => JSON.stringify({ status: "error", message, data });

/** The ApiError a `getSession` meets. */
async function failure(api: LiveChatClient): Promise<ApiError> {
  try {
    await api.getSession("s1");
  } catch (error) {
    assert.ok(error instanceof ApiError);
    return error;
  }
  assert.fail("the call succeeded");
}

describe("ApiError.retryable", () => {
  test("is the envelope's data.retryable on the server's own retryable errors", async () => {
    const unavailable = await failure(answering(503, envelope({ code: "unavailable", retryable: true })));
    assert.deepEqual([unavailable.code, unavailable.retryable], ["unavailable", true]);
    const limited = await failure(answering(429, envelope({ code: "rate_limited", retryable: true, retryAfter: 2 }), { "retry-after": "2" }));
    assert.deepEqual([limited.code, limited.retryable, limited.retryAfter], ["rate_limited", true, 2]);
  });

  test("is false when the envelope does not say so", async () => {
    const invalid = await failure(answering(400, envelope({ code: "invalid_argument", field: "sessionId" })));
    assert.deepEqual([invalid.code, invalid.field, invalid.retryable], ["invalid_argument", "sessionId", false]);
    const conflict = await failure(answering(409, envelope({ code: "conflict", sessionDocId: "s0" })));
    assert.equal(conflict.retryable, false);
  });

  test("follows the envelope, not the status, when the two disagree", async () => {
    // A 503 whose envelope does not call it retryable is not; a 500 whose envelope does, is.
    const said = await failure(answering(503, envelope({ code: "unavailable", retryable: false })));
    assert.deepEqual([said.status, said.retryable], [503, false]);
    const silent = await failure(answering(503, envelope({ code: "unavailable" })));
    assert.equal(silent.retryable, false);
    const retry = await failure(answering(500, envelope({ code: "unavailable", retryable: true })));
    assert.deepEqual([retry.status, retry.retryable], [500, true]);
    assert.equal(retry.data.retryable, true, "data is the envelope's");
  });

  test("without an envelope, is judged by the status: no answer, 429, 502, 503 and 504 may pass later", async () => {
    const network = await failure(answering(undefined));
    assert.deepEqual([network.status, network.code, network.retryable], [0, "network", true]);
    for (const status of [502, 503, 504]) {
      const proxy = await failure(answering(status, "<html><body>Bad gateway</body></html>", { "content-type": "text/html" }));
      assert.deepEqual([proxy.status, proxy.code, proxy.retryable], [status, "unavailable", true], `a proxy's ${status}`);
    }
    const limited = await failure(answering(429, "slow down", { "retry-after": "5" }));
    assert.deepEqual([limited.code, limited.retryable, limited.retryAfter], ["unexpected_response", true, 5]);
    for (const status of [200, 404, 500]) {
      const page = await failure(answering(status, "<html>a captive portal or a proxy</html>"));
      assert.equal(page.retryable, false, `a page with ${status}`);
    }
    // JSON, but not the envelope.
    const other = await failure(answering(502, JSON.stringify({ error: "upstream" })));
    assert.deepEqual([other.code, other.retryable], ["unavailable", true]);
  });

  test("an ApiError made by hand takes retryable as given, or judges by the status", () => {
    assert.equal(new ApiError("x", 503, "unavailable").retryable, true);
    assert.equal(new ApiError("x", 400, "invalid_argument").retryable, false);
    assert.equal(new ApiError("x", 503, "unavailable", {}, undefined, false).retryable, false);
  });
});
