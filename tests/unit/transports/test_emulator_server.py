"""The emulator's worker keep-alive: checked in a fresh interpreter, as a worker starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

FUNCTIONS = Path(__file__).resolve().parents[3] / "functions"

PROBE = (
    "from imagegen.transports import emulator_server\n"
    "changed = emulator_server.outlast_emulator_keepalive()\n"
    "from gunicorn.config import Config\n"
    "print(changed, Config().keepalive)\n"
)


def _worker_keepalive(emulator: bool) -> str:
    env = {k: v for k, v in os.environ.items() if k != "FUNCTIONS_EMULATOR"}
    if emulator:
        env["FUNCTIONS_EMULATOR"] = "true"
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=FUNCTIONS,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


def test_under_the_emulator_gunicorn_outlasts_the_emulators_idle_connections():
    from imagegen.transports.emulator_server import (
        NODE_AGENT_IDLE_SECONDS,
        WORKER_KEEPALIVE_SECONDS,
    )

    assert WORKER_KEEPALIVE_SECONDS > NODE_AGENT_IDLE_SECONDS
    assert _worker_keepalive(emulator=True) == f"True {WORKER_KEEPALIVE_SECONDS}"


def test_deployed_workers_keep_gunicorns_default():
    assert _worker_keepalive(emulator=False) == "False 2"
