"""Unit tests of page tokens."""

from __future__ import annotations

import pytest

from imagegen.core.errors import DomainError
from imagegen.records.history import decode_page_token, encode_page_token


def test_page_token_round_trip_and_rejection():
    assert decode_page_token(encode_page_token("abc-deduction")) == "abc-deduction"
    with pytest.raises(DomainError):
        decode_page_token("!!!")
