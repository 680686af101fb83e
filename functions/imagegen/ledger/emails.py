"""Email addresses as one person's identity for the signup bonus (pure).

`normalized_email` maps the addresses that reach one mailbox to one form; `email_key` turns
that form into a keyed hash, so the claim documents neither hold nor reveal the address.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

GMAIL = "gmail.com"
GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
# Yahoo IDs cannot contain `-`: in `name-keyword@yahoo.com` (a disposable address) the keyword
# goes from the first `-` on. Yahoo's own domains: yahoo.<suffix> and these.
YAHOO_DOMAINS = frozenset({"ymail.com", "rocketmail.com"})
# Fastmail delivers `anything@user.fastmail.com` to `user@fastmail.com` (subdomain
# addressing), on each of its domains.
FASTMAIL_DOMAINS = frozenset(
    {
        "fastmail.com",
        "fastmail.fm",
        "fastmail.cn",
        "fastmail.co.uk",
        "fastmail.com.au",
        "fastmail.de",
        "fastmail.es",
        "fastmail.in",
        "fastmail.jp",
        "fastmail.mx",
        "fastmail.net",
        "fastmail.nl",
        "fastmail.se",
        "fastmail.to",
        "fastmail.tw",
        "fastmail.uk",
        "fastmail.us",
        "messagingengine.com",
    }
)
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
_MAX_LOCAL_BYTES = 64


def _folded(text: str) -> str:
    """Lower case and NFKC, repeated until stable (each can undo the other's normal form)."""
    for _ in range(4):
        folded = unicodedata.normalize("NFKC", text.lower())
        if folded == text:
            break
        text = folded
    return text


def _ascii_domain(domain: str) -> str | None:
    """The domain in IDNA (punycode) form, None when it is not a host name."""
    domain = domain.removesuffix(".")
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    return ascii_domain if _DOMAIN.match(ascii_domain) else None


def _is_yahoo(domain: str) -> bool:
    labels = domain.split(".")
    return domain in YAHOO_DOMAINS or (labels[0] == "yahoo" and 2 <= len(labels) <= 3)


def _fastmail_user(domain: str) -> tuple[str, str] | None:
    """(user, Fastmail domain) for `user.<a Fastmail domain>`, else None."""
    user, _, parent = domain.partition(".")
    return (user, parent) if parent in FASTMAIL_DOMAINS else None


def normalized_email(email: str | None) -> str | None:
    """One form for the addresses that reach the same mailbox, or None for anything that is
    not an address (never an exception).

    Lower case and NFKC throughout, the domain in IDNA (punycode) form; a `+tag` is dropped
    for every domain (many providers deliver it to the same mailbox, and a bonus wrongly
    withheld costs less than one farmed); Gmail's dots are dropped and googlemail.com is
    gmail.com; Yahoo's `-keyword` is dropped; Fastmail's `anything@user.fastmail.com` is
    `user@fastmail.com`. So `John.Doe+promo@GoogleMail.com` is `johndoe@gmail.com`."""
    if not isinstance(email, str):
        return None
    normalized = _normalized_once(email)
    for _ in range(3):  # until stable: dropping a dot or a tag can leave foldable text
        again = _normalized_once(normalized) if normalized is not None else None
        if again == normalized:
            break
        normalized = again
    return normalized


def _normalized_once(email: str) -> str | None:
    folded = _folded(email.strip())
    if folded.count("@") != 1:
        return None
    local, domain = folded.split("@")
    ascii_domain = _ascii_domain(domain)
    if ascii_domain is None:
        return None
    fastmail = _fastmail_user(ascii_domain)
    if fastmail is not None:
        local, ascii_domain = fastmail
    local = local.split("+", 1)[0]
    if ascii_domain in GMAIL_DOMAINS:
        local, ascii_domain = local.replace(".", ""), GMAIL
    elif _is_yahoo(ascii_domain):
        local = local.split("-", 1)[0]
    if not local or len(local.encode()) > _MAX_LOCAL_BYTES:
        return None
    if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in local):
        return None
    return f"{local}@{ascii_domain}"


def email_key(normalized: str, secret: bytes) -> str:
    """The claim document id of a normalized address: HMAC-SHA256 under `secret`, so neither
    the address nor a guess at it can be read back from the id without the secret."""
    return hmac.new(secret, normalized.encode(), hashlib.sha256).hexdigest()


def legacy_email_key(email: str | None) -> str | None:
    """The id a claim had before claim ids were keyed: the SHA-256 of the address as it was
    normalised then (lower case, `+tag` dropped and dots removed on every domain, googlemail.com
    as gmail.com). Such claims still count: an address that got the bonus then gets none now."""
    if not isinstance(email, str) or email.count("@") != 1:
        return None
    local, domain = email.strip().lower().split("@")
    local = local.split("+", 1)[0].replace(".", "")
    domain = {"googlemail.com": "gmail.com"}.get(domain, domain)
    if not local or not domain or "." not in domain:
        return None
    return hashlib.sha256(f"{local}@{domain}".encode()).hexdigest()
