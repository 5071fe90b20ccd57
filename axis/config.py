"""Configuration of the axis, read from AXIS_* environment variables with defaults that work locally."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from axis.core.errors import ConfigError
from signing.organs import DEFAULT_PLACES, PLACES, parse_places

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULTS: dict[str, str] = {
    "AXIS_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/axis",
    "AXIS_AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/",
    "AXIS_BLOB_URL": (PROJECT_ROOT / "var" / "blobs").as_uri(),
    "AXIS_LISTEN": "127.0.0.1:8080",
    "AXIS_LOG_FORMAT": "json",
    "AXIS_LOG_LEVEL": "info",
    "AXIS_QUEUE_PREFIX": "axis",
    "AXIS_MAX_DOCUMENT_BYTES": str(100 * 1024 * 1024),
    # Packages of at most this many bytes are kept in PostgreSQL, made durable by the commit that
    # records them (no file, no fsync); larger ones go to the blob store. 0: always the blob store.
    "AXIS_INLINE_MAX_BYTES": str(64 * 1024),
    "AXIS_PUBLIC_URL": "",
    # The development CA made by `make run`; production points this at the CAs it trusts.
    "AXIS_TRUST_DIR": str(PROJECT_ROOT / "var" / "ca"),
    "AXIS_SEAL_DIR": str(PROJECT_ROOT / "var" / "seal"),
    # The axis seals a checkpoint of the audit chain this often, or after this many entries.
    "AXIS_AUDIT_CHECKPOINT_SECONDS": "60",
    "AXIS_AUDIT_CHECKPOINT_ENTRIES": "1000",
    "AXIS_PUSH_MAX_ATTEMPTS": "10",
    "AXIS_PUSH_RETRY_DELAYS": "5,15,60,300,900,1800,3600",
    "AXIS_PUSH_TIMEOUT": "30",
    # A delivery not acknowledged within this many seconds is overdue (one working day by default).
    "AXIS_ACK_OVERDUE_SECONDS": "86400",
    # The longest a hub answers from memory for an agency's token (0: never); a change to the
    # agency (disabled, token rotated, certificate removed) drops it on every hub at once anyway.
    "AXIS_TOKEN_CACHE_SECONDS": "5",
    # Serve HTTPS itself (both set); with a client CA, agencies must also present their certificate.
    "AXIS_TLS_CERT": "",
    "AXIS_TLS_KEY": "",
    "AXIS_TLS_CLIENT_CA": "",
    # development or production; outside development the axis refuses to serve without AXIS_SECRET_KEY.
    "AXIS_ENV": "production",
    # Fernet key (32 bytes, URL-safe base64) that encrypts the agencies' VDXP secrets.
    "AXIS_SECRET_KEY": "",
    # Where a signing certificate may state its organ id (an extra check; the registry binds).
    "AXIS_CERT_ORGAN_FIELDS": "uid,ou,serialNumber,san-uri",
    # eCabinet (meetings/): organ id of the Government Office's agency on the axis; papers may be
    # taken from the letters it sent or received.
    "AXIS_CABINET_ORGAN": "",
    # eCabinet: the folder holding key.pem and cert.pem (as `axis ca issue -o DIR` writes them) with
    # which the Government Office signs the result letters of written consultations.
    "AXIS_CABINET_SIGNER_DIR": "",
    # The event loop of each hub process: uvloop (measured faster under `axis bench axis`), or
    # asyncio's own.
    "AXIS_EVENT_LOOP": "uvloop",
    # Child processes of each hub process that read and verify small packages, on other cores
    # than the event loop's: auto (one when the machine has two cores or more), or a number (0:
    # in threads of the hub's own process).
    "AXIS_CHECK_PROCESSES": "auto",
}

#: Every variable the service reads; docker/compose.yaml is checked against this list.
KNOWN_VARIABLES = frozenset(DEFAULTS)
#: Read by the client commands (axis send, inbox, fetch) and the benchmarks, not by the service.
CLIENT_VARIABLES = frozenset({"AXIS_URL", "AXIS_TOKEN", "AXIS_BENCH_ISOLATION"})

_LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True)
class Config:
    database_url: str
    amqp_url: str
    blob_url: str
    listen_host: str
    listen_port: int
    log_format: str
    log_level: str
    queue_prefix: str
    max_document_bytes: int
    public_url: str
    trust_dir: Path
    seal_dir: Path
    audit_checkpoint_seconds: float
    audit_checkpoint_entries: int
    push_max_attempts: int
    push_retry_delays: tuple[float, ...]
    push_timeout: float
    ack_overdue_seconds: float
    tls_cert: str
    tls_key: str
    tls_client_ca: str
    env: str = "production"
    secret_key: str = ""
    cert_organ_fields: tuple[str, ...] = DEFAULT_PLACES
    cabinet_organ: str = ""
    cabinet_signer_dir: str = ""
    token_cache_seconds: float = 5.0
    event_loop: str = "uvloop"
    inline_max_bytes: int = 64 * 1024
    check_processes: int = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """Read the configuration; a bad value raises ConfigError naming the variable."""
        source = os.environ if env is None else env
        values = {k: source.get(k) or DEFAULTS[k] for k in DEFAULTS}

        db = values["AXIS_DATABASE_URL"]
        if urllib.parse.urlsplit(db).scheme not in ("postgresql", "postgres"):
            raise ConfigError(
                "AXIS_DATABASE_URL", f"must be postgresql://user@host:port/db, not {db!r}"
            )
        amqp = values["AXIS_AMQP_URL"]
        if urllib.parse.urlsplit(amqp).scheme not in ("amqp", "amqps"):
            raise ConfigError(
                "AXIS_AMQP_URL", f"must be amqp://user:pass@host:port/vhost, not {amqp!r}"
            )
        blob = values["AXIS_BLOB_URL"]
        _check_blob_url(blob)
        host, port = _parse_listen(values["AXIS_LISTEN"])
        log_format = values["AXIS_LOG_FORMAT"].lower()
        if log_format not in ("json", "text"):
            raise ConfigError("AXIS_LOG_FORMAT", f"must be json or text, not {log_format!r}")
        log_level = values["AXIS_LOG_LEVEL"].lower()
        if log_level not in _LOG_LEVELS:
            raise ConfigError("AXIS_LOG_LEVEL", f"must be one of {', '.join(_LOG_LEVELS)}")
        prefix = values["AXIS_QUEUE_PREFIX"]
        if not prefix.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ConfigError(
                "AXIS_QUEUE_PREFIX", "may hold only letters, digits, '-', '_' and '.'"
            )
        try:
            max_bytes = int(values["AXIS_MAX_DOCUMENT_BYTES"])
            if max_bytes <= 0:
                raise ValueError
        except ValueError:
            raise ConfigError(
                "AXIS_MAX_DOCUMENT_BYTES", "must be a positive number of bytes"
            ) from None
        cfg = cls(
            database_url=db,
            amqp_url=amqp,
            blob_url=blob,
            listen_host=host,
            listen_port=port,
            log_format=log_format,
            log_level=log_level,
            queue_prefix=prefix,
            max_document_bytes=max_bytes,
            public_url=values["AXIS_PUBLIC_URL"],
            trust_dir=Path(values["AXIS_TRUST_DIR"]),
            seal_dir=Path(values["AXIS_SEAL_DIR"]),
            audit_checkpoint_seconds=_positive_float(values, "AXIS_AUDIT_CHECKPOINT_SECONDS"),
            audit_checkpoint_entries=_positive_int(values, "AXIS_AUDIT_CHECKPOINT_ENTRIES"),
            push_max_attempts=_positive_int(values, "AXIS_PUSH_MAX_ATTEMPTS"),
            push_retry_delays=_delays(values["AXIS_PUSH_RETRY_DELAYS"]),
            push_timeout=_positive_float(values, "AXIS_PUSH_TIMEOUT"),
            ack_overdue_seconds=_positive_float(values, "AXIS_ACK_OVERDUE_SECONDS"),
            tls_cert=values["AXIS_TLS_CERT"],
            tls_key=values["AXIS_TLS_KEY"],
            tls_client_ca=values["AXIS_TLS_CLIENT_CA"],
            env=_environment(values["AXIS_ENV"]),
            secret_key=_secret_key(values["AXIS_SECRET_KEY"]),
            cert_organ_fields=cert_organ_fields(values["AXIS_CERT_ORGAN_FIELDS"]),
            cabinet_organ=values["AXIS_CABINET_ORGAN"].strip(),
            cabinet_signer_dir=values["AXIS_CABINET_SIGNER_DIR"].strip(),
            token_cache_seconds=_cache_seconds(values, "AXIS_TOKEN_CACHE_SECONDS"),
            event_loop=_event_loop(values["AXIS_EVENT_LOOP"]),
            inline_max_bytes=_inline_max(values["AXIS_INLINE_MAX_BYTES"]),
            check_processes=_check_processes(values["AXIS_CHECK_PROCESSES"]),
        )
        if bool(cfg.tls_cert) != bool(cfg.tls_key):
            raise ConfigError("AXIS_TLS_CERT", "AXIS_TLS_CERT and AXIS_TLS_KEY go together")
        if cfg.tls_client_ca and not cfg.tls_cert:
            raise ConfigError(
                "AXIS_TLS_CLIENT_CA", "mutual TLS needs AXIS_TLS_CERT and AXIS_TLS_KEY too"
            )
        for name, path in (
            ("AXIS_TLS_CERT", cfg.tls_cert),
            ("AXIS_TLS_KEY", cfg.tls_key),
            ("AXIS_TLS_CLIENT_CA", cfg.tls_client_ca),
        ):
            if path and not Path(path).is_file():
                raise ConfigError(name, f"no such file: {path}")
        return cfg

    def masked(self) -> dict[str, str | int | float]:
        """The effective configuration with passwords and keys replaced by ***."""
        out: dict[str, str | int | float] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_url"):
                out[f.name] = mask_url(value)
            elif f.name == "secret_key":
                out[f.name] = "***" if value else ""
            elif isinstance(value, (str, int, float)):
                out[f.name] = value
            elif f.name == "cert_organ_fields":
                out[f.name] = ",".join(PLACES[v] for v in value) or "none"
            elif isinstance(value, tuple):
                out[f.name] = ",".join(f"{v:g}" for v in value)
            else:
                out[f.name] = str(value)
        return out


def check_can_serve(cfg: Config) -> None:
    """Outside development the axis does not serve without the key that guards VDXP secrets."""
    if cfg.env != "development" and not cfg.secret_key:
        raise ConfigError(
            "AXIS_SECRET_KEY",
            "must be set outside development (AXIS_ENV=development uses var/secret.key)",
        )


def cert_organ_fields(value: str) -> tuple[str, ...]:
    """The places of AXIS_CERT_ORGAN_FIELDS, e.g. `uid,ou,serialNumber,san-uri`, or `none`."""
    try:
        return parse_places(value)
    except ValueError as exc:
        raise ConfigError("AXIS_CERT_ORGAN_FIELDS", str(exc)) from None


def _event_loop(value: str) -> str:
    loop = value.strip().lower()
    if loop not in ("asyncio", "uvloop"):
        raise ConfigError("AXIS_EVENT_LOOP", f"must be asyncio or uvloop, not {value!r}")
    return loop


def _check_processes(value: str) -> int:
    if value.strip().lower() == "auto":
        return 1 if (os.cpu_count() or 1) >= 2 else 0
    try:
        number = int(value)
        if not 0 <= number <= 64:
            raise ValueError
    except ValueError:
        raise ConfigError(
            "AXIS_CHECK_PROCESSES", f"must be auto or a whole number from 0 to 64, not {value!r}"
        ) from None
    return number


def _environment(value: str) -> str:
    env = value.strip().lower()
    if env not in ("development", "production"):
        raise ConfigError("AXIS_ENV", f"must be development or production, not {value!r}")
    return env


def _secret_key(value: str) -> str:
    if not value:
        return ""
    from cryptography.fernet import Fernet

    try:
        Fernet(value.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise ConfigError(
            "AXIS_SECRET_KEY", "must be 32 random bytes in URL-safe base64 (a Fernet key)"
        ) from None
    return value.strip()


def unknown_variables(env: Mapping[str, str] | None = None) -> list[str]:
    """AXIS_* variables that the service does not read (often a typo); `axis config` warns of them."""
    source = os.environ if env is None else env
    return sorted(
        k for k in source if k.startswith("AXIS_") and k not in KNOWN_VARIABLES | CLIENT_VARIABLES
    )


def mask_url(url: str) -> str:
    """Hide the password (or S3 secret) of a URL."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


