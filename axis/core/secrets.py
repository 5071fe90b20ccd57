"""Secrets the axis must read back (each agency's VDXP secret), encrypted with AXIS_SECRET_KEY.

API tokens are stored as hashes; a VDXP secret cannot be, because checking the SDK's HMAC needs the
secret itself. It is kept as a Fernet token (AES-128-CBC + HMAC-SHA256) under a key that lives
outside the database.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from axis.config import PROJECT_ROOT, Config
from axis.core.errors import AxisError, ConfigError

#: Where `make run` and development commands keep the key when AXIS_SECRET_KEY is not set.
DEV_KEY_PATH = PROJECT_ROOT / "var" / "secret.key"


class SecretUnreadable(AxisError):
    code = "secret_unreadable"


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")


def check_key(value: str) -> str:
    """A key must be 32 bytes in URL-safe base64 (what `new_key` makes)."""
    try:
        Fernet(value.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise ConfigError(
            "AXIS_SECRET_KEY",
            "must be 32 random bytes in URL-safe base64; make one with "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`",
        ) from None
    return value


def dev_key(path: Path = DEV_KEY_PATH) -> str:
    """The development key under ./var, made on first use (readable by its owner only)."""
    if path.is_file():
        return check_key(path.read_text(encoding="ascii").strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = new_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(key + "\n")
    return key


class SecretBox:
    """Encrypts and decrypts short secrets under one key."""

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(check_key(key).encode("ascii"))

    @classmethod
    def from_config(cls, config: Config) -> SecretBox:
        return cls.for_settings(config.env, config.secret_key)

    @classmethod
    def for_settings(cls, env: str, key: str) -> SecretBox:
        if key:
            return cls(key)
        # Development makes var/secret.key; commands run beside a `make run` hub find it there.
        if env == "development" or DEV_KEY_PATH.is_file():
            return cls(dev_key())
        raise ConfigError(
            "AXIS_SECRET_KEY",
            "is not set; the axis needs it to keep VDXP secrets (AXIS_ENV=development uses var/secret.key)",
        )

    def seal(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise SecretUnreadable(
                "a stored VDXP secret cannot be decrypted with AXIS_SECRET_KEY (was the key changed?)"
            ) from None


def new_vdxp_secret() -> str:
    """A shared secret for the SDK's HMAC: 192 random bits, ASCII so every SDK can hold it."""
    return secrets.token_urlsafe(24)
