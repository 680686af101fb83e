// The images of a request, one per index with its own status, read the same way from a request
// document (the studio's listener) and from generateImage's synchronous answer. Pure: no DOM,
// no Firebase, so node --test checks it directly.

const SETTLED_FAILED = ["failed", "canceled"];

/** How many images a request asked for: `numImages`, else `images`' length, else 1 (old documents). */
export function imageCount(r) {
  if (Number.isInteger(r?.numImages) && r.numImages > 0) return r.numImages;
  if (Array.isArray(r?.images) && r.images.length) return r.images.length;
  return 1;
}

/**
 * `[{index, status: "pending"|"completed"|"failed", imageUrl, failureKind}]` in index order.
 * From `images` when the request has it (document or answer: failed entries have no URL);
 * otherwise (old documents, one-image answers) from `imageUrls`/`imageUrl` and the request's
 * own status: a completed request's stored images, a failed or canceled one's failed images,
 * pending while it runs.
 */
export function imagesOf(r) {
  if (Array.isArray(r?.images) && r.images.length) {
    return r.images
      .map((image, position) => ({ image, index: Number.isInteger(image?.index) ? image.index : position }))
      .sort((a, b) => a.index - b.index)
      .map(({ image, index }) => {
        const status = ["completed", "failed"].includes(image?.status) ? image.status : "pending";
        return {
          index,
          status,
          imageUrl: status === "completed" ? image.imageUrl ?? null : null,
          failureKind: status === "failed" ? image.failureKind ?? null : null,
        };
      });
  }
  const count = imageCount(r);
  const indexes = Array.from({ length: count }, (_, index) => index);
  if (r?.status === "completed") {
    const urls = Array.isArray(r.imageUrls) ? r.imageUrls : r.imageUrl ? [r.imageUrl] : [];
    return indexes.map((index) => (urls[index]
      ? { index, status: "completed", imageUrl: urls[index], failureKind: null }
      : { index, status: "failed", imageUrl: null, failureKind: null }));
  }
  if (SETTLED_FAILED.includes(r?.status)) {
    return indexes.map((index) => ({ index, status: "failed", imageUrl: null, failureKind: r.failureKind ?? null }));
  }
  return indexes.map((index) => ({ index, status: "pending", imageUrl: null, failureKind: null }));
}

/** The generate button's text: "Generate (3 credits)" for one image, "Generate 4 images (12 credits)". */
export function orderLabel(verb, unitPrice, count) {
  const total = Number.isFinite(unitPrice) ? unitPrice * count : null;
  const credits = total === null ? "? credits" : `${total} credit${total === 1 ? "" : "s"}`;
  return count > 1 ? `${verb} ${count} images (${credits})` : `${verb} (${credits})`;
}
