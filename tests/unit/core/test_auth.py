"""Unit tests of who is calling: bearer tokens, permissions, the emulator's open mode."""

from __future__ import annotations

import pytest

from imagegen.core.errors import DomainError
from imagegen.transports.http_api import http_status


def test_unauthenticated_access_only_inside_the_emulator():
    from imagegen.core.auth import unauthenticated_allowed

    assert unauthenticated_allowed("emulator", in_emulator=True)
    assert not unauthenticated_allowed("emulator", in_emulator=False)
    assert not unauthenticated_allowed("off", in_emulator=True)
    assert not unauthenticated_allowed("always", in_emulator=False)


def test_bearer_token_parsing():
    from imagegen.core.auth import bearer_token

    assert bearer_token(None) is None
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    for bad in ("Basic abc", "Bearer", "abc"):
        with pytest.raises(DomainError) as exc:
            bearer_token(bad)
        assert http_status(exc.value) == 401


def test_caller_permissions():
    from imagegen.core.auth import Caller

    assert Caller("a").may_act_for("a") and not Caller("a").may_act_for("b")
    assert Caller("a", admin=True).may_act_for("b")
    assert Caller(None).may_act_for("b") and not Caller(None).admin
