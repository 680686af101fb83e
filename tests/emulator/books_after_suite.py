"""The books checked once after every emulator test (scripts/run-suite.sh runs this file last,
by name; pytest's own collection skips it): the ledger audit over every user, and the
independent check of every user the earlier pytest sessions recorded as touched."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import TOUCHED_USERS_FILE, Api, assert_books_balance

pytestmark = pytest.mark.emulator


def test_every_users_books_balance_after_the_suite(db: Any, api: Api, token_for: Any) -> None:
    assert TOUCHED_USERS_FILE, "run by scripts/run-suite.sh, which sets BOOKS_TOUCHED_USERS_FILE"
    with open(TOUCHED_USERS_FILE) as recorded:
        touched = {line.strip() for line in recorded if line.strip()}
    assert_books_balance(db, api, token_for, touched)
