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
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions"))

from imagegen.audit import audit  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description="Audit the credit ledger.")
    parser.add_argument("--project", default=None)
    parser.add_argument("--production", action="store_true", help="audit a real project")
    parser.add_argument("--user", action="append", help="audit only this user (repeatable)")
    parser.add_argument("--pending-timeout", type=int, default=600, help="seconds")
    args = parser.parse_args()

    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    if args.production:
        if not args.project:
            parser.error("--production needs --project <id>")
        client = firestore.Client(project=args.project)
    else:
        os.environ.setdefault("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8080")
        project = args.project or os.environ.get("GCLOUD_PROJECT", "demo-imagegen")
        client = firestore.Client(project=project, credentials=AnonymousCredentials())
    result = audit(client, datetime.now(UTC), timedelta(seconds=args.pending_timeout), args.user)
    print(json.dumps(result, indent=2))
    return 0 if result["clean"] else 1


if __name__ == "__main__":
    sys.exit(main())
