"""The docs' shell examples, run as printed against the emulators.

Every fenced ```bash or ```sh block of README.md and docs/*.md that contains `curl` runs, in
the order of its file, in one bash session per file (`set -euo pipefail`), from a scratch
directory that links the repository's `functions/` and `scripts/` (so the docs' relative
commands work and files they write stay out of the tree), against the ports
./start-emulator.sh prints. A line that stops working fails the suite.

Conventions the docs follow:
- Every `curl` call is checked: a connection error fails, and so does an HTTP status other
  than the one the docs state. A curl command states it in a `# -> STATUS` comment on its last
  line or on the line right after it: `# -> 202 {...sample...}`, `# -> 400 invalid-model`
  (for a 4xx or 5xx, a kebab-case word right after the status is the `error.code` the body
  must carry), `# -> 200|409` (either). Without such a comment a 2xx is expected, so a 5xx
  passes only where the docs name it (a forced failure's 500 `generation-failed`).
  Only statuses and error codes are checked: a sample body is illustration, since ids,
  times and a simulated outcome not forced with `X-Simulate-Outcome` vary.
- Blocks that cannot run here use another fence (```console, ```text): deploy commands,
  a real project. A block right after `<!-- docs-test: skip: <reason> -->` is not run and is
  reported as a skipped test with that reason (blocks acting on every user's data, such as a
  sweep with no age limit, or changing the catalog the other tests share).
- The seeded users `testUser1` (100 credits) and `testUser2` (10) are replaced, in each file's
  blocks, by fresh users with the same balances, so the examples depend on no other test and
  the balances the docs print hold. Signing in as the seeded Auth users
  (`testuser1@example.com`, ...) is left as printed.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.emulator

ROOT = Path(__file__).resolve().parents[2]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SEEDED_USERS = {"testUser1": 100, "testUser2": 10}

FENCE = re.compile(r"^(\s*)```(bash|sh)\s*$")
SKIP = re.compile(r"^\s*<!--\s*docs-test:\s*skip:\s*(.+?)\s*-->\s*$")
ANNOTATION = re.compile(
    r"#\s*->\s*(\d{3}(?:\|\d{3})*)"  # the status, or statuses separated by |
    r"(?:\s+([a-z][a-z0-9]*(?:-[a-z0-9]+)+|[a-z]+))?"  # then maybe an error code
)
CURL = re.compile(r"(^|[\s$(|;&])curl\s")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    text: str
    skip: str | None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks_of(path: Path) -> list[Block]:
    """The bash/sh blocks of `path` that call curl, with their skip reason if marked."""
    lines = path.read_text().split("\n")
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent = len(opening.group(1))
        end = i + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        body = "\n".join(line[indent:] for line in lines[i + 1 : end])
        before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = SKIP.match(before)
        if CURL.search(body):
            found.append(Block(path, i + 1, body, marker.group(1) if marker else None))
        i = end + 1
    return found


def expectation(comment_lines: list[str]) -> tuple[str, str]:
    """The statuses (`200|409`, or `2xx` when the docs state none) and the error code a curl
    command is documented to return, from its last line or the comment line after it."""
    for text in comment_lines:
        match = ANNOTATION.search(text)
        if match:
            statuses = match.group(1)
            code = match.group(2) or ""
            if min(int(s) for s in statuses.split("|")) < 400:
                code = ""
            return statuses, code
    return "2xx", ""


def instrument(block: Block) -> str:
    """The block with a `__docs_expect` line before each command that calls curl."""
    lines = block.text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        start = i
        while lines[i].endswith("\\") and i + 1 < len(lines):
            i += 1
        command = lines[start : i + 1]
        if CURL.search("\n".join(command)) and not lines[start].lstrip().startswith("#"):
            after = lines[i + 1 : i + 2]
            follow = [after[0]] if after and after[0].lstrip().startswith("# ->") else []
            statuses, code = expectation([command[-1], *follow])
            where = f"{block.path.relative_to(ROOT)}:{block.line + 1 + start}"
            args = " ".join(shlex.quote(arg) for arg in (statuses, code, where))
            out.append(f"__docs_expect {args}")
        out.extend(command)
        i += 1
    return "\n".join(out)


# Wraps curl: the body goes to stdout as usual; the status is checked against the docs.
PREAMBLE = r"""
set -euo pipefail
__DOCS_EXPECT=2xx; __DOCS_CODE=; __DOCS_WHERE=?
__docs_expect() { __DOCS_EXPECT=$1; __DOCS_CODE=$2; __DOCS_WHERE=$3; }
curl() {
  local dir rc=0 own_output=0 arg status ok=0
  dir=$(mktemp -d)
  for arg in "$@"; do [ "$arg" = -o ] && own_output=1; done
  if [ "$own_output" = 1 ]; then
    command curl -sS --max-time 60 -D "$dir/headers" "$@" || rc=$?
    : > "$dir/body"
  else
    command curl -sS --max-time 60 -D "$dir/headers" -o "$dir/body" "$@" || rc=$?
    if [ -f "$dir/body" ]; then cat "$dir/body"; fi
  fi
  if [ "$rc" != 0 ]; then
    echo "DOCS-EXAMPLE-FAILED $__DOCS_WHERE: curl exited with $rc" >&2; exit 1
  fi
  status=$(awk 'toupper($1) ~ /^HTTP\// {s = $2} END {print s}' "$dir/headers")
  if [ "$__DOCS_EXPECT" = 2xx ]; then
    case "$status" in 2??) ok=1 ;; esac
  else
    case "|$__DOCS_EXPECT|" in *"|$status|"*) ok=1 ;; esac
  fi
  if [ "$ok" != 1 ]; then
    echo "DOCS-EXAMPLE-FAILED $__DOCS_WHERE: HTTP $status, the docs say $__DOCS_EXPECT:" >&2
    cat "$dir/body" >&2; exit 1
  fi
  if [ -n "$__DOCS_CODE" ] && [ "${status:0:1}" != 2 ]; then
    if ! python3 -c 'import json, sys
