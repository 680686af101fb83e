// The console: sign in, then the studio (every user) and operations (admin claim only).
import "uplot/dist/uPlot.min.css";
import "./styles.css";
import { onAuthStateChanged, signInWithEmailAndPassword, signOut } from "firebase/auth";
import { startDashboard } from "./dashboard.js";
import { connect, describeError, inEmulator } from "./firebase.js";
import { startStudio } from "./studio.js";

const $ = (selector) => document.querySelector(selector);
const SECTIONS = ["signin", "studio", "operations"];

function show(section) {
  for (const id of SECTIONS) $(`#${id}`).hidden = id !== section;
  for (const id of ["studio", "operations"]) {
    const tab = $(`#tab-${id}`);
    if (id === section) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
}

async function main() {
  const fb = await connect();
  if (inEmulator) {
    $("#env-note").hidden = false;
    $("#env-note").textContent = `Connected to the emulators of ${fb.projectId}.`;
    $("#signin-hint").hidden = false;
  }
  let stopStudio = null;
  let stopDashboard = null;
  let admin = false;

  const route = () => {
    if (!fb.auth.currentUser) return show("signin");
    if (location.hash === "#operations") {
      show("operations");
      $("#operations-denied").hidden = admin;
      $("#operations-body").hidden = !admin;
      if (admin && !stopDashboard) stopDashboard = startDashboard(fb);
    } else {
      show("studio");
    }
  };
  window.addEventListener("hashchange", route);

  $("#signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $("#signin-error");
    error.hidden = true;
    $("#signin-button").disabled = true;
    try {
      await signInWithEmailAndPassword(fb.auth, $("#email").value.trim(), $("#password").value);
    } catch (err) {
      error.textContent = err.code === "auth/invalid-credential" || err.code === "auth/wrong-password"
        ? "Wrong email or password." : describeError(err);
      error.hidden = false;
    } finally {
      $("#signin-button").disabled = false;
    }
  });
  $("#sign-out").addEventListener("click", () => signOut(fb.auth));

  onAuthStateChanged(fb.auth, async (user) => {
    stopStudio?.();
    stopDashboard?.();
    stopStudio = stopDashboard = null;
    $("#who").hidden = $("#tabs").hidden = !user;
    if (!user) {
      admin = false;
      return route();
    }
    admin = (await user.getIdTokenResult()).claims.admin === true;
    $("#tab-operations").hidden = !admin;
    $("#who-email").textContent = user.email || user.uid;
    stopStudio = startStudio(fb, user);
    route();
  });
}

main().catch((err) => {
  document.body.prepend(Object.assign(document.createElement("p"), {
    className: "error", role: "alert", textContent: `The console could not start: ${err.message}`,
  }));
});
