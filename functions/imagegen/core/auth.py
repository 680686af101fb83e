"""Who is calling: Firebase ID tokens (`Authorization: Bearer <token>`) and what they may do.

- A valid token makes the caller its uid; the custom claim `admin: true` makes it an admin.
- An invalid or expired token is always 401, whatever the settings.
- Endpoints that move money (checkouts, account deletion) also check revocation: a token of a
  deleted or disabled user, or one issued before its refresh tokens were revoked, is 401
  there. That costs one Auth API call (a user lookup) per request, so reads do not do it.
- No token is 401, unless unauthenticated access is allowed: by default only inside the
  emulator (setting UNAUTHENTICATED_ACCESS=emulator), never in a deployed project. Anonymous
  callers may act for any user (that is what keeps the docs' curl lines working) but are
  never admins.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from firebase_admin import auth as firebase_auth
from firebase_admin import exceptions

from imagegen.core import errors
from imagegen.core.settings import UNAUTHENTICATED_ACCESS, running_in_emulator


@dataclass(frozen=True)
class Caller:
    """The verified caller; `uid` is None for an anonymous (allowed) caller."""

    uid: str | None
    admin: bool = False
    email: str | None = None
    email_verified: bool = False  # the token's `email_verified` claim

    @property
    def anonymous(self) -> bool:
        return self.uid is None

    def may_act_for(self, user_id: str) -> bool:
        return self.anonymous or self.admin or self.uid == user_id


def unauthenticated_allowed(setting: str, in_emulator: bool) -> bool:
    """Whether a request without a token is let through (as an anonymous, non-admin caller)."""
    return setting == "emulator" and in_emulator


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; None when there is no header."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise errors.unauthenticated("Authorization header must be 'Bearer <Firebase ID token>'.")
    return token.strip()


def verify(header: str | None, check_revoked: bool = False) -> Caller:
    """The caller behind an Authorization header; raises `unauthenticated` when not acceptable.
    With `check_revoked`, a token of a deleted or disabled user, or a revoked one, is refused
    too (one Auth API call)."""
    token = bearer_token(header)
    if token is None:
        if unauthenticated_allowed(UNAUTHENTICATED_ACCESS.value, running_in_emulator()):
            return Caller(uid=None)
        raise errors.unauthenticated("Missing Authorization: Bearer <Firebase ID token>.")
    try:
        claims = firebase_auth.verify_id_token(token, check_revoked=check_revoked)
    except firebase_auth.ExpiredIdTokenError:
        raise errors.unauthenticated("The ID token has expired.") from None
    except firebase_auth.RevokedIdTokenError:
        raise errors.unauthenticated("The ID token has been revoked.") from None
    except firebase_auth.UserDisabledError:
        raise errors.unauthenticated("This account is disabled.") from None
    except firebase_auth.UserNotFoundError:
        raise errors.unauthenticated("This account no longer exists.") from None
    except (firebase_auth.InvalidIdTokenError, ValueError):
        raise errors.unauthenticated("The ID token is invalid.") from None
    except firebase_auth.CertificateFetchError:
        raise errors.unavailable("Could not fetch the keys to verify the ID token.") from None
    except exceptions.FirebaseError:  # the user lookup of the revocation check failed
        raise errors.unavailable("Could not check the ID token; retry shortly.") from None
    # The Admin SDK skips the expiry check for emulator tokens; check it everywhere alike.
    if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] < time.time():
        raise errors.unauthenticated("The ID token has expired.")
    return caller_from_claims(claims["uid"], claims)


def caller_from_claims(uid: str, claims: dict[str, Any]) -> Caller:
    """The caller of a verified ID token's claims."""
    email = claims.get("email")
    return Caller(
        uid=uid,
        admin=claims.get("admin") is True,
        email=email if isinstance(email, str) else None,
        email_verified=claims.get("email_verified") is True,
    )


def require_user(caller: Caller, user_id: str) -> None:
    """403 unless `caller` may act for `user_id`."""
    if not caller.may_act_for(user_id):
        raise errors.forbidden("You may only act for your own user (or be an admin).")


def require_admin(caller: Caller) -> None:
    """401/403 unless `caller` is an admin (anonymous callers never are)."""
    if caller.anonymous:
        raise errors.unauthenticated("This endpoint needs an admin's ID token.")
    if not caller.admin:
        raise errors.forbidden("This endpoint is for admins (custom claim admin: true).")
