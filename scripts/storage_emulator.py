#!/usr/bin/env python3
"""Run the PyPI `gcp-storage-emulator` in memory, the local stand-in for Cloud Storage when the
Firebase Storage emulator cannot be downloaded. Arguments are the package's own
(`start --host 127.0.0.1 --port 9199 --in-memory --default-bucket <bucket>`).

One change to the package: in memory it still rewrites its whole object index as indented
JSON on every write, an index read back only when a server starts from disk. That work grows
with every image stored (a long session slowed to a few requests per second), so with
`--in-memory` it is skipped. Objects, metadata and the API are untouched.
"""

from __future__ import annotations

import sys

from gcp_storage_emulator import storage
from gcp_storage_emulator.__main__ import main

if __name__ == "__main__":
    if "--in-memory" in sys.argv:
        storage.Storage._write_config_to_file = lambda self: None  # type: ignore[method-assign]
    sys.exit(main(sys.argv[1:]))
