"""Unit tests of the signup bonus's address identity (imagegen.emails): one key per mailbox,
by the providers' alias rules, and a keyed hash of it."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagegen.ledger.emails import email_key, normalized_email

SECRET = b"test-secret"
FAST = settings(max_examples=60, deadline=None)

NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)


@pytest.mark.parametrize(
    ("email", "normalized"),
    [
        # every domain: case, NFKC, IDNA, +tag; dots kept outside Gmail
        ("  Ada@Example.com ", "ada@example.com"),
        ("ada+promo+x@example.co.uk", "ada@example.co.uk"),
        ("j.o.h.n@example.com", "j.o.h.n@example.com"),
        ("ａｄａ＠ｅｘａｍｐｌｅ．ｃｏｍ", "ada@example.com"),  # fullwidth forms (NFKC)
        ("ADA@Bücher.DE", "ada@xn--bcher-kva.de"),
        ("ada@xn--bcher-kva.de", "ada@xn--bcher-kva.de"),
        ("ada@example.com.", "ada@example.com"),
        # Gmail
        ("John.Doe+promo@Gmail.com", "johndoe@gmail.com"),
        ("j.o.h.n.d.o.e@googlemail.com", "johndoe@gmail.com"),
        # Yahoo: name-keyword disposable addresses
        ("ada-shopping@yahoo.com", "ada@yahoo.com"),
        ("Ada-a-b+x@Yahoo.co.uk", "ada@yahoo.co.uk"),
        ("ada-x@ymail.com", "ada@ymail.com"),
        ("ada-x@example.com", "ada-x@example.com"),  # `-` is kept elsewhere
        # Fastmail: anything@user.fastmail.com is user@fastmail.com
        ("anything@alice.fastmail.com", "alice@fastmail.com"),
        ("shop+x@Alice.FastMail.fm", "alice@fastmail.fm"),
        ("alice+x@fastmail.com", "alice@fastmail.com"),
        ("a@b.alice.fastmail.com", "a@b.alice.fastmail.com"),
    ],
)
def test_provider_rules(email, normalized):
    assert normalized_email(email) == normalized


@pytest.mark.parametrize(
    "email",
    [
        None,
        "",
        "no-at-sign",
        "a@b@c.com",
        "a@localhost",
        "+tag@gmail.com",
        "...@gmail.com",
        "-x@yahoo.com",
        "a b@example.com",
        "a\u200d@example.com",  # a format character
        "a@exa_mple.com",
        "a@b..com",
        "a@-b.com",
        f"{'a' * 65}@example.com",
        f"a@{'b' * 64}.com",
    ],
)
def test_what_is_not_an_address_is_none(email):
    assert normalized_email(email) is None


def test_the_key_is_an_hmac_under_the_secret_not_a_plain_hash():
    key = email_key("ada@example.com", SECRET)
    assert key == email_key("ada@example.com", SECRET) and len(key) == 64
    assert key != hashlib.sha256(b"ada@example.com").hexdigest()
    assert key != email_key("ada@example.com", b"another-secret")
    assert "ada" not in key


@FAST
@given(st.text(max_size=40) | st.emails())
def test_normalizing_is_idempotent_and_never_raises(email):
    once = normalized_email(email)
    assert once is None or normalized_email(once) == once


@FAST
@given(
    name=NAME,
    dots=st.lists(st.integers(min_value=0, max_value=12), max_size=4),
    upper=st.lists(st.booleans(), min_size=12, max_size=12),
    tag=st.none() | st.text(alphabet="abc.-+_", max_size=6),
    domain=st.sampled_from(["gmail.com", "googlemail.com", "GMail.com", "GoogleMail.COM"]),
)
def test_case_dots_and_tag_variants_of_a_gmail_address_have_one_key(name, dots, upper, tag, domain):
    local = "".join(c.upper() if up else c for c, up in zip(name, upper, strict=False))
    for at in sorted(set(dots), reverse=True):
        local = local[:at] + "." + local[at:]
    variant = f"{local}+{tag}@{domain}" if tag is not None else f"{local}@{domain}"
    assert normalized_email(variant) == f"{name}@gmail.com"
    assert email_key(normalized_email(variant), SECRET) == email_key(
        normalized_email(f"{name}@gmail.com"), SECRET
    )


@FAST
@given(
    names=st.lists(NAME, min_size=2, max_size=2, unique=True),
    domain=st.sampled_from(["gmail.com", "example.com", "yahoo.com", "fastmail.com"]),
)
def test_distinct_users_have_distinct_keys(names, domain):
    first, second = (normalized_email(f"{name}@{domain}") for name in names)
    assert first is not None and second is not None
    assert email_key(first, SECRET) != email_key(second, SECRET)


@FAST
@given(name=NAME, other=st.sampled_from(["example.com", "yahoo.com", "outlook.com"]))
def test_the_same_name_at_different_domains_is_different(name, other):
    assert normalized_email(f"{name}@gmail.com") != normalized_email(f"{name}@{other}")
