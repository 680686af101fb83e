"""Integer query parameters (`index`, `pageSize`, ...): ASCII digits with an optional minus,
nothing else (no `0_1`, `+1`, spaces or other scripts' digits read as a number)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from imagegen.core import errors
from imagegen.transports.http_api import query_int


def _read(raw: str) -> int | None:
    return query_int(Request(EnvironBuilder(query_string={"index": raw}).get_environ()), "index")


@settings(max_examples=150)
@given(st.text(alphabet=st.sampled_from("0123456789-+_ .e\u0661\uff11x"), max_size=6))
def test_only_plain_decimal_integers_are_read(raw):
    if raw == "":
        assert _read(raw) is None
    elif re.fullmatch(r"-?[0-9]+", raw):
        assert _read(raw) == int(raw)
    else:
        with pytest.raises(errors.DomainError) as refused:
            _read(raw)
        assert refused.value.code == "invalid-index"


def test_a_digit_separator_does_not_pick_another_image():
    with pytest.raises(errors.DomainError):
        _read("0_1")
