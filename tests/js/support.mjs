// What the client SDK tests share (not a test file itself): apps wired to the emulators, test
// users holding credits granted by the seeded admin, the callable error of a promise, a
// listener awaited until it sees a value, and the books checked from the owner's own view.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";

import { deleteApp, initializeApp } from "firebase/app";
import {
  connectAuthEmulator,
  createUserWithEmailAndPassword,
  getAuth,
  signInWithEmailAndPassword,
} from "firebase/auth";
import {
  collection,
  connectFirestoreEmulator,
  getDocs,
  getFirestore,
  onSnapshot,
  terminate,
} from "firebase/firestore";
import { connectFunctionsEmulator, getFunctions, httpsCallable } from "firebase/functions";

export const PROJECT = process.env.GCLOUD_PROJECT || "demo-imagegen";
export const FUNCTIONS = `http://127.0.0.1:5001/${PROJECT}/us-central1`;

const apps = [];
let adminToken;

/** A Firebase app of its own (one signed-in user each), wired to the emulators. */
export function client() {
  const app = initializeApp({ projectId: PROJECT, apiKey: "demo-key" }, `client-${randomUUID()}`);
  const auth = getAuth(app);
  connectAuthEmulator(auth, "http://127.0.0.1:9099", { disableWarnings: true });
  const functions = getFunctions(app, "us-central1");
  connectFunctionsEmulator(functions, "127.0.0.1", 5001);
  const db = getFirestore(app);
  connectFirestoreEmulator(db, "127.0.0.1", 8080);
  const call = (name, data) => httpsCallable(functions, name)(data).then((r) => r.data);
  const session = { app, auth, db, call };
  apps.push(session);
  return session;
}

/** Signs the seeded admin in (once, in `before`): `grant` and `newUser` use its token. */
export async function signInAdmin() {
  const admin = client();
  const { user } = await signInWithEmailAndPassword(admin.auth, "admin@example.com", "password");
  adminToken = await user.getIdToken();
}

/** Ends every app the tests opened (in `after`). */
export async function closeAll() {
  for (const session of apps) {
    await terminate(session.db);
    await deleteApp(session.app);
  }
}

/** Grants `credits` to `uid` over HTTP, as the seeded admin. */
export async function grant(uid, credits, reason = "js client tests") {
  const resp = await fetch(`${FUNCTIONS}/grantCredits`, {
    method: "POST",
    headers: { Authorization: `Bearer ${adminToken}`, "Content-Type": "application/json" },
    body: JSON.stringify({ userId: uid, credits, reason }),
  });
  assert.equal(resp.status, 200, await resp.text());
}

// Test users are `js+<tag>@...` addresses left unverified, so they get no signup bonus (it
// needs a verified email): they start at 0 credits and hold exactly what a test grants them.

/** A new email/password user, signed in, holding `credits` granted by the seeded admin. */
export async function newUser(credits, reason = undefined) {
  const session = client();
  const email = `js+${randomUUID().slice(0, 12)}@tests.example.com`;
  const { user } = await createUserWithEmailAndPassword(session.auth, email, "password");
  if (credits) await grant(user.uid, credits, reason);
  return { ...session, uid: user.uid };
}

/** The callable's HttpsError: its code ("functions/<canonical>") and details. */
export async function failure(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail("the call succeeded");
}

/** Resolves with the first snapshot value that `ready` accepts; rejects on a listener error. */
export function until(ref, ready, timeoutMs = 30000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no matching snapshot of ${ref.path} within ${timeoutMs} ms`));
    }, timeoutMs);
    const stop = onSnapshot(
      ref,
      (snap) => {
        const value = snap.exists() ? snap.data() : undefined;
        if (ready(value)) {
          clearTimeout(timer);
          stop();
          resolve(value);
        }
      },
      (err) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/** The user's ledger entries, read by its owner. */
export async function ledger(session) {
  const snaps = await getDocs(collection(session.db, "users", session.uid, "transactions"));
  return snaps.docs.map((d) => ({ id: d.id, ...d.data() }));
}

/** Invariant 1, from the owner's own view of the ledger. */
export function booksBalance(entries, credits) {
  const sum = (type) => entries.filter((e) => e.type === type).reduce((a, e) => a + e.credits, 0);
  const credited = sum("grant") + sum("purchase") + sum("refund") + sum("reinstatement");
  assert.equal(credits, credited - sum("deduction") - sum("reversal") - sum("forfeit"));
}
