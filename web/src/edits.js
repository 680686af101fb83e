// The studio's input image: a reference image uploaded (file picker or drag and drop onto the
// studio) through the callable uploadReferenceImage. While one is set the form is in edit mode:
// the prompt is the instruction. ("Edit" on one of the user's images opens a conversation from
// it instead: see conversations.js.)
import { describeError } from "./firebase.js";
import { setStatus } from "./ui.js";

const TYPES = ["image/png", "image/jpeg", "image/webp"];
const MAX_BYTES = 7 * 1024 * 1024; // the callable's limit, decoded

function base64Of(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] ?? "");
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

/** Wires the reference image of `form`; returns {input(), clear(), stop()}. */
export function startReference(fb, form) {
  const $ = (selector) => document.querySelector(selector);
  const picker = $("#reference-file");
  const preview = $("#reference-preview");
  const thumb = $("#reference-thumb");
  const label = $("#reference-label");
  const status = $("#reference-status");
  const studio = $("#studio");
  let current = null; // {input, url}: url is an object URL of the uploaded file
  let pending = 0; // uploads started; only the latest one counts

  const relabel = () => form.size.dispatchEvent(new Event("change")); // the button's text
  const release = () => {
    if (current) URL.revokeObjectURL(current.url);
    current = null;
  };
  const show = (input, url, text) => {
    release();
    current = { input, url };
    thumb.src = url;
    thumb.alt = text;
    label.textContent = text;
    preview.hidden = false;
    form.dataset.mode = "edit";
    $("#generate-title").textContent = "Edit an image";
    relabel();
  };
  const clear = () => {
    pending += 1;
    release();
    preview.hidden = true;
    thumb.removeAttribute("src");
    picker.value = "";
    delete form.dataset.mode;
    $("#generate-title").textContent = "Generate an image";
    setStatus(status, "");
    relabel();
  };

  async function upload(file) {
    if (!TYPES.includes(file.type)) {
      return setStatus(status, "Choose a PNG, JPEG or WebP image.", "error");
    }
    if (file.size > MAX_BYTES) {
      return setStatus(status, `That image is ${(file.size / 1048576).toFixed(1)} MB; at most 7 MB.`, "error");
    }
    const mine = ++pending;
    setStatus(status, `Uploading ${file.name}…`);
    try {
      const result = await fb.call("uploadReferenceImage", { data: await base64Of(file), contentType: file.type });
      if (mine !== pending) return;
      show({ uploadId: result.uploadId }, URL.createObjectURL(file),
        `${file.name} (${result.width}×${result.height})`);
      preview.dataset.uploadId = result.uploadId;
      setStatus(status, "Uploaded: your prompt says what to change.", "ok");
      form.prompt.focus();
    } catch (err) {
      if (mine === pending) setStatus(status, describeError(err), "error");
    }
  }

  const onPick = () => picker.files[0] && upload(picker.files[0]);
  const onDragOver = (event) => {
    if (!event.dataTransfer?.types.includes("Files")) return;
    event.preventDefault();
    form.classList.add("dropping");
  };
  const onDragLeave = (event) => {
    if (!studio.contains(event.relatedTarget)) form.classList.remove("dropping");
  };
  const onDrop = (event) => {
    form.classList.remove("dropping");
    const file = event.dataTransfer?.files[0];
    if (!file) return;
    event.preventDefault();
    upload(file);
  };
  picker.addEventListener("change", onPick);
  studio.addEventListener("dragover", onDragOver);
  studio.addEventListener("dragleave", onDragLeave);
  studio.addEventListener("drop", onDrop);
  $("#reference-clear").onclick = clear;

  return {
    input: () => current?.input ?? null,
    clear,
    stop() {
      clear();
      picker.removeEventListener("change", onPick);
      studio.removeEventListener("dragover", onDragOver);
      studio.removeEventListener("dragleave", onDragLeave);
      studio.removeEventListener("drop", onDrop);
    },
  };
}