#: A package kept in PostgreSQL is read whole into memory; past this it belongs in the blob store.
INLINE_LIMIT = 16 * 1024 * 1024


def _inline_max(value: str) -> int:
    try:
        number = int(value)
        if not 0 <= number <= INLINE_LIMIT:
            raise ValueError
    except ValueError:
        raise ConfigError(
            "AXIS_INLINE_MAX_BYTES",
            f"must be a number of bytes from 0 to {INLINE_LIMIT}, not {value!r}",
        ) from None
    return number


def _positive_int(values: Mapping[str, str], name: str) -> int:
    try:
        number = int(values[name])
        if number <= 0:
            raise ValueError
    except ValueError:
        raise ConfigError(name, f"must be a positive whole number, not {values[name]!r}") from None
    return number


def _positive_float(values: Mapping[str, str], name: str) -> float:
    try:
        number = float(values[name])
        if not number > 0:
            raise ValueError
    except ValueError:
        raise ConfigError(
            name, f"must be a positive number of seconds, not {values[name]!r}"
        ) from None
    return number


def _cache_seconds(values: Mapping[str, str], name: str) -> float:
    try:
        number = float(values[name])
        if not 0 <= number <= 3600:
            raise ValueError
    except ValueError:
        raise ConfigError(
            name, f"must be a number of seconds from 0 to 3600, not {values[name]!r}"
        ) from None
    return number


