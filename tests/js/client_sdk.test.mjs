// The Firebase client path, tested with the official Firebase JS SDK against the emulators:
// email/password sign-in on the Auth emulator, every callable's results and error codes,
// listeners on the caller's own documents (and denied on another user's), idempotency keys,
// and 20 concurrent calls for one user keeping the books exact.
//
// Run by ./run-tests.sh inside the emulators (node --test tests/js).

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";

import {
  applyActionCode,
  createUserWithEmailAndPassword,
  sendEmailVerification,
  signInWithEmailAndPassword,
  signOut,
} from "firebase/auth";
import { collection, doc, getDocs, onSnapshot } from "firebase/firestore";

import {
  PROJECT,
  booksBalance,
  client,
  closeAll,
  failure,
  grant,
  ledger,
  newUser,
  signInAdmin,
  until,
} from "./support.mjs";

const ORDER = { model: "model-a", style: "anime", color: "neon", size: "512x512", prompt: "a cat" };

before(signInAdmin);
after(closeAll);

describe("callables", () => {
  test("generateImage charges, completes and returns the HTTP endpoint's JSON", async () => {
    const alice = await newUser(10);
    const result = await alice.call("generateImage", { ...ORDER, simulateOutcome: "success" });
    assert.equal(result.status, "completed");
    assert.equal(result.deductedCredits, 1);
    assert.equal(result.remainingCredits, 9);
    assert.match(result.imageUrl, /\/getGenerationImage\?id=[0-9a-f]{32}$/);
    assert.deepEqual(Object.keys(result).sort(), [
      "color", "deductedCredits", "generationRequestId", "imageUrl", "imageUrls", "images",
      "model", "numImages", "refundedCredits", "remainingCredits", "size", "status", "style",
    ]);
    assert.deepEqual(result.imageUrls, [result.imageUrl]);
    assert.equal(result.numImages, 1);
    assert.equal(result.refundedCredits, 0);
    const credits = await alice.call("getCredits", { pageSize: 5 });
    assert.equal(credits.currentCredits, 9);
    assert.equal(credits.userId, alice.uid);
    assert.deepEqual(credits.transactions.map((t) => t.type), ["deduction", "grant"]);
    const one = await alice.call("getGeneration", { id: result.generationRequestId });
    assert.equal(one.status, "completed");
    assert.equal(one.userId, alice.uid);
    const list = await alice.call("listGenerations", { status: "completed", pageSize: 10 });
    assert.deepEqual(list.generationRequests.map((r) => r.generationRequestId), [
      result.generationRequestId,
    ]);
    const image = await fetch(result.imageUrl, {
      headers: { Authorization: `Bearer ${await alice.auth.currentUser.getIdToken()}` },
    });
    assert.equal(image.status, 200);
    assert.equal(image.headers.get("content-type"), "image/png");
  });

  test("errors carry the canonical code and the HTTP error body as details", async () => {
    const bob = await newUser(2);
    let err = await failure(bob.call("generateImage", { ...ORDER, model: "model-z" }));
    assert.equal(err.code, "functions/invalid-argument");
    assert.equal(err.details.code, "invalid-model");
    assert.match(err.details.message, /Invalid model 'model-z'/);
    assert.deepEqual(err.details.allowed, ["model-a", "model-b"]);

    err = await failure(bob.call("generateImage", { style: "anime" }));
    assert.equal(err.code, "functions/invalid-argument");
    assert.deepEqual(err.details.missingFields, ["model", "color", "size", "prompt"]);

    err = await failure(bob.call("generateImage", { ...ORDER, size: "1024x1024" }));
    assert.equal(err.code, "functions/failed-precondition");
    assert.equal(err.details.code, "insufficient-credits");
    assert.equal(err.details.currentCredits, 2);

    err = await failure(bob.call("generateImage", { ...ORDER, simulateOutcome: "failure" }));
    assert.equal(err.code, "functions/aborted");
    assert.equal(err.details.code, "generation-failed");
    assert.equal(err.details.refundedCredits, 1);

    err = await failure(bob.call("getGeneration", { id: randomUUID().replaceAll("-", "") }));
    assert.equal(err.code, "functions/not-found");

    err = await failure(bob.call("listGenerations", { pageSize: 1000 }));
    assert.equal(err.details.code, "invalid-page-size");

    const queued = await bob.call("generateImage", { ...ORDER, async: true });
    const done = await until(doc(bob.db, "generationRequests", queued.generationRequestId), (r) =>
      ["completed", "failed"].includes(r?.status),
    );
    err = await failure(bob.call("cancelGeneration", { id: queued.generationRequestId }));
    assert.equal(err.code, "functions/failed-precondition");
    assert.equal(err.details.code, "not-cancelable");
    assert.equal(err.details.currentStatus, done.status);

    const credits = await bob.call("getCredits", {});
    booksBalance(await ledger(bob), credits.currentCredits);
  });

  test("a call without sign-in is unauthenticated, in the emulator too", async () => {
    const anonymous = client();
    for (const name of ["generateImage", "getCredits", "getGeneration", "listGenerations",
      "cancelGeneration"]) {
      const err = await failure(anonymous.call(name, { ...ORDER, id: "x" }));
      assert.equal(err.code, "functions/unauthenticated", name);
    }
  });

  test("another user's request is not found, and cannot be canceled", async () => {
    const owner = await newUser(5);
    const other = await newUser(5);
    const mine = await owner.call("generateImage", { ...ORDER, simulateOutcome: "success" });
    for (const name of ["getGeneration", "cancelGeneration"]) {
      const err = await failure(other.call(name, { id: mine.generationRequestId }));
      assert.equal(err.code, "functions/not-found", name);
    }
  });

  test("the same idempotencyKey charges once and replays; other data is refused", async () => {
    const carol = await newUser(10);
    const key = randomUUID();
    const data = { ...ORDER, size: "1024x1024", idempotencyKey: key, simulateOutcome: "success" };
    const first = await carol.call("generateImage", data);
    const again = await carol.call("generateImage", data);
    assert.deepEqual(again, first);
    const err = await failure(carol.call("generateImage", { ...data, prompt: "a dog" }));
    assert.equal(err.code, "functions/already-exists");
    assert.equal(err.details.code, "idempotency-key-reused");
    const credits = await carol.call("getCredits", {});
    assert.equal(credits.currentCredits, 7);
    assert.equal((await ledger(carol)).filter((e) => e.type === "deduction").length, 1);
  });
});

