"""Browser sessions for protected reads: a signed cookie set once a person gave a token.

With ``USAGELENS_PROTECT_READS`` a browser cannot send ``X-Auth-Token`` on a page load, so
``/signin`` takes the token once and sets ``usagelens_session``: an expiry time and an
HMAC-SHA256 of it keyed with the token given. The cookie holds no token; it is valid while
it has not expired and a configured token signs it, so rotating the token ends every
session it opened. It is HttpOnly, SameSite=Strict (no other site's page sends it), Secure
when the request came over HTTPS, and expires after ``USAGELENS_SESSION_TTL``. It opens
reads only: a write still needs the token in a header (the dashboard's forms ask for it).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

COOKIE = "usagelens_session"
SIGN_IN = "/signin"
SIGN_OUT = "/signout"


def _mac(token: str, expires: int) -> str:
    message = f"usagelens-session:{expires}".encode()
    return hmac.new(token.encode(), message, hashlib.sha256).hexdigest()


def session_value(token: str, expires: int) -> str:
    """Return the cookie value of a session that ends at ``expires`` (Unix seconds)."""
    return f"{expires}.{_mac(token, expires)}"


def session_valid(value: str | None, tokens: Sequence[str], now: float) -> bool:
    """Tell whether a cookie value is an unexpired session signed by one of the tokens."""
    if not value:
        return False
    expires_text, _, mac = value.partition(".")
    if not expires_text.isdigit() or len(expires_text) > 12 or len(mac) != 64:
        return False
    expires = int(expires_text)
    if expires <= now:
        return False
    valid = False
    for token in tokens:  # compare with every token: the time does not tell which matched
        valid |= hmac.compare_digest(mac.encode(), _mac(token, expires).encode())
    return valid


def safe_next(target: str | None) -> str:
    """Return where to go after signing in: a path on this server, else the overview
    (never another host: ``//host`` and ``/\\host`` are refused)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(ord(c) < 32 for c in target):
        return "/"
    return target


__all__ = ["COOKIE", "SIGN_IN", "SIGN_OUT", "safe_next", "session_valid", "session_value"]
