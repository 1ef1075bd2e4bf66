// The page under the server's own CORS settings: with --cors-origins listing another site, the
// page on the server's origin still opens its socket (the server's own origin is always allowed),
// and its CSP and headers are unchanged.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";

import { Harness, shownOrders } from "./harness.js";

const h = new Harness();
before(() => h.start(["--cors-origins", "https://app.example.com"]));
after(() => h.stop());

test("the page works when --cors-origins lists other origins", async () => {
  const uid = "cors-user";
  const { sessionDocId } = await h.api<{ sessionDocId: string }>(uid, "POST", "/", { sessionId: "s", model: "m" });
  await h.api(uid, "POST", `/${sessionDocId}/messages`, { prompt: "p", images: [{ url: `${h.imageBase}/img/1.png` }] });
  const context = await h.browser.newContext();
  const page = await h.newPage(context, "cors");
  await page.goto(h.link(uid).replace("/#", `/?session=${sessionDocId}#`));
  await page.getByTestId("connection").filter({ hasText: "live" }).waitFor();
  assert.deepEqual(await shownOrders(page), [1]);
  await page.fill("#prompt", "from the page");
  await page.fill("#urls", `${h.imageBase}/img/2.png`);
  await page.click("#add-message button[type=submit]");
  await page.locator('#messages .image[data-order="2"]').waitFor();
  await context.close();
  assert.deepEqual(h.problems, []);
});
