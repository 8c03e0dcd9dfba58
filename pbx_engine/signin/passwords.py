"""scrypt password hashes: `scrypt$n$r$p$salt_hex$hash_hex`, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

# 16 MiB of memory per hash (128 * r * n): slow for a guesser, about 50 ms here.
N, R, P = 2**14, 8, 1
_SALT_BYTES, _KEY_BYTES = 16, 32
MIN_LENGTH = 8


class WeakPassword(ValueError):
    pass


def hash_password(password: str, *, n: int = N, r: int = R, p: int = P) -> str:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters")
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _derive(password, salt, n, r, p)
    return f"scrypt${n}${r}${p}${salt.hex()}${key.hex()}"


def verify_password(password: str, stored: str | None) -> bool:
    """Whether `password` matches the stored hash. Without one (an unknown login, an agent
    with no password) a hash is still computed, so the answer takes as long either way."""
    try:
        scheme, n, r, p, salt_hex, key_hex = (stored or "").split("$")
        if scheme != "scrypt":
            raise ValueError(scheme)
        n_, r_, p_ = int(n), int(r), int(p)
        salt, expected = bytes.fromhex(salt_hex), bytes.fromhex(key_hex)
    except ValueError:
        _derive(password, b"\0" * _SALT_BYTES, N, R, P)
        return False
    return hmac.compare_digest(_derive(password, salt, n_, r_, p_), expected)


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r, dklen=_KEY_BYTES
    )
