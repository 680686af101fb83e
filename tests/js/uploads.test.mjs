// Reference-image uploads through the official Firebase JS SDK against the emulators: the
// callable uploadReferenceImage stores a PNG the owner can then read (its document, through
// the rules), refuses bad bytes with the HTTP error body as details, and nobody reads another
// user's uploads.
//
// Run by ./run-tests.sh inside the emulators (node --test tests/js).

import assert from "node:assert/strict";
import { after, describe, test } from "node:test";

import { collection, doc, getDoc, getDocs } from "firebase/firestore";

import { closeAll, failure, newUser } from "./support.mjs";

// A 12x8 green PNG.
const PNG =
  "iVBORw0KGgoAAAANSUhEUgAAAAwAAAAICAIAAABChommAAAAFUlEQVR4nGPkOqHBQAgwEVQx7BUBACl1AQqMU6E+AAAAAElFTkSuQmCC";

after(closeAll);

describe("uploads", () => {
  test("uploadReferenceImage stores a PNG its owner reads back through the rules", async () => {
    const alice = await newUser();
    const result = await alice.call("uploadReferenceImage", { data: PNG, contentType: "image/png" });
    assert.deepEqual(Object.keys(result).sort(), ["contentType", "height", "uploadId", "width"]);
    assert.equal(result.contentType, "image/png");
    assert.equal(result.width, 12);
    assert.equal(result.height, 8);
    const snap = await getDoc(doc(alice.db, "users", alice.uid, "uploads", result.uploadId));
    assert.ok(snap.exists());
    const upload = snap.data();
    assert.equal(upload.contentType, "image/png");
    assert.equal(upload.width, 12);
    assert.match(upload.sha256, /^[0-9a-f]{64}$/);
    const listed = await getDocs(collection(alice.db, "users", alice.uid, "uploads"));
    assert.deepEqual(listed.docs.map((d) => d.id), [result.uploadId]);
  });

  test("bad bytes and a wrong type are invalid-argument with the HTTP error body", async () => {
    const bob = await newUser();
    let err = await failure(
      bob.call("uploadReferenceImage", { data: Buffer.from("hello").toString("base64"), contentType: "image/png" }),
    );
    assert.equal(err.code, "functions/invalid-argument");
    assert.equal(err.details.code, "invalid-image");
    err = await failure(bob.call("uploadReferenceImage", { data: PNG, contentType: "image/gif" }));
    assert.equal(err.details.code, "invalid-image");
    assert.deepEqual(err.details.allowed, ["image/png", "image/jpeg", "image/webp"]);
    err = await failure(bob.call("uploadReferenceImage", { contentType: "image/png" }));
    assert.equal(err.details.code, "missing-fields");
    const listed = await getDocs(collection(bob.db, "users", bob.uid, "uploads"));
    assert.equal(listed.size, 0);
  });

  test("another user's uploads cannot be read", async () => {
    const [alice, mallory] = [await newUser(), await newUser()];
    const { uploadId } = await alice.call("uploadReferenceImage", { data: PNG, contentType: "image/png" });
    const err = await failure(getDoc(doc(mallory.db, "users", alice.uid, "uploads", uploadId)));
    assert.equal(err.code, "permission-denied");
    const listing = await failure(getDocs(collection(mallory.db, "users", alice.uid, "uploads")));
    assert.equal(listing.code, "permission-denied");
  });
});
