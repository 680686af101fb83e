// The operator dashboard (admin claim only; the backend refuses non-admins anyway): weekly
// reports as charts with anomalies marked, generation controls, the ledger audit, backfills
// and grants.
import {
  collection, doc, getAggregateFromServer, getDocs, limit, onSnapshot, orderBy, query,
  serverTimestamp, setDoc, sum, where,
} from "firebase/firestore";
import uPlot from "uplot";
import { describeError } from "./firebase.js";
import { el, setStatus } from "./ui.js";

const COLORS = ["#3b3bd1", "#d1583b", "#12805c", "#9a6100", "#7a3bd1"];
const CHART_OF = { failureRate: "success", imageFailureRate: "success", totalCreditsSpent: "credits" }; // others: requests

const weekStart = (r) => (r.period?.start?.toDate?.() ?? new Date(r.period?.start)).getTime() / 1000;
const successOf = (bucket) =>
  bucket && bucket.completed + bucket.failed > 0 ? 100 - bucket.failureRate : null;

function chartData(reports) {
  const models = [...new Set(reports.flatMap((r) => Object.keys(r.byModel || {})))].sort();
  const x = reports.map(weekStart);
  return {
    requests: [x, [["all requests", reports.map((r) => r.totalRequests)],
      ...models.map((m) => [m, reports.map((r) => r.byModel?.[m]?.total ?? 0)])]],
    success: [x, [["overall", reports.map((r) => (r.completed + r.failed ? r.successRate : null))],
      ...models.map((m) => [m, reports.map((r) => successOf(r.byModel?.[m]))])]],
    credits: [x, [["spent", reports.map((r) => r.totalCreditsSpent)],
      ["refunded", reports.map((r) => r.totalCreditsRefunded)]]],
  };
}

// A report's incidents; a report built before incidents existed: one per anomaly.
const incidentsOf = (r) => r.incidents ?? (r.anomalies || []).map((a) => ({ ...a, explains: [] }));

function markAnomalies(u, reports, chart) {
  u.over.querySelectorAll(".anomaly-marker").forEach((m) => m.remove());
  for (const r of reports) {
    const found = incidentsOf(r).filter((a) => (CHART_OF[a.metric] || "requests") === chart);
    if (!found.length) continue;
    const critical = found.some((a) => a.severity === "critical");
    const text = found.map((a) => `${r.weekId}: ${a.message}`).join("\n");
    const marker = el("span", {
      class: `anomaly-marker ${critical ? "critical" : "warning"}`, "data-week": r.weekId,
      "data-chart": chart, title: text, "aria-label": text, role: "img", tabindex: "0",
    });
    marker.style.left = `${u.valToPos(weekStart(r), "x")}px`;
    u.over.append(marker);
  }
}

function drawChart(target, [x, series], reports, chart, plots) {
  plots.get(chart)?.destroy();
  target.replaceChildren();
  const opts = {
    width: Math.max(280, target.clientWidth), height: 220,
    scales: { x: { time: true } },
    series: [{}, ...series.map(([label], i) => ({ label, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: true,
      points: { show: true, size: 6 } }))],
    axes: [{}, { size: 48 }],
    hooks: { draw: [(u) => markAnomalies(u, reports, chart)] },
  };
  plots.set(chart, new uPlot(opts, [x, ...series.map(([, ys]) => ys)], target));
}

function anomalyRow(week, a, kind, extra = null) {
  return el("tr", { "data-week": week, class: kind },
    el("td", {}, kind === "explained" ? "" : week), el("td", {}, a.metric),
    el("td", {}, a.dimension ? `${a.dimension} ${a.key}` : "overall"),
    el("td", {}, String(a.current)), el("td", {}, String(a.baseline)), el("td", {}, a.test ?? ""),
    el("td", {}, a.pValue === undefined ? "" : Number(a.pValue).toExponential(2)),
    el("td", { class: a.severity }, a.severity), el("td", {}, extra ?? ""));
}

// Incidents first (one row per cause), each expandable to the anomalies it explains.
function anomalyRows(reports) {
  const rows = [...reports].reverse().flatMap((r) => incidentsOf(r).flatMap((incident) => {
    const explains = incident.explains || [];
    const derived = explains.map((a) => {
      const row = anomalyRow(r.weekId, a, "explained");
      row.hidden = true;
      return row;
    });
    let toggle = null;
    if (explains.length) {
      toggle = el("button", { type: "button", class: "secondary explains", "aria-expanded": "false" },
        `explains ${explains.length}`);
      toggle.addEventListener("click", () => {
        const open = toggle.getAttribute("aria-expanded") !== "true";
        toggle.setAttribute("aria-expanded", String(open));
        derived.forEach((row) => (row.hidden = !open));
      });
    }
    return [anomalyRow(r.weekId, incident, "incident", toggle), ...derived];
  }));
  return rows.length ? rows : [el("tr", {}, el("td", { colspan: "9" }, "No incidents in these weeks."))];
}

