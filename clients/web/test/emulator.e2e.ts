// The page's sign-in with the Firebase Auth emulator, in Chromium: run by scripts/test once the
// emulator is up (FIREBASE_AUTH_EMULATOR_HOST, project demo-livechat, as scripts/auth-emulator
// serves it). Without the emulator this test fails: it is never skipped.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";

import { Harness, RESULTS, shownOrders } from "./harness.js";

const EMULATOR = process.env.FIREBASE_AUTH_EMULATOR_HOST;
const PROJECT = "demo-livechat";
const h = new Harness();
before(async () => {
  assert.ok(EMULATOR, "FIREBASE_AUTH_EMULATOR_HOST names the Firebase Auth emulator (scripts/auth-emulator start)");
  await h.start(["--firebase-project", PROJECT], { FIREBASE_AUTH_EMULATOR_HOST: EMULATOR });
});
after(() => h.stop());

test("a person signs up with the Auth emulator's email sign-in and uses a session as that user", async () => {
  const context = await h.browser.newContext();
  const page = await h.newPage(context, "emulator");
  await page.goto(h.base);
  await page.locator("#emulator-form").waitFor();
  const email = `page-${Date.now()}@example.com`;
  await page.fill("#email", email);
  await page.fill("#password", "correct horse battery staple");
  await page.click("#emulator-form button[value=sign-up]");
  await page.locator("#sessions").waitFor();

  // The uid the page shows is the emulator's account id, and the server agrees.
  const uid = (await page.getByTestId("who").textContent())?.trim();
  assert.ok(uid && uid.length >= 20, `an emulator uid (${uid})`);
  await page.click("#new-session button[type=submit]");
  await page.getByTestId("connection").filter({ hasText: "live" }).waitFor();
  await page.fill("#prompt", "Signed in with Firebase");
  await page.fill("#urls", `${h.imageBase}/img/1.png`);
  await page.click("#add-message button[type=submit]");
  await page.locator('#messages .image[data-order="1"]').waitFor();
  assert.deepEqual(await shownOrders(page), [1]);
  const id = new URL(page.url()).searchParams.get("session");
  const session = await h.api<{ session: { uid: string } }>(uid, "GET", `/${id}`);
  assert.equal(session.session.uid, uid);

  // Signing in again with the same account finds the same user and session.
  await page.click("#sign-out");
  await page.fill("#email", email);
  await page.fill("#password", "correct horse battery staple");
  await page.click("#emulator-form button[value=sign-in]");
  await page.locator(`#session-list li[data-session-id="${id}"]`).waitFor();
  await page.screenshot({ path: join(RESULTS, "emulator-sign-in.png"), fullPage: true });
  await context.close();
  assert.deepEqual(h.problems, []);
});
