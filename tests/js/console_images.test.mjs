// The console's reading of a request's images (web/src/images.js), the same for a request
// document seen by the studio's listener and for generateImage's synchronous answer, and for
// old one-image documents that have only imageUrl. Pure logic: no emulator needed.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { imageCount, imagesOf, orderLabel } from "../../web/src/images.js";

const URL = "http://127.0.0.1:5001/demo-imagegen/us-central1/getGenerationImage?id=abc";

describe("console images", () => {
  test("a request document's images, in index order, each with its own status", () => {
    const doc = {
      status: "completed", numImages: 4, imageUrl: `${URL}&index=0`,
      imageUrls: [`${URL}&index=0`, `${URL}&index=2`],
      images: [
        { index: 2, status: "completed", imageUrl: `${URL}&index=2`, imagePath: "p/2.png", width: 512 },
        { index: 0, status: "completed", imageUrl: `${URL}&index=0`, imagePath: "p/0.png", width: 512 },
        { index: 3, status: "failed", failureKind: "model-error" },
        { index: 1, status: "failed", failureKind: "model-error" },
      ],
    };
    assert.equal(imageCount(doc), 4);
    assert.deepEqual(imagesOf(doc), [
      { index: 0, status: "completed", imageUrl: `${URL}&index=0`, failureKind: null },
      { index: 1, status: "failed", imageUrl: null, failureKind: "model-error" },
      { index: 2, status: "completed", imageUrl: `${URL}&index=2`, failureKind: null },
      { index: 3, status: "failed", imageUrl: null, failureKind: "model-error" },
    ]);
  });

  test("the synchronous answer's images (null URL and failureKind) read the same", () => {
    const answer = {
      status: "completed", numImages: 2, imageUrl: `${URL}&index=1`, imageUrls: [`${URL}&index=1`],
      images: [
        { index: 0, status: "failed", imageUrl: null, failureKind: "safety-block" },
        { index: 1, status: "completed", imageUrl: `${URL}&index=1`, failureKind: null },
      ],
    };
    assert.deepEqual(imagesOf(answer), [
      { index: 0, status: "failed", imageUrl: null, failureKind: "safety-block" },
      { index: 1, status: "completed", imageUrl: `${URL}&index=1`, failureKind: null },
    ]);
  });

  test("a charged request not yet settled has all its images pending", () => {
    const queued = { status: "queued", numImages: 2, images: [{ index: 0, status: "pending" }, { index: 1, status: "pending" }] };
    assert.deepEqual(imagesOf(queued).map((i) => i.status), ["pending", "pending"]);
    assert.deepEqual(imagesOf({ status: "processing", numImages: 4 }).map((i) => i.status),
      ["pending", "pending", "pending", "pending"]);
  });

  test("old documents without images or numImages are one image", () => {
    assert.equal(imageCount({ status: "completed", imageUrl: URL }), 1);
    assert.deepEqual(imagesOf({ status: "completed", imageUrl: URL }), [
      { index: 0, status: "completed", imageUrl: URL, failureKind: null },
    ]);
    assert.deepEqual(imagesOf({ status: "failed", failureKind: "timeout" }), [
      { index: 0, status: "failed", imageUrl: null, failureKind: "timeout" },
    ]);
    assert.deepEqual(imagesOf({ status: "canceled" }).map((i) => i.status), ["failed"]);
    assert.deepEqual(imagesOf({ status: "queued" }).map((i) => i.status), ["pending"]);
  });

  test("the button says the count and the total price; one image reads as before", () => {
    assert.equal(orderLabel("Generate", 3, 1), "Generate (3 credits)");
    assert.equal(orderLabel("Generate", 1, 1), "Generate (1 credit)");
    assert.equal(orderLabel("Generate", 3, 4), "Generate 4 images (12 credits)");
    assert.equal(orderLabel("Edit", 1, 2), "Edit 2 images (2 credits)");
    assert.equal(orderLabel("Generate", NaN, 2), "Generate 2 images (? credits)");
  });
});