export function startDashboard(fb) {
  const status = document.querySelector("#reports-status");
  const weeks = document.querySelector("#weeks");
  const plots = new Map();
  let reports = [];

  const render = () => {
    const data = chartData(reports);
    for (const chart of ["requests", "success", "credits"]) {
      drawChart(document.querySelector(`#chart-${chart}`), data[chart], reports, chart, plots);
    }
    document.querySelector("#anomalies tbody").replaceChildren(...anomalyRows(reports));
  };

  async function load() {
    setStatus(status, "Loading reports…");
    try {
      const q = query(collection(fb.db, "reports"), orderBy("weekId", "desc"), limit(Number(weeks.value)));
      reports = (await getDocs(q)).docs.map((d) => d.data()).reverse();
      setStatus(status, reports.length
        ? `${reports.length} weekly report(s), ${reports[0].weekId} to ${reports.at(-1).weekId}.`
        : "No weekly reports yet: backfill a week below, or run scripts/demo_data.py.");
      render();
    } catch (err) {
      setStatus(status, describeError(err), "error");
    }
  }

  const onResize = () => reports.length && render();
  window.addEventListener("resize", onResize);
  weeks.addEventListener("change", load);

  document.querySelector("#audit-button").onclick = async (event) => {
    const out = document.querySelector("#audit-status");
    event.target.disabled = true;
    setStatus(out, "Auditing every user…");
    try {
      const audit = await fb.api("auditLedger");
      setStatus(out, audit.clean ? `Clean: ${audit.usersChecked} user(s) checked.`
        : `${audit.discrepancies.length} discrepancies over ${audit.usersChecked} user(s).`, audit.clean ? "ok" : "error");
      document.querySelector("#audit-problems").replaceChildren(...audit.discrepancies.map((p) => el("li", {}, p)));
    } catch (err) {
      setStatus(out, describeError(err), "error");
    } finally {
      event.target.disabled = false;
    }
  };

  document.querySelector("#backfill-form").onsubmit = async (event) => {
    event.preventDefault();
    const out = document.querySelector("#backfill-status");
    const week = event.target.week.value.trim();
    setStatus(out, `Building ${week}…`);
    try {
      const report = await fb.api("generateWeeklyReport", { method: "POST", params: { week } });
      const incidents = report.incidents ?? report.anomalies;
      setStatus(out, `${week}: ${report.totalRequests} request(s), ${incidents.length} incident(s)` +
        ` (${report.anomalies.length} anomaly(ies)).`, "ok");
      await load();
    } catch (err) {
      setStatus(out, describeError(err), "error");
    }
  };

  document.querySelector("#grant-form").onsubmit = async (event) => {
    event.preventDefault();
    const out = document.querySelector("#grant-status");
    const f = event.target;
    try {
      const result = await fb.api("grantCredits", { method: "POST",
        body: { userId: f.userId.value.trim(), credits: Number(f.credits.value), reason: f.reason.value } });
      setStatus(out, `Granted ${result.grantedCredits} to ${result.userId}: balance ${result.currentCredits}.`, "ok");
      f.reset();
    } catch (err) {
      setStatus(out, describeError(err), "error");
    }
  };

  const stopControls = startControls(fb);
  load();
  return () => {
    window.removeEventListener("resize", onResize);
    plots.forEach((p) => p.destroy());
    stopControls();
  };
}

// Generation controls: config/generation (the functions read it within 5 s) and today's
// spending over all users (a sum over today's requests, refreshed every 15 s).
function startControls(fb) {
  const form = document.querySelector("#controls-form");
  const out = document.querySelector("#controls-status");
  const spentOut = document.querySelector("#controls-spent");
  const ref = doc(fb.db, "config", "generation");
  let budget = 0;
  let spent = 0;
  const showSpent = () => {
    spentOut.textContent = `Spent today (UTC): ${spent} credit${spent === 1 ? "" : "s"}` +
      (budget ? ` of ${budget} (${Math.round((100 * spent) / budget)}%)` : "");
  };
  const stopConfig = onSnapshot(ref, (snap) => {
    const data = snap.exists() ? snap.data() : {};
    form.enabled.checked = data.enabled !== false;
    budget = Number.isInteger(data.dailyCreditBudget) ? data.dailyCreditBudget : 0;
    form.budget.value = budget;
    form.dataset.loaded = "true";
    showSpent();
  }, (err) => setStatus(out, describeError(err), "error"));
  // Today's spending (UTC), net of refunds: what the budget is checked against.
  const refreshSpent = async () => {
    const start = new Date(new Date().toISOString().slice(0, 10) + "T00:00:00Z");
    const today = query(collection(fb.db, "generationRequests"), where("createdAt", ">=", start),
      where("createdAt", "<", new Date(start.getTime() + 86400000)));
    try {
      const result = await getAggregateFromServer(today, { spent: sum("creditsSpent") });
      spent = result.data().spent ?? 0;
      showSpent();
    } catch (err) {
      setStatus(out, describeError(err), "error");
    }
  };
  refreshSpent();
  const timer = setInterval(refreshSpent, 15000);
  const stopSpent = () => clearInterval(timer);
  form.onsubmit = async (event) => {
    event.preventDefault();
    const value = Number(form.budget.value);
    if (!Number.isInteger(value) || value < 0) return setStatus(out, "The budget must be a whole number ≥ 0.", "error");
    try {
      await setDoc(ref, {
        enabled: form.enabled.checked,
        dailyCreditBudget: value,
        updatedAt: serverTimestamp(),
        updatedBy: fb.auth.currentUser.uid,
      });
      setStatus(out, form.enabled.checked ? "Saved; in effect within 5 s." : "Generation paused within 5 s.", "ok");
    } catch (err) {
      setStatus(out, describeError(err), "error");
    }
  };
  return () => { stopConfig(); stopSpent(); };
}
