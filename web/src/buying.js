// Buying credits: the packs from `creditPacks`, a Stripe Checkout through the `buyCredits`
// callable, and the user's purchases live (pending, then paid; the balance moves with them).
import { collection, getDocs, limit, onSnapshot, orderBy, query } from "firebase/firestore";
import { describeError } from "./firebase.js";
import { el, setStatus } from "./ui.js";

const money = (amount, currency) =>
  new Intl.NumberFormat(undefined, { style: "currency", currency: currency.toUpperCase() })
    .format(amount / 100);

const STATES = {
  open: "checkout open",
  pending: "payment pending",
  paid: "paid",
  failed: "payment failed",
  expired: "expired",
  unfulfilled: "needs support",
};

function purchaseItem(p) {
  const reversed = p.reversedCredits ? ` (−${p.reversedCredits} reversed)` : "";
  return el("li", { class: "purchase", "data-status": p.status },
    el("span", {}, `${p.credits} credits · ${money(p.amount, p.currency)}`),
    el("span", { class: `badge ${p.status}` }, STATES[p.status] ?? p.status),
    el("span", { class: "hint" }, reversed));
}

export function startBuying(fb, user) {
  const status = document.querySelector("#buy-status");
  const packsList = document.querySelector("#packs");
  const back = `${location.origin}${location.pathname}`;
  const params = new URLSearchParams(location.search);
  if (params.get("purchase") === "done") setStatus(status, "Payment received: your credits arrive in a moment.", "ok");
  if (params.get("purchase") === "canceled") setStatus(status, "Checkout canceled: nothing was charged.");

  const buy = async (pack, button) => {
    button.disabled = true;
    setStatus(status, "Opening the checkout…");
    try {
      const session = await fb.call("buyCredits", {
        packId: pack.id,
        successUrl: `${back}?purchase=done`,
        cancelUrl: `${back}?purchase=canceled`,
      });
      location.assign(session.url);
    } catch (err) {
      setStatus(status, describeError(err), "error");
      button.disabled = false;
    }
  };

  getDocs(collection(fb.db, "creditPacks")).then((snap) => {
    const packs = snap.docs.map((d) => ({ id: d.id, ...d.data() }))
      .filter((p) => p.active !== false)
      .sort((a, b) => (a.order ?? 0) - (b.order ?? 0) || a.amount - b.amount);
    packsList.replaceChildren(...packs.map((pack) => {
      const button = el("button", { type: "button", class: "buy", "data-pack": pack.id },
        `Buy ${pack.credits} credits for ${money(pack.amount, pack.currency)}`);
      button.addEventListener("click", () => buy(pack, button));
      return el("li", {}, button);
    }));
  }, (err) => setStatus(status, `Packs: ${describeError(err)}`, "error"));

  const purchases = query(collection(fb.db, "users", user.uid, "purchases"), orderBy("createdAt", "desc"), limit(10));
  return onSnapshot(purchases, (snap) => {
    document.querySelector("#purchases").replaceChildren(...snap.docs.map((d) => purchaseItem(d.data())));
  }, (err) => setStatus(status, describeError(err), "error"));
}
