#!/usr/bin/env python3
"""Print a Firebase ID token from the Auth emulator, for curl.

    functions/venv/bin/python scripts/id_token.py                     # testUser1
    functions/venv/bin/python scripts/id_token.py admin@example.com   # adminUser (admin claim)

Signs in with the seeded password (`password`) against the Auth emulator at
FIREBASE_AUTH_EMULATOR_HOST (default 127.0.0.1:9099). Works only against the emulator.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import urllib.request


def emulator_host() -> str:
    return os.environ.get("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")


def sign_in(email: str, password: str = "password") -> str:
    """An ID token for an Auth emulator user, signed in with email and password."""
    url = (
        f"http://{emulator_host()}/identitytoolkit.googleapis.com/v1/"
        "accounts:signInWithPassword?key=emulator-api-key"
    )
    body = json.dumps({"email": email, "password": password, "returnSecureToken": True})
    req = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)["idToken"]


def unsigned_token(uid: str, project: str, expires_in: int = 3600, **claims: object) -> str:
    """An unsigned (`alg: none`) ID token, as the emulators accept; negative expiry = expired."""
    now = int(time.time())

    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    payload = {
        "iss": f"https://securetoken.google.com/{project}",
        "aud": project,
        "auth_time": now - 60,
        "user_id": uid,
        "sub": uid,
        "iat": now - 60 if expires_in > 0 else now - 7200,
        "exp": now + expires_in,
        "firebase": {"identities": {}, "sign_in_provider": "custom"},
        **claims,
    }
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


if __name__ == "__main__":
    print(sign_in(sys.argv[1] if len(sys.argv) > 1 else "testuser1@example.com"))
