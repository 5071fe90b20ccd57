"""Clerks' accounts for the pages: argon2-hashed passwords, sessions kept in PostgreSQL, and a lock-out
after repeated failed log-ins that holds across hub processes (the count lives in the database)."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import argon2
import asyncpg

from axis.core import repo
from axis.core.errors import AxisError, BadRequest, Conflict, NotFound, Unauthorized
from axis.core.ids import uuid7
from storage.db import Database

ROLES = ("clerk", "admin")
#: A member or secretary of the Government's meetings (meetings/): signs in to /v1/cabinet only and
#: sees no agency letter; the clerks' pages refuse it.
CABINET = "cabinet"
LOGIN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{2,63}$")
MIN_PASSWORD = 10
SESSION_LIFETIME = timedelta(hours=12)


@dataclass(frozen=True)
class LockoutPolicy:
    """`failures` wrong passwords in a row lock the login for `lock_for`; a failure older than
    `lock_for` is forgotten, so an occasional typo never adds up to a lock."""

    failures: int = 5
    lock_for: timedelta = timedelta(minutes=15)


class LoginRefused(Unauthorized):
    code = "login_refused"


class LockedOut(AxisError):
    code = "locked_out"

    def __init__(self, login: str, until: datetime) -> None:
        super().__init__(f"{login} is locked until {until.isoformat()}", where="login")
        self.until = until


@dataclass(frozen=True)
class User:
    id: uuid.UUID
    organ_id: str
    login: str
    full_name: str | None
    role: str
    active: bool
    agency_name: str

    def public(self) -> dict[str, object]:
        return {
            "id": str(self.id),
            "organ_id": self.organ_id,
            "agency_name": self.agency_name,
            "login": self.login,
            "full_name": self.full_name,
            "role": self.role,
            "active": self.active,
        }


@dataclass(frozen=True)
class Session:
    token: str  # the cookie's value; only its SHA-256 is stored
    csrf_token: str
    expires_at: datetime


@functools.cache
def _hasher() -> argon2.PasswordHasher:
    return argon2.PasswordHasher()  # argon2id with the library's current recommended cost


@functools.cache
def _decoy_hash() -> str:
    # Verified against when the login is unknown, so the answer takes as long as for a known one.
    return _hasher().hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return bool(_hasher().verify(password_hash, password))
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def check_login(login: str) -> str:
    if not LOGIN_RE.match(login):
        raise BadRequest(
            "a login is 3 to 64 letters, digits or . _ @ - and starts with a letter or digit",
            where="login",
        )
    return login


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise BadRequest(f"a password has at least {MIN_PASSWORD} characters", where="password")
    if len(password) > 1024:
        raise BadRequest("a password has at most 1024 characters", where="password")
    return password


_USER = """SELECT u.id, u.organ_id, u.login, u.full_name, u.role, u.active, u.password_hash,
                  a.name AS agency_name
             FROM users u JOIN agencies a ON a.organ_id = u.organ_id"""


def _user(row: asyncpg.Record) -> User:
    return User(
        id=row["id"],
        organ_id=row["organ_id"],
        login=row["login"],
        full_name=row["full_name"],
        role=row["role"],
        active=row["active"],
        agency_name=row["agency_name"],
    )


# ---------------------------------------------------------------- accounts


async def add(
    conn: asyncpg.Connection,
    *,
    organ_id: str,
    login: str,
    password: str,
    role: str,
    full_name: str | None = None,
) -> User:
    """Create a clerk or an admin of an agency; the password is stored only as an argon2id hash."""
    check_login(login)
    check_password(password)
    if role not in (*ROLES, CABINET):
        raise BadRequest(f"role must be one of {', '.join(ROLES)}", where="role")
    if await repo.get_agency(conn, organ_id) is None:
        raise NotFound(f"no agency {organ_id} is registered", where="organ_id")
    password_hash = await asyncio.to_thread(hash_password, password)
    user_id = uuid7()
    try:
        async with conn.transaction():
            await conn.execute(
                """INSERT INTO users (id, organ_id, login, full_name, password_hash, role)
                   VALUES ($1, $2, $3, $4, $5, $6)""",
                user_id,
                organ_id,
                login,
                full_name,
                password_hash,
                role,
            )
            await repo.audit(
                conn, "user_added", organ_id=organ_id, details={"login": login, "role": role}
            )
    except asyncpg.UniqueViolationError:
        raise Conflict(f"the login {login!r} is taken", where="login") from None
    return await get(conn, login)


async def get(conn: asyncpg.Connection, login: str) -> User:
    row = await conn.fetchrow(_USER + " WHERE lower(u.login) = lower($1)", login)
    if row is None:
        raise NotFound(f"no user {login!r}", where="login")
    return _user(row)


async def list_users(conn: asyncpg.Connection, organ_id: str | None = None) -> list[User]:
    rows = await conn.fetch(
        _USER + " WHERE $1::text IS NULL OR u.organ_id = $1 ORDER BY u.organ_id, u.login",
        organ_id,
    )
    return [_user(r) for r in rows]


async def set_password(conn: asyncpg.Connection, login: str, password: str) -> None:
    """A new password; every open session of the user ends and any lock-out is lifted."""
    check_password(password)
    password_hash = await asyncio.to_thread(hash_password, password)
    async with conn.transaction():
        user_id = await conn.fetchval(
            "UPDATE users SET password_hash = $2 WHERE lower(login) = lower($1) RETURNING id",
            login,
            password_hash,
        )
        if user_id is None:
            raise NotFound(f"no user {login!r}", where="login")
        await _end_sessions(conn, user_id)
        await conn.execute("DELETE FROM login_failures WHERE login = lower($1)", login)
        await repo.audit(conn, "user_password_set", details={"login": login})


async def set_active(conn: asyncpg.Connection, login: str, active: bool) -> None:
    async with conn.transaction():
        user_id = await conn.fetchval(
            "UPDATE users SET active = $2 WHERE lower(login) = lower($1) RETURNING id",
            login,
            active,
        )
        if user_id is None:
            raise NotFound(f"no user {login!r}", where="login")
        if not active:
            await _end_sessions(conn, user_id)
        await repo.audit(
            conn, "user_enabled" if active else "user_disabled", details={"login": login}
        )


async def _end_sessions(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    """In the caller's transaction: the user's sessions end, and at commit every hub closes the
    live streams opened with them."""
    ended = await conn.fetch(
        "DELETE FROM user_sessions WHERE user_id = $1 RETURNING token_hash", user_id
    )
    await repo.notify_sessions_ended(conn, [r["token_hash"] for r in ended])


# ---------------------------------------------------------------- logging in


async def authenticate(
    db: Database,
    login: str,
    password: str,
    policy: LockoutPolicy | None = None,
    roles: tuple[str, ...] = ROLES,
) -> User:
    """The user whose password this is; LockedOut while locked (even with the right password),
    LoginRefused otherwise (the same answer for an unknown login and a wrong password). A user
    whose role is not in `roles` is refused too, without counting a failure."""
    policy = policy or LockoutPolicy()
    key = login.strip().lower()[:200]
    async with db.connection() as conn:
        locked_until = await conn.fetchval(
            "SELECT locked_until FROM login_failures WHERE login = $1 AND locked_until > now()", key
        )
        row = await conn.fetchrow(_USER + " WHERE lower(u.login) = $1", key)
    if locked_until is not None:
        raise LockedOut(login, locked_until)
    stored = row["password_hash"] if row is not None else _decoy_hash()
    good = await asyncio.to_thread(_verify, stored, password)
    if not good or row is None or not row["active"]:
        async with db.connection() as conn:
            until = await _count_failure(conn, key, policy)
        if until is not None:
            raise LockedOut(login, until)
        raise LoginRefused("the login or the password is wrong", where="login")
    user = _user(row)
    if user.role not in roles:
        raise LoginRefused("the login or the password is wrong", where="login")
    rehash = _hasher().check_needs_rehash(stored)
    new_hash = await asyncio.to_thread(hash_password, password) if rehash else None
    async with db.connection() as conn, conn.transaction():
        await conn.execute("DELETE FROM login_failures WHERE login = $1", key)
        await conn.execute(
            "UPDATE users SET last_login_at = now(), password_hash = COALESCE($2, password_hash) WHERE id = $1",
            user.id,
            new_hash,
        )
    return user


async def _count_failure(
    conn: asyncpg.Connection, key: str, policy: LockoutPolicy
) -> datetime | None:
    """Record one failure in one statement (safe when hub processes race); the lock's end or None."""
    row = await conn.fetchrow(
        """INSERT INTO login_failures AS f (login, failures, last_failure, locked_until)
           VALUES ($1, 1, now(), CASE WHEN $2 <= 1 THEN now() + $3::interval END)
           ON CONFLICT (login) DO UPDATE SET
               failures = CASE WHEN f.last_failure < now() - $3::interval
                                 OR f.locked_until <= now() THEN 1 ELSE f.failures + 1 END,
               last_failure = now(),
               locked_until = CASE WHEN (CASE WHEN f.last_failure < now() - $3::interval
                                                OR f.locked_until <= now() THEN 1
                                              ELSE f.failures + 1 END) >= $2
                                   THEN now() + $3::interval END
           RETURNING locked_until""",
        key,
        policy.failures,
        policy.lock_for,
    )
    until: datetime | None = row["locked_until"]
    if until is not None:
        await repo.audit(conn, "login_locked", details={"login": key, "until": until.isoformat()})
    return until


