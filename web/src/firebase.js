// The Firebase app: configuration, emulator wiring, callables and the admin HTTP endpoints.
import { initializeApp } from "firebase/app";
import { connectAuthEmulator, getAuth } from "firebase/auth";
import { connectFirestoreEmulator, getFirestore, terminate } from "firebase/firestore";
import { connectFunctionsEmulator, getFunctions, httpsCallable } from "firebase/functions";

const REGION = "us-central1";
export const inEmulator = ["127.0.0.1", "localhost"].includes(location.hostname);

/** Hosting serves the project's web config at /__/firebase/init.json (deployed and emulated). */
async function webConfig() {
  try {
    const resp = await fetch("/__/firebase/init.json");
    if (resp.ok) {
      const config = await resp.json();
      if (config.projectId) return { apiKey: "demo-key", ...config };
    }
  } catch {
    // fall through: a static server without the Hosting emulator
  }
  return { projectId: "demo-imagegen", apiKey: "demo-key" };
}

export async function connect() {
  const config = await webConfig();
  const app = initializeApp(config);
  const auth = getAuth(app);
  const db = getFirestore(app);
  // Close the listen stream when the page goes away, so that the server (and the browser's
  // six connections per host) are not left holding it.
  window.addEventListener("pagehide", () => terminate(db));
  const functions = getFunctions(app, REGION);
  if (inEmulator) {
    const host = location.hostname;
    connectAuthEmulator(auth, `http://${host}:9099`, { disableWarnings: true });
    connectFirestoreEmulator(db, host, 8080);
    connectFunctionsEmulator(functions, host, 5001);
  }
  const functionsBase = inEmulator
    ? `http://${location.hostname}:5001/${config.projectId}/${REGION}`
    : `https://${REGION}-${config.projectId}.cloudfunctions.net`;

  const call = (name, data) => httpsCallable(functions, name)(data).then((r) => r.data);

  /** An HTTP endpoint with the user's ID token; throws the API's {code, message} on errors. */
  async function api(name, { method = "GET", params, body } = {}) {
    const token = await auth.currentUser.getIdToken();
    const url = new URL(`${functionsBase}/${name}`);
    for (const [k, v] of Object.entries(params || {})) url.searchParams.set(k, v);
    const resp = await fetch(url, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) throw Object.assign(new Error(data.error?.message || resp.statusText), data.error || {});
    return data;
  }

  /** An image URL of ours, fetched with the ID token, as an object URL for an <img>. */
  async function imageObjectUrl(url) {
    const token = await auth.currentUser.getIdToken();
    const resp = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
    if (!resp.ok) throw new Error(`image: HTTP ${resp.status}`);
    return URL.createObjectURL(await resp.blob());
  }

  return { app, auth, db, call, api, imageObjectUrl, projectId: config.projectId };
}

/** A user-facing message for a callable or HTTP error. */
export function describeError(err) {
  const code = err.details?.code || err.code;
  const details = err.details || err;
  switch (code) {
    case "insufficient-credits":
      return `Not enough credits: this costs ${details.requiredCredits}, you have ${details.currentCredits}.`;
    case "busy":
      return "Too many requests for your account at once; nothing was charged. Try again in a moment.";
    case "generation-failed":
      return `The model failed; ${details.refundedCredits} credit(s) were refunded.`;
    case "functions/unavailable":
    case "unavailable":
      return "The service is unavailable right now; nothing was charged. Try again shortly.";
    default:
      return details.message || err.message || String(err);
  }
}