describe("buying credits", () => {
  const BACK = "http://127.0.0.1:5000/";

  test("buyCredits opens a checkout; paying it credits the buyer, seen by a listener", async () => {
    const dana = await newUser(0);
    const packs = (await getDocs(collection(dana.db, "creditPacks"))).docs.map((d) => d.id);
    assert.ok(packs.includes("starter") && packs.includes("studio"));
    const session = await dana.call("buyCredits", {
      packId: "starter", successUrl: `${BACK}?purchase=done`, cancelUrl: BACK,
    });
    assert.match(session.url, /^http:\/\/127\.0\.0\.1:12111\/pay\/cs_test_/);
    assert.equal(session.credits, 100);
    const purchase = doc(dana.db, "users", dana.uid, "purchases", session.sessionId);
    assert.equal((await until(purchase, (p) => p?.status === "open")).credits, 100);
    const paid = await fetch(session.url, {
      method: "POST", body: new URLSearchParams({ action: "pay" }), redirect: "manual",
    });
    assert.equal(paid.status, 303);
    await until(purchase, (p) => p?.status === "paid");
    const user = await until(doc(dana.db, "users", dana.uid), (u) => u?.credits === 100);
    assert.equal(user.credits, 100);
    booksBalance(await ledger(dana), 100);
  });

  test("a bad pack or an open redirect is invalid-argument, with the HTTP body in details", async () => {
    const erin = await newUser(0);
    let err = await failure(erin.call("buyCredits", { packId: "gold", successUrl: BACK, cancelUrl: BACK }));
    assert.equal(err.code, "functions/invalid-argument");
    assert.equal(err.details.code, "invalid-pack-id");
    assert.deepEqual(err.details.allowed, ["starter", "studio"]);
    err = await failure(erin.call("buyCredits", {
      packId: "starter", successUrl: "https://evil.example/", cancelUrl: BACK,
    }));
    assert.equal(err.details.code, "invalid-success-url");
    err = await failure(client().call("buyCredits", { packId: "starter", successUrl: BACK, cancelUrl: BACK }));
    assert.equal(err.code, "functions/unauthenticated");
  });
});

