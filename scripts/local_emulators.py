"""Point firebase-tools at emulator binaries already on this machine, when there are any.

firebase-tools downloads its own Firestore and Pub/Sub emulators on first start. Machines
without internet access often have Google's Cloud SDK with the same emulators installed;
this prints `export` lines that make firebase-tools use those instead. Prints nothing when
no local SDK is found, so firebase-tools falls back to its normal download.

The Cloud SDK's Firestore jar has no Main-Class, so a tiny launcher jar is written whose
manifest names the main class and puts the SDK jar on the class path.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

FIRESTORE_MAIN_CLASS = "com.google.cloud.datastore.emulator.firestore.CloudFirestore"


def sdk_root() -> Path | None:
    """Return the Cloud SDK root, or None when gcloud is absent or silent."""
    gcloud = shutil.which("gcloud")
    if not gcloud:
        return None
    try:
        out = subprocess.run(
            [gcloud, "info", "--format=value(installation.sdk_root)"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(out) if out and Path(out).is_dir() else None


def write_launcher_jar(target_jar: Path, launcher: Path) -> None:
    """Write a manifest-only jar that starts the Firestore emulator from `target_jar`."""
    manifest = (
        "Manifest-Version: 1.0\r\n"
        f"Main-Class: {FIRESTORE_MAIN_CLASS}\r\n"
        f"Class-Path: {target_jar.resolve().as_uri()}\r\n"
        "\r\n"
    )
    launcher.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(launcher, "w") as jar:
        jar.writestr("META-INF/MANIFEST.MF", manifest)


def main(cache_dir: str) -> int:
    root = sdk_root()
    if root is None:
        return 0
    firestore_jar = root / "platform" / "cloud-firestore-emulator" / "cloud-firestore-emulator.jar"
    if firestore_jar.is_file():
        launcher = Path(cache_dir) / "firestore-emulator-launcher.jar"
        write_launcher_jar(firestore_jar, launcher)
        print(f"export FIRESTORE_EMULATOR_BINARY_PATH={shlex.quote(str(launcher.resolve()))}")
    pubsub = root / "platform" / "pubsub-emulator" / "bin" / "cloud-pubsub-emulator"
    if pubsub.is_file():
        print(f"export PUBSUB_EMULATOR_BINARY_PATH={shlex.quote(str(pubsub))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".emulators"))
