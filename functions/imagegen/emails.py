"""Email addresses as one person's identity for the signup bonus (pure)."""

from __future__ import annotations

import hashlib

GMAIL_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def normalized_email(email: str | None) -> str | None:
    """The address with Gmail's rules applied to every domain: case folded, dots in the local
    part removed and a `+tag` dropped (so `John.Doe+promo@Gmail.com` is `johndoe@gmail.com`),
    googlemail.com read as gmail.com. None for anything that is not an address.

    The rules are applied to every domain, not only Gmail's: many providers deliver `+tag`
    mail to the same mailbox, and a bonus wrongly withheld costs less than one farmed."""
    if not isinstance(email, str) or email.count("@") != 1:
        return None
    local, domain = email.strip().lower().split("@")
    local = local.split("+", 1)[0].replace(".", "")
    domain = GMAIL_DOMAINS.get(domain, domain)
    if not local or not domain or "." not in domain:
        return None
    return f"{local}@{domain}"


def email_key(normalized: str) -> str:
    """The document id of a normalized address (its SHA-256: the address itself is not kept)."""
    return hashlib.sha256(normalized.encode()).hexdigest()
