#!/usr/bin/env python3
"""Seed the catalog and the test users into Firestore (the emulator unless told otherwise).

    python seed_config.py                      # the running emulator (demo-imagegen)
    python seed_config.py --reset-users        # also put test users back to their seed balance
    python seed_config.py --write-initial-data # regenerate initial_data/ (the emulator import)
    python seed_config.py --production --project my-project   # a real project, explicitly

Idempotent: the catalog is overwritten with the values below; a test user that already
exists keeps its balance and ledger (unless --reset-users). Each seeded user gets a `grant`
ledger entry for the seed credits, so the ledger invariant holds from the start.
In the emulator it also creates Auth users (password `password`) including `adminUser`
with the custom claim `admin: true`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "functions"))

from imagegen.billing.purchase_rules import pack_documents  # noqa: E402
from imagegen.core.catalog import DEFAULT_CATALOG, catalog_documents  # noqa: E402

DEFAULT_PROJECT = "demo-imagegen"
SEED_USERS: dict[str, int] = {"testUser1": 100, "testUser2": 10}
AUTH_USERS: dict[str, dict[str, object]] = {
    "testUser1": {"email": "testuser1@example.com", "claims": {}},
    "testUser2": {"email": "testuser2@example.com", "claims": {}},
    "adminUser": {"email": "admin@example.com", "claims": {"admin": True}},
}
SEED_GRANT_ID = "seed-grant"


def seed_firestore(client, reset_users: bool) -> None:  # type: ignore[no-untyped-def]
    from google.cloud import firestore

    batch = client.batch()
    seeded = {**catalog_documents(DEFAULT_CATALOG), "creditPacks": pack_documents()}
    for collection, docs in seeded.items():
        for doc_id, fields in docs.items():
            batch.set(client.collection(collection).document(doc_id), fields)
    batch.commit()
    for uid, credits in SEED_USERS.items():
        user_ref = client.collection("users").document(uid)
        if user_ref.get().exists and not reset_users:
            print(f"  users/{uid}: exists, left as it is")
            continue
        for entry in user_ref.collection("transactions").list_documents():
            entry.delete()
        batch = client.batch()
        batch.set(
            user_ref,
            {
                "credits": credits,
                "createdAt": firestore.SERVER_TIMESTAMP,
                "updatedAt": firestore.SERVER_TIMESTAMP,
            },
        )
        batch.set(
            user_ref.collection("transactions").document(SEED_GRANT_ID),
            {
                "type": "grant",
                "credits": credits,
                "reason": "seed",
                "balanceAfter": credits,
                "timestamp": firestore.SERVER_TIMESTAMP,
            },
        )
        batch.commit()
        print(f"  users/{uid}: {credits} credits")


def seed_auth(project: str) -> None:
    import firebase_admin
    from firebase_admin import auth

    app = firebase_admin.initialize_app(options={"projectId": project}, name="seed")
    for uid, spec in AUTH_USERS.items():
        try:
            auth.get_user(uid, app=app)
        except auth.UserNotFoundError:
            auth.create_user(uid=uid, email=spec["email"], password="password", app=app)
        auth.set_custom_user_claims(uid, spec["claims"] or None, app=app)
        print(f"  auth user {uid} ({spec['email']})")


def write_initial_data() -> int:
    """Start empty Firestore and Auth emulators, seed them, and export to initial_data/."""
    return subprocess.call(["bash", str(ROOT / "scripts" / "write-initial-data.sh")], cwd=ROOT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--project", default=None, help="project id (default demo-imagegen)")
    parser.add_argument(
        "--production",
        action="store_true",
        help="write to a real Firebase project (needs --project)",
    )
    parser.add_argument(
        "--reset-users",
        action="store_true",
        help="reset test users to their seed balance and ledger",
    )
    parser.add_argument(
        "--write-initial-data", action="store_true", help="regenerate initial_data/ from this file"
    )
    args = parser.parse_args()
    if args.write_initial_data:
        return write_initial_data()

    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    if args.production:
        if not args.project:
            parser.error("--production needs --project <id>")
        if os.environ.get("FIRESTORE_EMULATOR_HOST"):
            parser.error("--production with FIRESTORE_EMULATOR_HOST set; unset it first")
        print(f"Seeding the REAL project {args.project}")
        seed_firestore(firestore.Client(project=args.project), args.reset_users)
        return 0
    project = args.project or os.environ.get("GCLOUD_PROJECT") or DEFAULT_PROJECT
    os.environ.setdefault("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8080")
    os.environ.setdefault("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")
    print(f"Seeding the emulator at {os.environ['FIRESTORE_EMULATOR_HOST']} for {project}")
    client = firestore.Client(project=project, credentials=AnonymousCredentials())
    seed_firestore(client, args.reset_users)
    seed_auth(project)
    return 0


if __name__ == "__main__":
    sys.exit(main())
