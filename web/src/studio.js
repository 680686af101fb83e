// The user studio: balance and ledger live, the generate form from the catalog, requests live.
import { collection, doc, getDocs, limit, onSnapshot, orderBy, query, where } from "firebase/firestore";
import { startBuying } from "./buying.js";
import { startConversations } from "./conversations.js";
import { startReference } from "./edits.js";
import { deleteButton, startGallery } from "./gallery.js";
import { describeError, inEmulator } from "./firebase.js";
import { imageCount, imagesOf, orderLabel } from "./images.js";
import { el, setStatus } from "./ui.js";

const byOrder = (a, b) => (a.order ?? 0) - (b.order ?? 0) || a.id.localeCompare(b.id);

// Without any `models` documents the backend offers the simulated model-a and model-b.
const DEFAULT_MODELS = [{ id: "model-a" }, { id: "model-b" }];

async function loadCatalog(fb, form) {
  const read = async (name) =>
    (await getDocs(collection(fb.db, name))).docs
      .map((d) => ({ id: d.id, ...d.data() }))
      .sort(byOrder);
  const [models, styles, colors, sizes] = await Promise.all(
    ["models", "styles", "colors", "sizes"].map(read));
  const offered = models.length ? models.filter((m) => m.enabled !== false) : DEFAULT_MODELS;
  const active = (items) => items.filter((item) => item.active !== false);
  const fill = (select, items, label) =>
    select.replaceChildren(...items.map((item) => el("option", { value: item.id }, label(item))));
  const credits = (n) => `${n} credit${n === 1 ? "" : "s"}`;
  // A model may price sizes itself (`credits`: size -> credits); other sizes cost what `sizes` says.
  const price = (size) =>
    offered.find((m) => m.id === form.model.value)?.credits?.[size.id] ?? size.credits;
  // In edit mode (an input image is set) only the models that can edit are offered.
  const canEdit = (m) => m.edits === true || !models.length;
  const labelSizes = () => {
    const editing = form.dataset.mode === "edit";
    for (const option of form.model.options) {
      option.disabled = editing && !canEdit(offered.find((m) => m.id === option.value) ?? {});
    }
    if (form.model.selectedOptions[0]?.disabled) {
      form.model.value = [...form.model.options].find((o) => !o.disabled)?.value ?? form.model.value;
    }
    const chosen = form.size.value;
    fill(form.size, active(sizes), (s) => `${s.id} (${credits(price(s))})`);
    if (chosen) form.size.value = chosen;
    const size = sizes.find((s) => s.id === form.size.value);
    form.querySelector("#generate-button").textContent =
      orderLabel(editing ? "Edit" : "Generate", size ? price(size) : NaN, Number(form.numImages.value) || 1);
  };
  fill(form.model, offered, (m) => (m.provider && m.provider !== "simulated" ? `${m.id} (${m.provider})` : m.id));
  fill(form.style, active(styles), (s) => s.id);
  fill(form.color, active(colors), (c) => c.id);
  form.model.addEventListener("change", labelSizes);
  form.size.addEventListener("change", labelSizes);
  form.numImages.addEventListener("change", labelSizes);
  labelSizes();
}

function ledgerItem(entry) {
  const sign = ["deduction", "reversal"].includes(entry.type) ? "minus" : "plus";
  const when = entry.timestamp?.toDate?.().toLocaleString() ?? "";
  return el("li", {}, el("span", {}, `${entry.type}${entry.reason ? ` (${entry.reason})` : ""}`),
    el("span", { class: sign }, `${sign === "minus" ? "−" : "+"}${entry.credits}`),
    el("span", { class: "hint" }, when));
}

const INPUT_KINDS = { upload: "an uploaded image", generation: "an earlier image" };

/** An image URL of ours as an object URL, fetched once per `key` while the studio is open. */
function cachedImage(fb, images, key, url) {
  if (!images.has(key)) images.set(key, fb.imageObjectUrl(url));
  return images.get(key);
}

/** The tiles of a several-image request, one per index with its own status; Edit on a stored
 * one opens a conversation from that image. */
function imageGrid(fb, id, r, images, conversations) {
  const all = imagesOf(r);
  return el("ul", { class: "tiles", "aria-label": `${all.length} images` }, ...all.map((image) => {
    const tile = el("li", { class: "tile", "data-index": String(image.index), "data-status": image.status });
    if (image.status === "completed" && image.imageUrl) {
      const img = el("img", { alt: `Image ${image.index + 1} of ${all.length}: ${r.prompt}`,
        "data-size": r.size, "data-url": image.imageUrl });
      tile.append(img);
      const picture = cachedImage(fb, images, image.imageUrl, image.imageUrl);
      picture.then((url) => (img.src = url),
        () => img.replaceWith(el("p", { class: "error" }, "The image could not be loaded.")));
      const edit = el("button", { type: "button", class: "secondary edit", "data-id": id,
        "data-index": String(image.index) }, "Edit");
      edit.addEventListener("click", () => picture.then((url) => conversations.editImage(id, r, url, image.index)));
      tile.append(edit);
    } else if (image.status === "failed") {
      tile.append(el("span", { class: "badge failed" }, "failed"),
        el("span", { class: "failure-kind" }, image.failureKind ?? "no image"));
    } else {
      tile.append(el("span", { class: "badge pending" }, image.status));
    }
    return tile;
  }));
}

