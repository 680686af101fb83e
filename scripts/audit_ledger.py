#!/usr/bin/env python3
"""Check the ledger invariants over every user and list every discrepancy.

    functions/venv/bin/python scripts/audit_ledger.py                  # the running emulator
    functions/venv/bin/python scripts/audit_ledger.py --user testUser1
    functions/venv/bin/python scripts/audit_ledger.py --production --project my-project

Exit status 0 when the books are clean, 1 when a discrepancy was found.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions"))

from firestore_target import add_target_arguments, client_for, images_for  # noqa: E402

from imagegen.ledger.audit import audit


def main() -> int:
    parser = argparse.ArgumentParser(description="Audit the credit ledger.")
    add_target_arguments(parser, "audit")
    parser.add_argument("--user", action="append", help="audit only this user (repeatable)")
    parser.add_argument("--pending-timeout", type=int, default=600, help="seconds")
    args = parser.parse_args()

    client = client_for(args, parser)
    timeout = timedelta(seconds=args.pending_timeout)
    result = audit(client, datetime.now(UTC), timeout, args.user, images_for(args))
    print(json.dumps(result, indent=2))
    return 0 if result["clean"] else 1


if __name__ == "__main__":
    sys.exit(main())
