// A conversation opened from one of the user's images ("Edit"): its title and what its next
// turn starts from. Pure: no DOM, no Firebase, so node --test checks it directly.

export const MAX_TITLE_LENGTH = 200; // the backend's limit on a session's title

/** A session title from an image's prompt: its whitespace collapsed, at most 200 characters
 * (an ellipsis when cut), "Edit" for an empty prompt. */
export function titleFrom(prompt) {
  const text = String(prompt ?? "").replace(/\s+/g, " ").trim();
  if (!text) return "Edit";
  const chars = [...text]; // by code point: never half a surrogate pair
  return chars.length <= MAX_TITLE_LENGTH ? text : `${chars.slice(0, MAX_TITLE_LENGTH - 1).join("").trimEnd()}…`;
}

/** The `input` of a request naming one of the user's images: `{generationRequestId}` for a
 * one-image request, `{generationRequestId, index}` for one image of several. */
export function inputOf(requestId, index = null) {
  return Number.isInteger(index) ? { generationRequestId: requestId, index } : { generationRequestId: requestId };
}

/** The label of a picked image: "Your image: <prompt>", "Your image 3: <prompt>" for index 2. */
export function labelOf(prompt, index = null) {
  return Number.isInteger(index) ? `Your image ${index + 1}: ${prompt}` : `Your image: ${prompt}`;
}

/**
 * The `input` a turn of a conversation sends: the picked image (`start.input`) until one of
 * its turns has completed, so a first turn that failed (refunded) leaves the next one starting
 * from the picked image again; after that none, and the backend continues from the session's
 * latest image. `turns` are the session's turns as last read (`[]` or undefined before any).
 */
export function turnInput(start, turns) {
  if (!start?.input) return null;
  const hasImage = (turns ?? []).some((t) => t?.status === "completed");
  return hasImage ? null : start.input;
}