function requestCard(fb, id, r, images, conversations) {
  const count = imageCount(r);
  const card = el("li", { class: "request", "data-id": id, "data-status": r.status, "data-images": String(count) },
    el("div", { class: "row" }, el("span", { class: `badge ${r.status}` }, r.status),
      el("span", { class: "meta" },
        `${r.model} · ${r.style} · ${r.color} · ${r.size}${count > 1 ? ` · ${count} images` : ""} · ${r.cost} cr`)),
    el("p", { class: "prompt" }, r.prompt));
  if (r.input?.kind) {
    card.append(el("p", { class: "meta edit-of", "data-kind": r.input.kind },
      `Edit of ${INPUT_KINDS[r.input.kind] ?? "an image"}`));
  }
  if (count > 1) {
    card.append(imageGrid(fb, id, r, images, conversations));
    const failed = imagesOf(r).filter((image) => image.status === "failed").length;
    if (r.status === "completed" && failed) {
      card.append(el("p", { class: "ok refund" },
        `${failed} of ${count} images failed; refunded ${r.refundedCredits ?? 0} credit(s).`));
    }
  } else if (r.status === "completed" && r.imageUrl) {
    const img = el("img", { alt: `Generated: ${r.prompt}`, "data-size": r.size });
    card.append(img);
    cachedImage(fb, images, id, r.imageUrl).then((url) => (img.src = url),
      () => img.replaceWith(el("p", { class: "error" }, "The image could not be loaded.")));
    const edit = el("button", { type: "button", class: "secondary edit", "data-id": id }, "Edit");
    edit.addEventListener("click", () => images.get(id).then((url) => conversations.editImage(id, r, url)));
    card.append(edit);
  }
  if (["failed", "canceled"].includes(r.status)) {
    card.append(el("p", { class: "error" }, r.failureReason || r.status),
      el("p", { class: "ok refund" }, `Refunded ${r.refundedCredits ?? r.cost} credit(s).`));
  }
  const remove = deleteButton(fb, id, r);
  if (remove) card.append(remove);
  if (r.status === "queued") { // once a provider has it, it runs to its end (and is billed)
    const button = el("button", { type: "button", class: "secondary cancel" }, "Cancel");
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await fb.call("cancelGeneration", { id });
      } catch (err) {
        button.replaceWith(el("p", { class: "error" }, describeError(err)));
      }
    });
    card.append(button);
  }
  return card;
}

export function startStudio(fb, user) {
  const form = document.querySelector("#generate-form");
  const status = document.querySelector("#generate-status");
  document.querySelector("#outcome-field").hidden = !inEmulator;
  const stops = [];
  const images = new Map();
  const reference = startReference(fb, form);
  stops.push(() => reference.stop());
  const conversations = startConversations(fb, user, form, images, reference);
  stops.push(() => conversations.stop());

  stops.push(onSnapshot(doc(fb.db, "users", user.uid), (snap) => {
    const credits = snap.exists() ? snap.data().credits : 0;
    for (const id of ["#balance", "#balance-top"]) document.querySelector(id).textContent = credits;
  }, (err) => setStatus(status, describeError(err), "error")));

  const ledgerQuery = query(collection(fb.db, "users", user.uid, "transactions"), orderBy("timestamp", "desc"), limit(20));
  stops.push(onSnapshot(ledgerQuery, (snap) => {
    document.querySelector("#ledger").replaceChildren(...snap.docs.map((d) => ledgerItem(d.data())));
  }));

  const requestsQuery = query(collection(fb.db, "generationRequests"), where("userId", "==", user.uid),
    orderBy("createdAt", "desc"), limit(24));
  stops.push(onSnapshot(requestsQuery, (snap) => {
    document.querySelector("#requests").replaceChildren(
      ...snap.docs.filter((d) => !d.data().visibility) // deleted ones live in "Recently deleted"
        .map((d) => requestCard(fb, d.id, d.data(), images, conversations)));
  }, (err) => setStatus(status, describeError(err), "error")));

  stops.push(startBuying(fb, user));
  stops.push(startGallery(fb));

  loadCatalog(fb, form).catch((err) => setStatus(status, `Catalog: ${describeError(err)}`, "error"));

  const onSubmit = async (event) => {
    event.preventDefault();
    const button = form.querySelector("#generate-button");
    button.disabled = true;
    setStatus(status, "Charging and queueing…");
    const data = Object.fromEntries(["model", "style", "color", "size", "prompt"].map((k) => [k, form[k].value]));
    data.numImages = Number(form.numImages.value) || 1;
    if (inEmulator && form.outcome.value) data.simulateOutcome = form.outcome.value;
    const input = reference.input();
    if (input) data.input = input;
    try {
      const result = await fb.call("generateImage", { ...data, async: true });
      const what = data.numImages > 1 ? ` (${data.numImages} images)` : "";
      setStatus(status, `${input ? "Edit queued" : "Queued"}${what}: ${result.deductedCredits} credit(s) charged, ${result.remainingCredits} left.`, "ok");
      if (input) reference.clear();
    } catch (err) {
      setStatus(status, describeError(err), "error");
    } finally {
      button.disabled = false;
    }
  };
  form.addEventListener("submit", onSubmit);
  return () => {
    stops.forEach((stop) => stop());
    form.removeEventListener("submit", onSubmit);
    images.forEach((p) => p.then((url) => URL.revokeObjectURL(url), () => {}));
  };
}