sys.exit(json.load(open(sys.argv[1]))["error"]["code"] != sys.argv[2])' "$dir/body" "$__DOCS_CODE"
    then
      echo "DOCS-EXAMPLE-FAILED $__DOCS_WHERE: error code is not $__DOCS_CODE:" >&2
      cat "$dir/body" >&2; exit 1
    fi
  fi
  rm -rf "$dir"
  __DOCS_EXPECT=2xx; __DOCS_CODE=; __DOCS_WHERE=?
}
"""

ALL_BLOCKS = [block for path in DOC_FILES for block in blocks_of(path)]
RUNNABLE = sorted({b.path for b in ALL_BLOCKS if b.skip is None})
EXCLUDED = [b for b in ALL_BLOCKS if b.skip is not None]


def script_for(path: Path, users: dict[str, str]) -> str:
    parts = [PREAMBLE]
    for block in ALL_BLOCKS:
        if block.path != path or block.skip is not None:
            continue
        text = instrument(block)
        for seeded, fresh in users.items():
            text = re.sub(rf"\b{seeded}\b", fresh, text)
        parts.append(f"# --- {block.where}\n{text}\n")
    return "\n".join(parts)


@pytest.mark.parametrize("path", RUNNABLE, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_curl_blocks_run_as_printed(path: Path, new_user: Any) -> None:
    users = {seeded: new_user(credits, prefix="docs") for seeded, credits in SEEDED_USERS.items()}
    script = script_for(path, users)
    with tempfile.TemporaryDirectory() as scratch:
        for name in ("functions", "scripts"):
            os.symlink(ROOT / name, Path(scratch) / name)
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=scratch,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=180,
            check=False,
        )
    assert done.returncode == 0, (
        f"a shell example of {path.relative_to(ROOT)} failed (exit {done.returncode}):\n"
        f"{done.stderr[-4000:]}\n--- stdout (tail)\n{done.stdout[-2000:]}"
    )


@pytest.mark.parametrize("block", EXCLUDED, ids=lambda b: b.where)
def test_excluded_blocks_are_reported(block: Block) -> None:
    pytest.skip(f"docs example not run: {block.where}: {block.skip}")


def test_the_conventions_are_read_as_documented() -> None:
    assert expectation(['curl -s "$BASE/x"  # -> 400 invalid-model']) == ("400", "invalid-model")
    assert expectation(["curl -s x", '# -> 202 {"status": "queued"}']) == ("202", "")
    assert expectation(["curl -s x", "# -> 200|409"]) == ("200|409", "")
    assert expectation(["curl -s x", "# -> 500 generation-failed"]) == ("500", "generation-failed")
    assert expectation(["curl -s x", '# -> {"refunded": []}']) == ("2xx", "")
    readme = [b for b in ALL_BLOCKS if b.path.name == "README.md"]
    assert readme and all(b.skip is None for b in readme)
