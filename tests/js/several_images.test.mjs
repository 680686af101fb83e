// Several images per request through the official Firebase JS SDK against the emulators: the
// callable generateImage with numImages charges once (one deduction of numImages x the unit
// price), answers imageUrls (the stored images) and images (every index), refunds each failed
// image with its own entry, and refuses a bad numImages without charging. The owner's listener
// sees a queued several-image request settle image by image.
//
// Run by ./run-tests.sh inside the emulators (node --test tests/js).

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { doc } from "firebase/firestore";

import {
  booksBalance,
  closeAll,
  failure,
  ledger,
  newUser,
  signInAdmin,
  until,
} from "./support.mjs";

// model-a at 1024x1024 costs 3 credits an image in the seeded catalog.
const UNIT = 3;
const ORDER = { model: "model-a", style: "anime", color: "neon", size: "1024x1024", prompt: "kites" };

/** The answer's image URLs each serve a PNG to their owner. */
async function assertServed(session, urls) {
  const token = await session.auth.currentUser.getIdToken();
  for (const url of urls) {
    const resp = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(resp.status, 200, url);
    assert.equal(resp.headers.get("content-type"), "image/png");
    await resp.arrayBuffer();
  }
}

before(signInAdmin);
after(closeAll);

describe("several images", () => {
  test("numImages 2: one deduction of 2x the price, both images stored and served", async () => {
    const alice = await newUser(20);
    const result = await alice.call("generateImage", { ...ORDER, numImages: 2, simulateOutcome: "success" });
    const rid = result.generationRequestId;
    assert.equal(result.status, "completed");
    assert.equal(result.numImages, 2);
    assert.equal(result.deductedCredits, 2 * UNIT);
    assert.equal(result.refundedCredits, 0);
    assert.equal(result.remainingCredits, 20 - 2 * UNIT);
    assert.deepEqual(result.images.map((i) => [i.index, i.status]), [[0, "completed"], [1, "completed"]]);
    assert.deepEqual(result.imageUrls, result.images.map((i) => i.imageUrl));
    assert.equal(result.imageUrl, result.imageUrls[0]);
    assert.equal(new Set(result.imageUrls).size, 2);
    await assertServed(alice, result.imageUrls);
    const entries = await ledger(alice);
    const deductions = entries.filter((e) => e.type === "deduction");
    assert.deepEqual(deductions.map((e) => [e.id, e.credits]), [[`${rid}-deduction`, 2 * UNIT]]);
    assert.equal(entries.filter((e) => e.type === "refund").length, 0);
    assert.equal((await alice.call("getCredits", {})).currentCredits, 20 - 2 * UNIT);
    booksBalance(entries, 20 - 2 * UNIT);
  });

  test("numImages 4 with every second image failing: one charge, a refund per failed image", async () => {
    const bob = await newUser(20);
    const result = await bob.call("generateImage", { ...ORDER, numImages: 4, simulateOutcome: "partial" });
    const rid = result.generationRequestId;
    assert.equal(result.status, "completed");
    assert.equal(result.numImages, 4);
    assert.equal(result.images.length, 4);
    assert.deepEqual(result.images.map((i) => i.status), ["completed", "failed", "completed", "failed"]);
    const stored = result.images.filter((i) => i.status === "completed");
    assert.equal(result.imageUrls.length, stored.length);
    assert.deepEqual(result.imageUrls, stored.map((i) => i.imageUrl));
    for (const image of result.images.filter((i) => i.status === "failed")) {
      assert.equal(image.imageUrl, null);
      assert.equal(typeof image.failureKind, "string");
    }
    assert.equal(result.deductedCredits, 4 * UNIT);
    assert.equal(result.refundedCredits, 2 * UNIT);
    assert.equal(result.remainingCredits, 20 - 4 * UNIT + 2 * UNIT);
    await assertServed(bob, result.imageUrls);
    const entries = await ledger(bob);
    assert.deepEqual(entries.filter((e) => e.type === "deduction").map((e) => [e.id, e.credits]),
      [[`${rid}-deduction`, 4 * UNIT]]);
    const refunds = entries.filter((e) => e.type === "refund").sort((a, b) => a.id.localeCompare(b.id));
    assert.deepEqual(refunds.map((e) => [e.id, e.credits, e.imageIndex]),
      [[`${rid}-refund-1`, UNIT, 1], [`${rid}-refund-3`, UNIT, 3]]);
    const credits = (await bob.call("getCredits", {})).currentCredits;
    assert.equal(credits, 20 - 2 * UNIT);
    booksBalance(entries, credits);
  });

  test("numImages 4 with every image failing is generation-failed, the whole cost refunded", async () => {
    const carol = await newUser(12);
    const err = await failure(carol.call("generateImage", { ...ORDER, numImages: 4, simulateOutcome: "failure" }));
    assert.equal(err.code, "functions/aborted");
    assert.equal(err.details.code, "generation-failed");
    assert.equal(err.details.refundedCredits, 4 * UNIT);
    const entries = await ledger(carol);
    assert.deepEqual(entries.filter((e) => e.type === "deduction").map((e) => e.credits), [4 * UNIT]);
    const refunds = entries.filter((e) => e.type === "refund");
    assert.equal(refunds.length, 4);
    assert.equal(refunds.reduce((a, e) => a + e.credits, 0), 4 * UNIT);
    assert.equal((await carol.call("getCredits", {})).currentCredits, 12);
    booksBalance(entries, 12);
  });

  test("a bad numImages is invalid-argument and charges nothing", async () => {
    const dave = await newUser(20);
    for (const numImages of [0, 11, "2", 2.5, -1, true]) {
      const err = await failure(dave.call("generateImage", { ...ORDER, numImages, simulateOutcome: "success" }));
      assert.equal(err.code, "functions/invalid-argument", JSON.stringify(numImages));
      assert.equal(err.details.code, "invalid-num-images", JSON.stringify(numImages));
    }
    assert.equal((await dave.call("getCredits", {})).currentCredits, 20);
    assert.deepEqual((await ledger(dave)).map((e) => e.type), ["grant"]);
    const listed = await dave.call("listGenerations", {});
    assert.equal(listed.generationRequests.length, 0);
  });

  test("the owner's listener sees a queued 4-image request settle image by image", async () => {
    const erin = await newUser(20);
    const queued = await erin.call("generateImage", {
      ...ORDER, numImages: 4, async: true, simulateOutcome: "partial",
    });
    assert.equal(queued.status, "queued");
    assert.equal(queued.deductedCredits, 4 * UNIT);
    const ref = doc(erin.db, "generationRequests", queued.generationRequestId);
    const final = await until(ref, (r) => ["completed", "failed"].includes(r?.status));
    assert.equal(final.status, "completed");
    assert.equal(final.numImages, 4);
    assert.deepEqual(final.images.map((i) => [i.index, i.status]),
      [[0, "completed"], [1, "failed"], [2, "completed"], [3, "failed"]]);
    assert.deepEqual(final.imageUrls, final.images.filter((i) => i.status === "completed").map((i) => i.imageUrl));
    assert.equal(final.imageUrl, final.imageUrls[0]);
    assert.equal(final.refundedCredits, 2 * UNIT);
    await until(doc(erin.db, "users", erin.uid), (u) => u?.credits === 20 - 2 * UNIT);
    await assertServed(erin, final.imageUrls);
    booksBalance(await ledger(erin), 20 - 2 * UNIT);
  });
});