async def open_session(conn: asyncpg.Connection, user: User) -> Session:
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires_at = await conn.fetchval(
        """INSERT INTO user_sessions (token_hash, user_id, csrf_token, expires_at)
           VALUES ($1, $2, $3, now() + $4::interval) RETURNING expires_at""",
        _sha256(token),
        user.id,
        csrf,
        SESSION_LIFETIME,
    )
    # Expired sessions of anyone are swept now and then, by whoever logs in.
    await conn.execute("DELETE FROM user_sessions WHERE expires_at < now() - interval '1 day'")
    return Session(token, csrf, expires_at)


def live_session(token_hash: str = "$1") -> str:  # noqa: S107 - SQL, not a secret
    """The rows of a live session of an active user of an active agency, `token_hash` being the
    SQL that names its session_key ($1, or a column of the caller's query): the one rule, for
    whoever joins other tables to it (a plug-in finding its person, or a batch's, in one query)."""
    return f"""FROM user_sessions s JOIN users u ON u.id = s.user_id
             JOIN agencies a ON a.organ_id = u.organ_id
            WHERE s.token_hash = {token_hash} AND s.expires_at > now() AND u.active AND a.active"""


LIVE_SESSION = live_session()


async def session_user(
    conn: asyncpg.Connection, token: str, roles: tuple[str, ...] = ROLES
) -> tuple[User, Session] | None:
    """The active user of a live session whose role is one of `roles`, or None."""
    if not token or len(token) > 200 or not token.isascii():
        return None
    row = await conn.fetchrow(
        f"""SELECT u.id, u.organ_id, u.login, u.full_name, u.role, u.active,
                   a.name AS agency_name, s.csrf_token, s.expires_at
              {LIVE_SESSION} AND u.role = ANY($2::text[])""",
        _sha256(token),
        list(roles),
    )
    if row is None:
        return None
    return _user(row), Session(token, row["csrf_token"], row["expires_at"])


def session_key(token: str) -> str:
    """What the axis stores of a session token, and names it by in the `axis_sessions` notices."""
    return _sha256(token)


async def close_session(conn: asyncpg.Connection, token: str) -> None:
    """Log out: the session ends, and (at commit) so do its live streams on every hub."""
    async with conn.transaction():
        ended = await conn.fetch(
            "DELETE FROM user_sessions WHERE token_hash = $1 RETURNING token_hash", _sha256(token)
        )
        await repo.notify_sessions_ended(conn, [r["token_hash"] for r in ended])


def same_token(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8", "replace"))
