"""Administration (admin claim required): grants, the ledger audit, crash recovery, weekly
reports and the migration. The input bounds of each live here, beside the rule they serve."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from imagegen.core import auth, errors, weeks
from imagegen.core.auth import Caller
from imagegen.core.settings import running_in_emulator
from imagegen.generation import idempotency, recovery
from imagegen.ledger import audit, moves
from imagegen.operations.clock import now
from imagegen.operations.notifications import notify_settled
from imagegen.operations.wiring import db, images, pending_timeout, studio
from imagegen.records.validation import validate_text, validate_user_id, within
from imagegen.reporting import migration, report_queries

MAX_REASON_LENGTH = 500


@dataclass(frozen=True)
class GrantResult:
    user_id: str
    granted: int  # 0 when this was a replay of an earlier grant
    balance: int
    entry_id: str


def grant_credits(
    caller: Caller, user_id: Any, credits: Any, reason: Any, idempotency_key: str | None
) -> GrantResult:
    """Admin: add credits to a user (created if missing) with a `grant` ledger entry; with an
    idempotency key, once only."""
    auth.require_admin(caller)
    missing = [name for name, v in (("userId", user_id), ("credits", credits)) if v in (None, "")]
    if missing:
        raise errors.missing_fields(missing)
    user_id = validate_user_id(user_id)
    if not isinstance(credits, int) or isinstance(credits, bool):
        raise errors.invalid_type("credits", "an integer", credits)
    if not 1 <= credits <= moves.MAX_GRANT:
        raise errors.invalid_field(
            "credits", f"credits must be an integer from 1 to {moves.MAX_GRANT}."
        )
    reason = "grant" if reason is None else reason
    if not isinstance(reason, str) or len(reason) > MAX_REASON_LENGTH:
        raise errors.invalid_field(
            "reason", f"reason must be a string of at most {MAX_REASON_LENGTH} characters."
        )
    validate_text("reason", reason)
    entry_id = (
        "grant-" + idempotency.record_id(user_id, idempotency.validate_key(idempotency_key))[:40]
        if idempotency_key
        else f"grant-{uuid.uuid4().hex}"
    )
    balance, granted = moves.grant(db(), user_id, credits, reason, entry_id)
    return GrantResult(user_id, credits if granted else 0, balance, entry_id)


def audit_ledger(caller: Caller, user_id: str | None) -> dict[str, Any]:
    """Admin: check the ledger invariants for every user (or one)."""
    auth.require_admin(caller)
    users = [validate_user_id(user_id)] if user_id else None
    return audit.audit(db(), now(), pending_timeout(), users, images())


def sweep_stuck_requests(older_than: timedelta | None = None) -> recovery.SweepResult:
    """Settle every request left unsettled longer than `older_than` (default: the setting):
    complete it when its image is stored, else refund it."""
    age = pending_timeout() if older_than is None else older_than
    return recovery.sweep_pending(db(), studio(), age, now(), on_settled=notify_settled)


MAX_RECOVERY_AGE = timedelta(days=7)


def min_recovery_age() -> timedelta:
    """The youngest requests an admin may have swept: any age in the emulator (for tests),
    one minute in production (a younger request may still be generating)."""
    return timedelta(0) if running_in_emulator() else timedelta(seconds=60)


def recover_pending(caller: Caller, older_than_seconds: int | None) -> recovery.SweepResult:
    """Admin: run the sweeper now for requests unsettled longer than `older_than_seconds`
    (default: the pending timeout; from `min_recovery_age` to 7 days)."""
    auth.require_admin(caller)
    if older_than_seconds is None:
        return sweep_stuck_requests()
    low, high = int(min_recovery_age().total_seconds()), int(MAX_RECOVERY_AGE.total_seconds())
    within("olderThanSeconds", older_than_seconds, low, high)
    return sweep_stuck_requests(timedelta(seconds=older_than_seconds))


def build_weekly_report(caller: Caller, week: Any) -> dict[str, Any]:
    """Admin: build (or rebuild) and store the report of one ISO week that has ended."""
    auth.require_admin(caller)
    if not week:
        raise errors.missing_fields(["week"])
    if not isinstance(week, str):
        raise errors.invalid_type("week", "a string", week)
    try:
        complete = weeks.is_complete(week, now())
    except weeks.BadWeek as bad:
        raise errors.invalid_field("week", str(bad)) from None
    if not complete:
        raise errors.invalid_field("week", f"{week} has not ended yet; reports cover whole weeks.")
    return report_queries.write_report(db(), week)


def run_weekly_report(moment: datetime) -> dict[str, Any]:
    """The scheduled job: report the ISO week before `moment` and log its incidents as
    alerts. Re-runs rewrite the same report."""
    report = report_queries.write_report(db(), weeks.previous_week(moment))
    report_queries.log_alerts(report)
    return report


def migrate_request_outcomes(
    caller: Caller, page_token: str | None, max_documents: int | None
) -> migration.MigrationProgress:
    """Admin: add the report fields to request documents written without them; at most
    `max_documents` (1 to `migration.MAX_DOCUMENTS`, the default) per call."""
    auth.require_admin(caller)
    if max_documents is None:
        max_documents = migration.MAX_DOCUMENTS
    within("maxDocuments", max_documents, 1, migration.MAX_DOCUMENTS)
    return migration.migrate_outcome_fields(db(), page_token, max_documents)