def _delays(text: str) -> tuple[float, ...]:
    try:
        delays = tuple(float(part) for part in text.split(",") if part.strip())
        if not delays or any(d <= 0 for d in delays):
            raise ValueError
    except ValueError:
        raise ConfigError(
            "AXIS_PUSH_RETRY_DELAYS",
            f"must be seconds separated by commas, e.g. 5,15,60; not {text!r}",
        ) from None
    return delays


def _check_blob_url(url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "file":
        if not parts.path:
            raise ConfigError(
                "AXIS_BLOB_URL", "file:// URL needs a path, e.g. file:///srv/axis/blobs"
            )
        return
    if parts.scheme in ("s3", "s3+http", "s3+https"):
        if not (parts.hostname and parts.username and parts.password and parts.path.strip("/")):
            raise ConfigError("AXIS_BLOB_URL", "S3 URL must be s3://access:secret@host:port/bucket")
        return
    raise ConfigError("AXIS_BLOB_URL", f"must start with file:// or s3://, not {url!r}")


def _parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise ConfigError("AXIS_LISTEN", f"must be HOST:PORT, e.g. 127.0.0.1:8080, not {value!r}")
    try:
        number = int(port)
        if not 0 <= number <= 65535:
            raise ValueError
    except ValueError:
        raise ConfigError("AXIS_LISTEN", f"port must be a number 0-65535, not {port!r}") from None
    return host.strip("[]"), number
