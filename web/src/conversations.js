// Conversations: the user's sessions (newest first, deletable) and the open one as a thread of
// turns with a box for the next instruction; each turn edits the session's latest image. "Edit"
// on one of the user's images opens a new conversation from it: its turns start from that image
// until one of them has made an image of its own.
import { collection, onSnapshot, query, where } from "firebase/firestore";
import { describeError, inEmulator } from "./firebase.js";
import { inputOf, labelOf, titleFrom, turnInput } from "./threads.js";
import { el, setStatus } from "./ui.js";

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");

function turnItem(fb, t, images) {
  const item = el("li", { class: "turn", "data-id": t.generationRequestId, "data-status": t.status },
    el("div", { class: "row" }, el("span", { class: `badge ${t.status}` }, t.status),
      el("span", { class: "meta" }, t.input ? "edit" : "new image")),
    el("p", { class: "prompt" }, t.prompt ?? ""));
  if (t.imageUrl) {
    const img = el("img", { alt: `Turn: ${t.prompt}` });
    item.append(img);
    const id = t.generationRequestId;
    if (!images.has(id)) images.set(id, fb.imageObjectUrl(t.imageUrl));
    images.get(id).then((url) => (img.src = url), () => img.replaceWith(el("p", { class: "error" }, "The image could not be loaded.")));
  }
  if (t.failure) item.append(el("p", { class: "error" }, `${t.failure.reason || t.failure.kind} (refunded)`));
  return item;
}

/** The conversations card of the studio; `form` is the generate form (model, size, style,
 * colour of each turn), `reference` its input image (a turn without a picked image may start
 * from it). Returns {editImage(id, r, url, index), stop()}. */
