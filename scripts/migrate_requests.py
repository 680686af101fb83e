#!/usr/bin/env python3
"""Add the outcome fields and weekly active-user markers to request documents written without
them (by an older version, an import or another tool), so weekly reports take the fast path.

    functions/venv/bin/python scripts/migrate_requests.py                 # the running emulator
    functions/venv/bin/python scripts/migrate_requests.py --resume <token>
    functions/venv/bin/python scripts/migrate_requests.py --production --project my-project

Idempotent and safe beside live traffic; prints progress after every batch, with the token to
resume from should it be interrupted. Exit status 0 when every document was visited.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions"))

from firestore_target import add_target_arguments, client_for  # noqa: E402

from imagegen.reporting.migration import PAGE_SIZE, MigrationProgress, migrate_outcome_fields


def main() -> int:
    parser = argparse.ArgumentParser(description="Backfill report fields on request documents.")
    add_target_arguments(parser, "migrate")
    parser.add_argument("--resume", metavar="TOKEN", help="continue after an interruption")
    parser.add_argument("--batch-size", type=int, default=PAGE_SIZE, help="documents per batch")
    parser.add_argument("--max-documents", type=int, default=None, help="stop after this many")
    args = parser.parse_args()
    if not 1 <= args.batch_size <= 240:
        parser.error("--batch-size must be from 1 to 240 (a batch also writes markers)")

    client = client_for(args, parser)

    def report(progress: MigrationProgress) -> None:
        resume = progress.next_page_token or "-"
        print(
            f"scanned {progress.scanned}, updated {progress.updated}, markers written "
            f"{progress.markers_written}; resume with --resume {resume}",
            file=sys.stderr,
            flush=True,
        )

    progress = migrate_outcome_fields(
        client,
        args.resume,
        args.max_documents or sys.maxsize,
        page_size=args.batch_size,
        on_page=report,
    )
    print(json.dumps(progress.as_dict(), indent=2))
    return 0 if progress.next_page_token is None else 3


if __name__ == "__main__":
    sys.exit(main())