describe("signup bonus", () => {
  /** The Auth emulator's email verification flow, as a user following the link would. */
  async function verify(session) {
    const user = session.auth.currentUser;
    await sendEmailVerification(user);
    const resp = await fetch(`http://127.0.0.1:9099/emulator/v1/projects/${PROJECT}/oobCodes`);
    const codes = (await resp.json()).oobCodes.filter(
      (c) => c.requestType === "VERIFY_EMAIL" && c.email === user.email,
    );
    await applyActionCode(session.auth, codes.at(-1).oobCode);
    await user.reload();
    await user.getIdToken(true); // the new token says email_verified
  }

  test("an account gets the bonus once its email is verified; a Gmail alias of it gets none", async () => {
    const name = `grace${randomUUID().slice(0, 8)}`;
    const first = client();
    await createUserWithEmailAndPassword(first.auth, `${name}@gmail.com`, "password");
    const unverified = await failure(first.call("getCredits", {}));
    assert.equal(unverified.details.code, "user-not-found"); // no bonus before verifying
    await verify(first);
    const credits = await first.call("getCredits", {});
    assert.equal(credits.currentCredits, 10);
    assert.deepEqual(credits.transactions.map((e) => [e.type, e.reason]), [["grant", "signup-bonus"]]);
    assert.equal((await first.call("getCredits", {})).currentCredits, 10); // once
    const alias = client();
    await createUserWithEmailAndPassword(alias.auth, `${name.slice(0, 3)}.${name.slice(3)}+x@gmail.com`, "password");
    await verify(alias);
    const none = await alias.call("getCredits", {});
    assert.equal(none.currentCredits, 0); // verified, but the address already got it
    assert.deepEqual(none.transactions, []);
  });
});

describe("gallery and account deletion", () => {
  test("delete, restore and purge through the callables; a listener sees each change", async () => {
    const frank = await newUser(5);
    const made = await frank.call("generateImage", { ...ORDER, simulateOutcome: "success" });
    const ref = doc(frank.db, "generationRequests", made.generationRequestId);
    assert.equal((await frank.call("deleteGeneration", { id: made.generationRequestId })).deleted, true);
    const deleted = await until(ref, (r) => r?.visibility === "deleted");
    assert.ok(deleted.deletedAt);
    const hidden = await frank.call("listGenerations", {});
    assert.equal(hidden.generationRequests.length, 0);
    const shown = await frank.call("listGenerations", { deleted: true });
    assert.deepEqual(shown.generationRequests.map((r) => r.generationRequestId), [made.generationRequestId]);
    await frank.call("restoreGeneration", { id: made.generationRequestId });
    await until(ref, (r) => r && !r.visibility && !r.deletedAt);
    await frank.call("purgeGeneration", { id: made.generationRequestId });
    const purged = await until(ref, (r) => r?.visibility === "purged");
    assert.equal(purged.prompt, "");
    const err = await failure(frank.call("restoreGeneration", { id: made.generationRequestId }));
    assert.equal(err.code, "functions/failed-precondition");
    assert.equal(err.details.code, "image-purged");
    const other = await newUser(0);
    const hiddenErr = await failure(other.call("deleteGeneration", { id: made.generationRequestId }));
    assert.equal(hiddenErr.code, "functions/not-found");
  });

  test("deleteAccount purges, forfeits the balance once and deletes the sign-in", async () => {
    const gina = await newUser(7);
    await gina.call("generateImage", { ...ORDER, simulateOutcome: "success" });
    const before = await ledger(gina);
    const result = await gina.call("deleteAccount", {});
    assert.deepEqual(result, { userId: gina.uid, deleted: true, purgedRequests: 1, forfeitedCredits: 6 });
    assert.equal(before.length, 2);
    const again = await failure(signInWithEmailAndPassword(client().auth, gina.auth.currentUser?.email ?? "x@y.z", "password"));
    assert.ok(again.code.startsWith("auth/"));
  });
});

