// The gallery: delete a settled request, the "Recently deleted" view (restore, erase now),
// and deleting the whole account behind a confirmation.
import { signOut } from "firebase/auth";
import { describeError } from "./firebase.js";
import { imageCount } from "./images.js";
import { el, setStatus } from "./ui.js";

const SETTLED = ["completed", "failed", "canceled"];

/** The Delete button of a request card (settled requests only). */
export function deleteButton(fb, id, r) {
  if (!SETTLED.includes(r.status)) return null;
  const status = document.querySelector("#gallery-status");
  const button = el("button", { type: "button", class: "secondary delete", "data-id": id }, "Delete");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await fb.call("deleteGeneration", { id });
      setStatus(status, "Deleted. You can restore it from Recently deleted.", "ok");
    } catch (err) {
      setStatus(status, describeError(err), "error");
      button.disabled = false;
    }
  });
  return button;
}

function deletedItem(fb, r, reload) {
  const status = document.querySelector("#gallery-status");
  const purged = Boolean(r.purgedAt);
  const item = el("li", { class: "request deleted", "data-id": r.generationRequestId, "data-purged": String(purged) },
    el("div", { class: "row" }, el("span", { class: "badge" }, purged ? "erased" : "deleted"),
      el("span", { class: "meta" },
        `${r.model} · ${r.size}${imageCount(r) > 1 ? ` · ${imageCount(r)} images` : ""} · ${r.cost} cr`)),
    el("p", { class: "prompt" }, purged ? "(prompt erased)" : r.prompt));
  const run = (name, done) => async (event) => {
    event.target.disabled = true;
    try {
      await fb.call(name, { id: r.generationRequestId });
      setStatus(status, done, "ok");
      await reload();
    } catch (err) {
      setStatus(status, describeError(err), "error");
      event.target.disabled = false;
    }
  };
  if (!purged) {
    const restore = el("button", { type: "button", class: "secondary restore" }, "Restore");
    restore.addEventListener("click", run("restoreGeneration", "Restored."));
    const erase = el("button", { type: "button", class: "secondary purge" }, "Erase now");
    erase.addEventListener("click", run("purgeGeneration", "Erased for good."));
    item.append(el("div", { class: "row" }, restore, erase));
  }
  return item;
}

export function startGallery(fb) {
  const toggle = document.querySelector("#show-deleted");
  const section = document.querySelector("#deleted-section");
  const status = document.querySelector("#gallery-status");
  const reload = async () => {
    try {
      const page = await fb.call("listGenerations", { deleted: true, pageSize: 50 });
      document.querySelector("#deleted").replaceChildren(
        ...page.generationRequests.map((r) => deletedItem(fb, r, reload)));
    } catch (err) {
      setStatus(status, describeError(err), "error");
    }
  };
  toggle.onclick = () => {
    const open = section.hidden;
    section.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    if (open) reload();
  };

  const confirm = document.querySelector("#confirm-delete-account");
  const button = document.querySelector("#delete-account");
  const out = document.querySelector("#account-status");
  confirm.checked = false;
  button.disabled = true;
  confirm.onchange = () => { button.disabled = !confirm.checked; };
  button.onclick = async () => {
    button.disabled = true;
    setStatus(out, "Deleting your account…");
    try {
      const result = await fb.call("deleteAccount", {});
      setStatus(out, `Account deleted: ${result.purgedRequests} request(s) erased.`, "ok");
      await signOut(fb.auth);
    } catch (err) {
      setStatus(out, describeError(err), "error");
      button.disabled = false;
    }
  };
  return () => { section.hidden = true; toggle.setAttribute("aria-expanded", "false"); };
}
