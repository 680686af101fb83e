// The console's conversations opened from an image (web/src/threads.js): the title taken from
// the image's prompt and the input each turn sends. Pure logic: no emulator needed.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { inputOf, labelOf, MAX_TITLE_LENGTH, titleFrom, turnInput } from "../../web/src/threads.js";

describe("conversations from an image", () => {
  test("the title is the prompt, whitespace collapsed, cut to the backend's limit", () => {
    assert.equal(titleFrom("a red  barn\n at dusk "), "a red barn at dusk");
    assert.equal(titleFrom(""), "Edit");
    assert.equal(titleFrom(undefined), "Edit");
    const long = titleFrom("x".repeat(2000));
    assert.equal([...long].length, MAX_TITLE_LENGTH);
    assert.ok(long.endsWith("…"));
    const emoji = titleFrom("🎨".repeat(300)); // cut between code points, never inside one
    assert.equal([...emoji].length, MAX_TITLE_LENGTH);
    assert.ok(!/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/.test(emoji));
  });

  test("the input names the request, and the image's index for one of several", () => {
    assert.deepEqual(inputOf("r1"), { generationRequestId: "r1" });
    assert.deepEqual(inputOf("r1", 2), { generationRequestId: "r1", index: 2 });
    assert.deepEqual(inputOf("r1", 0), { generationRequestId: "r1", index: 0 });
    assert.equal(labelOf("four kites", 2), "Your image 3: four kites");
    assert.equal(labelOf("a red barn"), "Your image: a red barn");
  });

  test("turns start from the picked image until one completes, then from the session", () => {
    const start = { input: { generationRequestId: "r1", index: 2 } };
    assert.deepEqual(turnInput(start, undefined), start.input);
    assert.deepEqual(turnInput(start, []), start.input);
    assert.deepEqual(turnInput(start, [{ status: "queued" }]), start.input);
    assert.deepEqual(turnInput(start, [{ status: "failed" }]), start.input);
    assert.equal(turnInput(start, [{ status: "failed" }, { status: "completed" }]), null);
    assert.equal(turnInput(null, []), null);
    assert.equal(turnInput(undefined, [{ status: "completed" }]), null);
  });
});
