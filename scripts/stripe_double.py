#!/usr/bin/env python3
"""A local test double of the Stripe API for the emulator (no Stripe account, no network).

It speaks the parts of the Stripe API (https://docs.stripe.com/api) the backend uses, as
documented: form-encoded requests with bracketed keys, `Authorization: Bearer sk_test_...`,
`Idempotency-Key`, JSON objects and Stripe's error shape. And it does what Stripe does after
a checkout: it sends signed events (`Stripe-Signature: t=...,v1=HMAC-SHA256(secret,
"t.body")`) to the webhook, retried with backoff until it answers 2xx.

    POST /v1/checkout/sessions                 create a session (mode=payment), url = test page
    GET  /v1/checkout/sessions                 list sessions, newest first (`limit` 1-100,
                                               default 10; `status`; `starting_after`)
    GET  /v1/checkout/sessions/{id}            retrieve it
    POST /v1/checkout/sessions/{id}/expire     expire an open session (checkout.session.expired)
    POST /v1/refunds                           refund a payment_intent, all or `amount`
                                               (charge.refunded, amount_refunded cumulative)
    GET  /v1/refunds?payment_intent=...        list the refunds of a payment
    GET  /pay/{id}                             the hosted test page: pay now, pay later (a
                                               delayed method that then succeeds or fails),
                                               decline, cancel; after paying: a chargeback
                                               (created + funds_withdrawn), won (closed +
                                               funds_reinstated) or lost (closed), or an
                                               inquiry (warning_needs_response) and its close
    GET  /_double/deliveries                   not Stripe's: what was sent and the answers

    python scripts/stripe_double.py --port 12111 --secret-file functions/.secret.local \
        --webhook-url http://127.0.0.1:5001/demo-imagegen/us-central1/stripeWebhook
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import html
import json
import re
import secrets
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

API_VERSION = "2025-10-29.clover"
SESSIONS: dict[str, dict[str, Any]] = {}
CHARGES: dict[str, dict[str, Any]] = {}  # by payment_intent
REFUNDS: list[dict[str, Any]] = []
IDEMPOTENCY: dict[str, tuple[str, dict[str, Any]]] = {}  # key -> (params digest, response)
DELIVERIES: list[dict[str, Any]] = []
LOCK = threading.RLock()
CONFIG: dict[str, str] = {}
RETRY_DELAYS = (1, 2, 4, 8, 16)


def new_id(prefix: str) -> str:
    return f"{prefix}_test_{secrets.token_hex(12)}"


def parse_form(body: str) -> dict[str, Any]:
    """Stripe's form encoding: `metadata[userId]=u`, `line_items[0][price_data][currency]=usd`."""
    out: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(out)