describe("conversations", () => {
  test("a conversation through the callables; the owner listens to the session, others cannot", async () => {
    const hana = await newUser(5);
    const made = await hana.call("newConversation", { title: "kites" });
    assert.equal(made.title, "kites");
    const ref = doc(hana.db, "users", hana.uid, "sessions", made.sessionId);
    const turn = (prompt, extra = {}) => hana.call("generateImage", {
      ...ORDER, prompt, sessionId: made.sessionId, simulateOutcome: "success", ...extra,
    });
    const first = await turn("a kite");
    const second = await turn("in the rain");
    const failed = await failure(turn("add thunder", { simulateOutcome: "failure" }));
    assert.equal(failed.details.code, "generation-failed");
    const third = await turn("at sunset");
    const seen = await until(ref, (s) => s?.turns === 4);
    assert.equal(seen.lastRequestId, third.generationRequestId);
    const shown = await hana.call("getConversation", { id: made.sessionId });
    assert.deepEqual(shown.turns.map((t) => t.status), ["completed", "completed", "failed", "completed"]);
    assert.equal(shown.turns[1].input.id, first.generationRequestId);
    assert.equal(shown.turns[3].input.id, second.generationRequestId); // the last good image
    const listed = await hana.call("listConversations", {});
    assert.deepEqual(listed.sessions.map((s) => s.sessionId), [made.sessionId]);
    const ivan = await newUser(3);
    const denied = await until(doc(ivan.db, "users", hana.uid, "sessions", made.sessionId), () => true, 10000)
      .then(() => assert.fail("read another user's session"), (e) => e);
    assert.equal(denied.code, "permission-denied");
    for (const [name, data] of [
      ["getConversation", { id: made.sessionId }],
      ["deleteConversation", { id: made.sessionId }],
      ["generateImage", { ...ORDER, sessionId: made.sessionId }],
    ]) {
      const err = await failure(ivan.call(name, data));
      assert.equal(err.code, "functions/not-found", name);
    }
    const deleted = await hana.call("deleteConversation", { id: made.sessionId });
    assert.equal(deleted.requestsDeleted, 4);
    await until(ref, (s) => Boolean(s?.deletedAt));
    assert.equal((await hana.call("listConversations", {})).sessions.length, 0);
    const user = await until(doc(hana.db, "users", hana.uid), (u) => u?.credits === 2);
    booksBalance(await ledger(hana), user.credits);
    assert.equal((await ledger(ivan)).length, 1);
  });
});

describe("listeners", () => {
  test("the owner watches a queued request reach its final status and the balance move", async () => {
    const dave = await newUser(10);
    const userRef = doc(dave.db, "users", dave.uid);
    await until(userRef, (u) => u?.credits === 10);
    const seenBalances = [];
    const stop = onSnapshot(userRef, (snap) => seenBalances.push(snap.data()?.credits));
    const queued = await dave.call("generateImage", {
      ...ORDER, size: "1024x1024", async: true, simulateOutcome: "success",
    });
    assert.equal(queued.status, "queued");
    const final = await until(doc(dave.db, "generationRequests", queued.generationRequestId),
      (r) => r?.status === "completed");
    assert.equal(final.userId, dave.uid);
    assert.match(final.imageUrl, /getGenerationImage/);
    await until(userRef, (u) => u?.credits === 7);
    stop();
    assert.ok(seenBalances.includes(7), `balances seen: ${seenBalances}`);
    const entries = await ledger(dave);
    assert.deepEqual(entries.map((e) => e.type).sort(), ["deduction", "grant"]);
  });

  test("listening to another user's documents is permission-denied", async () => {
    const erin = await newUser(5);
    const frank = await newUser(5);
    const mine = await erin.call("generateImage", { ...ORDER, simulateOutcome: "success" });
    const refs = [
      doc(frank.db, "users", erin.uid),
      doc(frank.db, "generationRequests", mine.generationRequestId),
      collection(frank.db, "users", erin.uid, "transactions"),
    ];
    for (const ref of refs) {
      const err = await until(ref, () => true, 10000).then(
        () => assert.fail(`read ${ref.path}`),
        (e) => e,
      );
      assert.equal(err.code, "permission-denied", ref.path);
    }
    await signOut(frank.auth);
  });
});

describe("concurrency", () => {
  test("20 concurrent generateImage calls for one user keep the books exact", async () => {
    const gina = await newUser(30);
    const calls = Array.from({ length: 20 }, () =>
      gina.call("generateImage", { ...ORDER, size: "1024x1024" }).then(
        (r) => ({ ok: r }),
        (e) => ({ err: e }),
      ),
    );
    const results = await Promise.all(calls);
    const completed = results.filter((r) => r.ok).length;
    const codes = results.filter((r) => r.err).map((r) => r.err.details?.code);
    for (const code of codes) {
      assert.ok(["insufficient-credits", "generation-failed", "busy"].includes(code), code);
    }
    const refunded = codes.filter((c) => c === "generation-failed").length;
    const charged = completed + refunded;
    // Refunds free credits for further charges: what is bounded is what was kept.
    assert.ok(completed >= 1 && 3 * completed <= 30, `completed ${completed}, refunded ${refunded}`);
    const credits = await gina.call("getCredits", {});
    assert.equal(credits.currentCredits, 30 - 3 * completed);
    assert.ok(credits.currentCredits >= 0);
    const entries = await ledger(gina);
    assert.equal(entries.filter((e) => e.type === "deduction").length, charged);
    assert.equal(entries.filter((e) => e.type === "refund").length, refunded);
    booksBalance(entries, credits.currentCredits);
  });
});
