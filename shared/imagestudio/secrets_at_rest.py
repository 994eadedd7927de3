"""Secrets at rest: values the service must read back (webhook signing secrets) sealed with Fernet.

A sealed value is ``fernet:`` + a Fernet token (AES-128-CBC + HMAC-SHA256, from ``cryptography``).
``IMAGESTUDIO_SECRETS_KEYS`` holds comma-separated Fernet keys: the first seals, every one opens
(``MultiFernet``), so a new key is added in front, ``imagestudio secrets rotate`` re-seals every
value with it, and the old key is then dropped. Outside production, with no keys set, one key is
derived from ``IMAGESTUDIO_SECRET_KEY`` (HKDF-SHA256) so the embedded mode needs no extra setting.
A value without the prefix is a legacy plain one (before migration 0009): read as it is.
"""

from __future__ import annotations

import base64
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from imagestudio.config import get_settings
from imagestudio.errors import SecretUnreadable

#: Marks a sealed value (a legacy plain ``whsec_`` secret never starts with it).
SEALED_PREFIX = "fernet:"
#: HKDF ``info`` of the key derived from ``IMAGESTUDIO_SECRET_KEY``: that key serves nothing else.
_DERIVED_KEY_INFO = b"imagestudio.secrets-at-rest.v1"


def derived_key(secret_key: str) -> bytes:
    """The Fernet key the development modes use when ``IMAGESTUDIO_SECRETS_KEYS`` is empty."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_DERIVED_KEY_INFO).derive(
        secret_key.encode()
    )
    return base64.urlsafe_b64encode(raw)


@lru_cache(maxsize=8)
def _keyring(keys: str, secret_key: str) -> MultiFernet:
    listed = [k.strip() for k in keys.split(",") if k.strip()]
    return MultiFernet([Fernet(k) for k in listed] or [Fernet(derived_key(secret_key))])


def keyring() -> MultiFernet:
    """The keys of this process's settings: the first seals, all open."""
    settings = get_settings()
    return _keyring(settings.secrets_keys.get_secret_value(), settings.secret_key.get_secret_value())


def is_sealed(stored: str) -> bool:
    return stored.startswith(SEALED_PREFIX)


def seal(plain: str) -> str:
    return SEALED_PREFIX + keyring().encrypt(plain.encode()).decode()


def unseal(stored: str) -> str:
    """The plain value of a sealed one (a legacy plain value as it is); raises SecretUnreadable."""
    if not is_sealed(stored):
        return stored
    try:
        return keyring().decrypt(stored.removeprefix(SEALED_PREFIX).encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("no key in IMAGESTUDIO_SECRETS_KEYS opens a stored secret") from exc


def reseal(stored: str) -> str:
    """``stored`` sealed with the newest key (a legacy plain value sealed for the first time)."""
    if not is_sealed(stored):
        return seal(stored)
    try:
        token = keyring().rotate(stored.removeprefix(SEALED_PREFIX).encode())
    except InvalidToken as exc:
        raise SecretUnreadable("no key in IMAGESTUDIO_SECRETS_KEYS opens a stored secret") from exc
    return SEALED_PREFIX + token.decode()


class SealedString(TypeDecorator[str]):
    """A string column holding a sealed value: Python sees the plain value, the database never does."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else seal(str(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else unseal(str(value))
