"""The Firestore client: one per process, created on first use (never at import time)."""

from __future__ import annotations

import functools
import os
from typing import Any

from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore

from imagegen.core.settings import project_id


@functools.cache
def db() -> firestore.Client:
    """The process-wide Firestore client.

    Against the emulator (FIRESTORE_EMULATOR_HOST set) it needs no Google credentials;
    in a deployed project it uses the function's default service account.
    """
    if os.environ.get("FIRESTORE_EMULATOR_HOST"):
        return firestore.Client(project=project_id(), credentials=AnonymousCredentials())
    return firestore.Client(project=project_id())


def get_many(client: firestore.Client, *refs: Any) -> list[Any]:
    """Read documents in one round trip, returned in the order asked."""
    by_path = {snap.reference.path: snap for snap in client.get_all(list(refs))}
    return [by_path[ref.path] for ref in refs]