export function startConversations(fb, user, form, images, reference) {
  const $ = (selector) => document.querySelector(selector);
  const status = $("#conversations-status");
  const view = $("#conversation");
  const turnForm = $("#turn-form");
  const startView = $("#conversation-start");
  const starts = new Map(); // sessionId -> {input, url, label}: opened by "Edit" on that image
  let open = null; // {id, stop, turns}
  let shown = 0; // reloads of the open conversation; only the latest one is drawn
  let listed = 0;

  async function reloadList() {
    const mine = ++listed;
    try {
      const page = await fb.call("listConversations", { pageSize: 50 });
      if (mine !== listed) return;
      $("#sessions").replaceChildren(...page.sessions.map(sessionItem));
    } catch (err) {
      setStatus(status, describeError(err), "error");
    }
  }

  async function reloadThread(id) {
    const mine = ++shown;
    try {
      const s = await fb.call("getConversation", { id });
      if (mine !== shown || open?.id !== id) return;
      open.turns = s.turns;
      $("#conversation-title").textContent = s.title;
      $("#turns").replaceChildren(...s.turns.map((t) => turnItem(fb, t, images)));
      view.dataset.turns = String(s.turns.length);
      for (const item of document.querySelectorAll("#sessions li")) {
        item.toggleAttribute("aria-current", item.dataset.id === id);
      }
    } catch (err) {
      if (mine === shown && open?.id === id) setStatus(status, describeError(err), "error");
    }
  }

  function close() {
    open?.stop();
    open = null;
    view.hidden = true;
    delete view.dataset.id;
    $("#turns").replaceChildren();
    showStart(null);
  }

  /** The picked image a conversation started from, above its thread (none: hidden). */
  function showStart(start) {
    startView.hidden = !start;
    const thumb = $("#conversation-start-thumb");
    if (!start) {
      thumb.removeAttribute("src");
      delete startView.dataset.input;
      return;
    }
    thumb.src = start.url;
    thumb.alt = start.label;
    $("#conversation-start-label").textContent = start.label;
    startView.dataset.input = JSON.stringify(start.input);
  }

  function openConversation(id) {
    close();
    view.hidden = false;
    view.dataset.id = id;
    setStatus(status, "");
    showStart(starts.get(id) ?? null);
    // Every change of one of its requests (a new turn, a status) redraws the thread.
    const turnsQuery = query(collection(fb.db, "generationRequests"),
      where("userId", "==", user.uid), where("sessionId", "==", id));
    const stop = onSnapshot(turnsQuery, () => reloadThread(id),
      (err) => setStatus(status, describeError(err), "error"));
    open = { id, stop, turns: undefined };
    reloadThread(id);
  }

  function sessionItem(s) {
    const pick = el("button", { type: "button", class: "secondary open" },
      el("strong", {}, s.title), el("span", { class: "meta" }, ` · ${plural(s.turnCount ?? 0, "turn")} · ${when(s.createdAt)}`));
    pick.addEventListener("click", () => openConversation(s.sessionId));
    const remove = el("button", { type: "button", class: "secondary delete-session" }, "Delete");
    remove.addEventListener("click", async () => {
      remove.disabled = true;
      if (open?.id === s.sessionId) close(); // its thread is going away
      try {
        const result = await fb.call("deleteConversation", { id: s.sessionId });
        setStatus(status, `Deleted "${s.title}" and ${plural(result.requestsDeleted, "image")}; they can be restored from Recently deleted.`, "ok");
        await reloadList();
      } catch (err) {
        setStatus(status, describeError(err), "error");
        remove.disabled = false;
      }
    });
    return el("li", { "data-id": s.sessionId }, pick, remove);
  }

  const newForm = $("#new-conversation-form");
  const onNew = async (event) => {
    event.preventDefault();
    const button = newForm.querySelector("button");
    button.disabled = true;
    try {
      const s = await fb.call("newConversation", { title: newForm.elements.sessionTitle.value.trim() || undefined });
      newForm.reset();
      await reloadList();
      openConversation(s.sessionId);
      turnForm.prompt.focus();
    } catch (err) {
      setStatus(status, describeError(err), "error");
    } finally {
      button.disabled = false;
    }
  };

  const onTurn = async (event) => {
    event.preventDefault();
    if (!open) return;
    const button = turnForm.querySelector("button");
    button.disabled = true;
    const data = Object.fromEntries(["model", "style", "color", "size"].map((k) => [k, form[k].value]));
    data.prompt = turnForm.prompt.value;
    data.sessionId = open.id;
    if (inEmulator && form.outcome.value) data.simulateOutcome = form.outcome.value;
    // The picked image until a turn has made one; else a reference image set in the form;
    // else none, and the turn continues from the session's latest image.
    const picked = turnInput(starts.get(open.id), open.turns);
    const input = picked ?? reference.input();
    if (input) data.input = input;
    try {
      const result = await fb.call("generateImage", { ...data, async: true });
      if (input && !picked) reference.clear();
      turnForm.reset();
      setStatus(status, `Turn queued: ${result.deductedCredits} credit(s) charged, ${result.remainingCredits} left.`, "ok");
      reloadList();
    } catch (err) {
      setStatus(status, describeError(err), "error");
    } finally {
      button.disabled = false;
    }
  };

  /** "Edit" on one of the user's images (`index`: one image of a request of several, shown
   * from `url`): a new conversation titled from its prompt, opened with that image as its
   * starting point, the form set to the request's style, colour and size. */
  async function editImage(id, r, url, index = null) {
    setStatus(status, "Opening a conversation from your image…");
    try {
      const s = await fb.call("newConversation", { title: titleFrom(r.prompt) });
      starts.set(s.sessionId, { input: inputOf(id, index), url, label: labelOf(r.prompt, index) });
      for (const name of ["style", "color", "size"]) {
        if (r[name]) {
          form[name].value = r[name];
          form[name].dispatchEvent(new Event("change")); // the prices shown follow
        }
      }
      await reloadList();
      openConversation(s.sessionId);
      setStatus(status, "Your first instruction edits this image; each next one the latest image.", "ok");
      $("#conversations-card").scrollIntoView({ block: "start" });
      turnForm.prompt.focus();
    } catch (err) {
      setStatus(status, describeError(err), "error");
    }
  }

  newForm.addEventListener("submit", onNew);
  turnForm.addEventListener("submit", onTurn);
  reloadList();
  return {
    editImage,
    stop() {
      close();
      starts.clear();
      newForm.removeEventListener("submit", onNew);
      turnForm.removeEventListener("submit", onTurn);
      $("#sessions").replaceChildren();
      setStatus(status, "");
    },
  };
}
