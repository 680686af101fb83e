"""Which Firestore a maintenance script talks to: the local emulator by default, a real project
only when asked for explicitly with `--production --project <id>`."""

from __future__ import annotations

import argparse
import os
from typing import Any


def add_target_arguments(parser: argparse.ArgumentParser, verb: str) -> None:
    parser.add_argument("--project", default=None, help="project id (default: demo-imagegen)")
    parser.add_argument("--production", action="store_true", help=f"{verb} a real project")
    parser.add_argument("--bucket", default=None, help="bucket (default: <project>.appspot.com)")


def images_for(args: argparse.Namespace) -> Any:
    """The generated images of the chosen target: the project's default bucket (the Storage
    emulator on 127.0.0.1:9199 unless --production)."""
    from imagegen.providers.image_store import ImageStore, open_default_bucket

    if not args.production:
        os.environ.setdefault("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9199")
    project = args.project or os.environ.get("GCLOUD_PROJECT", "demo-imagegen")
    bucket = args.bucket or f"{project}.appspot.com"
    return ImageStore(lambda: open_default_bucket(bucket, project))


def client_for(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Any:
    """A Firestore client for the chosen target (anonymous credentials for the emulator)."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    if args.production:
        if not args.project:
            parser.error("--production needs --project <id>")
        if os.environ.get("FIRESTORE_EMULATOR_HOST"):
            parser.error("--production with FIRESTORE_EMULATOR_HOST set; unset it first")
        return firestore.Client(project=args.project)
    os.environ.setdefault("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8080")
    project = args.project or os.environ.get("GCLOUD_PROJECT", "demo-imagegen")
    return firestore.Client(project=project, credentials=AnonymousCredentials())