def _lists(node: Any) -> Any:
    """Dicts keyed 0..n-1 become lists."""
    if isinstance(node, dict):
        node = {k: _lists(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    return node


class StripeError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", **extra):
        super().__init__(message)
        self.status, self.body = status, {"error": {"type": kind, "message": message, **extra}}


# --- events -------------------------------------------------------------------------


def send_event(event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Deliver a signed event to the webhook in the background, retried until 2xx."""
    event = {
        "id": new_id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()),
        "type": event_type,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": json.loads(json.dumps(obj))},
    }
    record = {"id": event["id"], "type": event_type, "answers": []}
    with LOCK:
        DELIVERIES.append(record)
    threading.Thread(target=_deliver, args=(event, record), daemon=True).start()
    return event


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def _deliver(event: dict[str, Any], record: dict[str, Any]) -> None:
    payload = json.dumps(event, indent=2)
    for delay in (0, *RETRY_DELAYS):
        time.sleep(delay)
        request = urllib.request.Request(
            CONFIG["webhook_url"],
            data=payload.encode(),
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": sign(payload, CONFIG["secret"]),
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                status = resp.status
        except urllib.error.HTTPError as err:
            status = err.code
        except OSError:
            status = 0
        with LOCK:
            record["answers"].append(status)
        if 200 <= status < 300:
            return


# --- the API ------------------------------------------------------------------------


def require_key(headers: Any) -> None:
    key = headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not key.startswith(("sk_test_", "rk_test_")):
        shown = (key[:8] + "*" * 4 + key[-4:]) if len(key) > 12 else "****"
        raise StripeError(401, f"Invalid API Key provided: {shown}")


def create_session(params: dict[str, Any], host: str) -> dict[str, Any]:
    if params.get("mode") != "payment":
        raise StripeError(400, "This test double only supports mode=payment.", param="mode")
    for name in ("success_url", "cancel_url"):
        if not str(params.get(name, "")).startswith(("http://", "https://")):
            raise StripeError(400, f"Not a valid URL: {name}", param=name)
    items = params.get("line_items")
    if not isinstance(items, list) or not items:
        raise StripeError(400, "line_items is required in payment mode.", param="line_items")
    total, currency = 0, None
    for item in items:
        data = item.get("price_data") or {}
        if item.get("price"):  # a Price object: unknown here, priced from metadata if any
            raise StripeError(400, f"No such price: '{item['price']}'", param="line_items")
        try:
            total += int(data["unit_amount"]) * int(item.get("quantity", 1))
            currency = str(data["currency"]).lower()
        except (KeyError, ValueError):
            raise StripeError(400, "line_items need price_data.", param="line_items") from None
    sid = "cs_test_" + secrets.token_hex(24)
    now = int(time.time())
    session = {
        "id": sid,
        "object": "checkout.session",
        "mode": "payment",
        "status": "open",
        "payment_status": "unpaid",
        "amount_subtotal": total,
        "amount_total": total,
        "currency": currency,
        "client_reference_id": params.get("client_reference_id"),
        "metadata": params.get("metadata") or {},
        "payment_intent": None,
        "customer": None,
        "customer_details": None,
        "success_url": params["success_url"],
        "cancel_url": params["cancel_url"],
        "url": f"http://{host}/pay/{sid}",
        "created": now,
        "expires_at": now + 24 * 3600,
        "livemode": False,
        "_intent_metadata": (params.get("payment_intent_data") or {}).get("metadata") or {},
    }
    SESSIONS[sid] = session
    return session


def list_sessions(query: dict[str, str]) -> dict[str, Any]:
    """`GET /v1/checkout/sessions`: a list object, newest first."""
    try:
        limit = int(query.get("limit", "10"))
    except ValueError:
        raise StripeError(400, "Invalid integer: limit", param="limit") from None
    if not 1 <= limit <= 100:
        raise StripeError(400, "Limit must be between 1 and 100.", param="limit")
    found = [
        s for s in reversed(list(SESSIONS.values())) if query.get("status") in (None, s["status"])
    ]
    if "starting_after" in query:
        ids = [s["id"] for s in found]
        if query["starting_after"] not in ids:
            raise StripeError(404, "No such checkout.session", param="starting_after")
        found = found[ids.index(query["starting_after"]) + 1 :]
    return {
        "object": "list",
        "url": "/v1/checkout/sessions",
        "has_more": len(found) > limit,
        "data": [public(s) for s in found[:limit]],
    }


def public(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def complete(session: dict[str, Any], paid: bool) -> None:
    pi = new_id("pi")
    session.update(
        status="complete", payment_status="paid" if paid else "unpaid", payment_intent=pi
    )
    CHARGES[pi] = {
        "id": new_id("ch"),
        "object": "charge",
        "amount": session["amount_total"],
        "amount_refunded": 0,
        "currency": session["currency"],
        "payment_intent": pi,
        "metadata": session["_intent_metadata"],
        "paid": paid,
        "refunded": False,
        "status": "succeeded" if paid else "pending",
    }


def refund(params: dict[str, Any]) -> dict[str, Any]:
    pi = params.get("payment_intent")
    charge = CHARGES.get(str(pi)) or next(
        (c for c in CHARGES.values() if c["id"] == params.get("charge")), None
    )
    if charge is None or not charge["paid"]:
        raise StripeError(400, f"No such payment_intent: '{pi}'", param="payment_intent")
    left = charge["amount"] - charge["amount_refunded"]
    if left == 0:
        raise StripeError(
            400,
            f"Charge {charge['id']} has already been refunded.",
            code="charge_already_refunded",
        )
    amount = int(params.get("amount", left))
    if not 0 < amount <= left:
        raise StripeError(400, "Refund amount is greater than the unrefunded amount.")
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount"]
    send_event("charge.refunded", charge)
    created = {
        "id": new_id("re"),
        "object": "refund",
        "amount": amount,
        "charge": charge["id"],
        "currency": charge["currency"],
        "created": int(time.time()),
        "payment_intent": charge["payment_intent"],
        "reason": params.get("reason"),
        "status": "succeeded",
    }
    REFUNDS.append(created)
    return created


def list_refunds(query: dict[str, str]) -> dict[str, Any]:
    """`GET /v1/refunds`, newest first, filtered by `payment_intent` or `charge`."""
    data = [
        r
        for r in reversed(REFUNDS)
        if query.get("payment_intent") in (None, r["payment_intent"])
        and query.get("charge") in (None, r["charge"])
    ]
    return {"object": "list", "data": data, "has_more": False, "url": "/v1/refunds"}


# What each test-page action after a payment sends, as Stripe does
# (https://docs.stripe.com/disputes/how-disputes-work): a chargeback withdraws the funds at
# once and gives them back if won; an inquiry (`warning_*`) withdraws nothing.
DISPUTE_STEPS = {
    "dispute": (
        ("charge.dispute.created", "needs_response"),
        ("charge.dispute.funds_withdrawn", "needs_response"),
    ),
    "dispute_won": (
        ("charge.dispute.closed", "won"),
        ("charge.dispute.funds_reinstated", "won"),
    ),
    "dispute_lost": (("charge.dispute.closed", "lost"),),
    "inquiry": (("charge.dispute.created", "warning_needs_response"),),
    "inquiry_closed": (("charge.dispute.closed", "warning_closed"),),
}


def dispute(session: dict[str, Any], action: str) -> None:
    charge = CHARGES[session["payment_intent"]]
    if action in ("dispute", "inquiry"):
        session["_dispute"] = new_id("dp")
        session["_dispute_amount"] = charge["amount"] - charge["amount_refunded"]
    elif "_dispute" not in session:
        return
    for event_type, status in DISPUTE_STEPS[action]:
        send_event(
            event_type,
            {
                "id": session["_dispute"],
                "object": "dispute",
                "amount": session["_dispute_amount"],
                "charge": charge["id"],
                "payment_intent": charge["payment_intent"],
                "currency": charge["currency"],
                "reason": "fraudulent",
                "status": status,
            },
        )


# --- the hosted test page -----------------------------------------------------------

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Stripe test checkout</title><meta name="viewport" content="width=device-width">
<style>body{{font:16px system-ui;max-width:32rem;margin:3rem auto;padding:0 1rem}}
button{{display:block;width:100%;margin:.5rem 0;padding:.7rem;font-size:1rem}}
.note{{color:#555}} .error{{color:#b00}}</style></head><body>
<h1>Test checkout</h1>
<p class="note">A local test double of Stripe Checkout: nothing is charged.</p>
<p id="summary">{summary}</p><p id="state">Status: {state}</p>{error}
<form method="post">{buttons}</form></body></html>"""

ACTIONS = {
    "pay": "Pay now (card succeeds)",
    "pay_delayed": "Pay later: delayed method, then succeeds",
    "pay_delayed_fail": "Pay later: delayed method, then fails",
    "decline": "Card declined",
    "cancel": "Cancel and go back",
}
PAID_ACTIONS = {
    "dispute": "Open a dispute (chargeback)",
    "dispute_won": "Win the dispute",
    "dispute_lost": "Lose the dispute",
    "inquiry": "Open an inquiry",
    "inquiry_closed": "Close the inquiry",
}


def page(session: dict[str, Any], error: str = "") -> str:
    amount = f"{session['amount_total'] / 100:.2f} {str(session['currency']).upper()}"
    credits = session["metadata"].get("credits", "?")
    actions = ACTIONS if session["status"] == "open" else PAID_ACTIONS
    if session["status"] == "complete" and session["payment_status"] != "paid":
        actions = {}
    buttons = "".join(
        f'<button name="action" value="{k}" id="{k}">{html.escape(v)}</button>'
        for k, v in actions.items()
    )
    return PAGE.format(
        summary=html.escape(f"{credits} credits for {amount}"),
        state=html.escape(f"{session['status']} / {session['payment_status']}"),
        error=f'<p class="error" id="error">{html.escape(error)}</p>' if error else "",
        buttons=buttons,
    )


def pay_action(session: dict[str, Any], action: str) -> str | None:
    """Run a test-page action; the URL to redirect to, or None to show the page again."""
    back = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
    if session["status"] == "open":
        if action == "pay":
            complete(session, paid=True)
            send_event("checkout.session.completed", public(session))
            return back
        if action in ("pay_delayed", "pay_delayed_fail"):
            complete(session, paid=False)
            send_event("checkout.session.completed", public(session))
            threading.Thread(
                target=_settle_later, args=(session, action == "pay_delayed"), daemon=True
            ).start()
            return back
        if action == "cancel":
            return session["cancel_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
        return None
    if session["payment_status"] == "paid" and action in PAID_ACTIONS:
        dispute(session, action)
    return None


def _settle_later(session: dict[str, Any], succeeds: bool) -> None:
    time.sleep(1.0)
    with LOCK:
        charge = CHARGES[session["payment_intent"]]
        if succeeds:
            session["payment_status"] = "paid"
            charge.update(paid=True, status="succeeded")
        else:
            charge.update(status="failed")
        obj = public(session)
    kind = "succeeded" if succeeds else "failed"
    send_event(f"checkout.session.async_payment_{kind}", obj)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args: object) -> None:
        pass

    def reply(self, status: int, body: Any, ctype: str = "application/json") -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", "req_" + secrets.token_hex(7))
        self.end_headers()
        self.wfile.write(data)

    def redirect(self, url: str) -> None:
        self.send_response(303)
        self.send_header("Location", url)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def form(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        return parse_form(self.rfile.read(length).decode() if length else "")

    def do_GET(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        try:
            with LOCK:
                if path == "/v1/checkout/sessions":
                    require_key(self.headers)
                    query = dict(parse_qsl(urlsplit(self.path).query))
                    self.reply(200, list_sessions(query))
                elif m := re.fullmatch(r"/v1/checkout/sessions/([^/]+)", path):
                    require_key(self.headers)
                    self.reply(200, public(self.session(m.group(1))))
                elif m := re.fullmatch(r"/pay/([^/]+)", path):
                    self.reply(200, page(self.session(m.group(1))), "text/html; charset=utf-8")
                elif path == "/v1/refunds":
                    require_key(self.headers)
                    self.reply(200, list_refunds(dict(parse_qsl(urlsplit(self.path).query))))
                elif path == "/_double/deliveries":
                    self.reply(200, {"data": DELIVERIES})
                else:
                    raise StripeError(404, f"Unrecognized request URL (GET: {path}).")
        except StripeError as err:
            self.reply(err.status, err.body)

    def do_POST(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        params = self.form()
        try:
            with LOCK:
                if m := re.fullmatch(r"/pay/([^/]+)", path):
                    session = self.session(m.group(1))
                    action = str(params.get("action", ""))
                    url = pay_action(session, action)
                    if url:
                        self.redirect(url)
                    else:
                        error = "Your card was declined." if action == "decline" else ""
                        self.reply(200, page(session, error), "text/html; charset=utf-8")
                    return
                require_key(self.headers)
                self.reply(200, self.api(path, params))
        except StripeError as err:
            self.reply(err.status, err.body)

    def api(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        key = self.headers.get("Idempotency-Key")
        digest = hashlib.sha256(f"{path} {json.dumps(params, sort_keys=True)}".encode()).hexdigest()
        if key and key in IDEMPOTENCY:
            seen, response = IDEMPOTENCY[key]
            if seen != digest:
                raise StripeError(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters.",
                    "idempotency_error",
                )
            return response
        if path == "/v1/checkout/sessions":
            response = public(create_session(params, self.headers.get("Host", "127.0.0.1")))
        elif m := re.fullmatch(r"/v1/checkout/sessions/([^/]+)/expire", path):
            session = self.session(m.group(1))
            if session["status"] != "open":
                raise StripeError(400, "Only open sessions can be expired.")
            session["status"] = "expired"
            send_event("checkout.session.expired", public(session))
            response = public(session)
        elif path == "/v1/refunds":
            response = refund(params)
        else:
            raise StripeError(404, f"Unrecognized request URL (POST: {path}).")
        if key:
            IDEMPOTENCY[key] = (digest, response)
        return response

    def session(self, sid: str) -> dict[str, Any]:
        if sid not in SESSIONS:
            raise StripeError(404, f"No such checkout.session: '{sid}'", param="session")
        return SESSIONS[sid]


def read_secret(path: Path) -> str:
    for line in path.read_text().splitlines():
        name, _, value = line.partition("=")
        if name.strip() == "STRIPE_WEBHOOK_SECRET":
            return value.strip().strip('"')
    raise SystemExit(f"STRIPE_WEBHOOK_SECRET is not in {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--secret-file", type=Path, required=True)
    parser.add_argument("--webhook-url", required=True)
    args = parser.parse_args()
    CONFIG.update(secret=read_secret(args.secret_file), webhook_url=args.webhook_url)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    print(f"Stripe test double on http://{args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
