"""A member's ballot on a written consultation, from the request to the commit.

The request reads the ballot and checks what needs no database: its shape, and, when the
caller's session was found live by a recent batch, its signature with the chain to
AXIS_TRUST_DIR (the chain's verdict kept per certificate by signing.seal.SignerCache, so a
ballot costs one signature check, done while the batch before it commits). A ballot from a
session the hub has not seen live lately has its signature checked by its batch, once the
session is known: a caller with a dead or invented token makes the hub check no signature. The
rest is done by the hub process's `BallotDesk`, a group commit: the ballots that arrive at about
the same moment are checked, decided and written together, and each caller is answered once what
was written has committed (a 2xx still means committed). Nothing waits on purpose: a batch is
whatever queued while the batches before it were committing, so a lone ballot commits at once
and a crowd shares commits.

A batch costs two statements, each its own transaction (no BEGIN or COMMIT of their own: the
round trips, with the event loop busy with the next batch's requests between them, were most of
a batch's time). The first reads for every ballot who sent it (the live session behind the
token), its consultation with its rules, the member's registered certificates, their last
version and an earlier ballot with the same payload; the signatures not checked yet are checked
for the ballots sent in a live session. Each ballot is then checked and decided as if alone, in
the order a lone request would be answered (401 for no live session, then what the request found
wrong, then what the signature check found, then the consultation): a refusal changes nothing
and fails no neighbour, and the same payload again gets the first answer. The new versions get
their receipts under one seal of the axis over a Merkle root (meetings.tally.seal_receipts) and
the second statement writes them with their audit entries, only where the consultation is still
open before its deadline, taking it FOR SHARE: a close, which takes it FOR UPDATE, waits for the
statement, and a statement waiting for a close finds it closed and writes nothing, so that its
ballots are decided again (and refused as late).

A member's two ballots never share a batch (the later one waits for the next). Two batches
writing the same member's next version (two hub processes) meet on the table's UNIQUE
constraints: the later one writes nothing for that ballot and decides it again in a later batch.
A batch PostgreSQL refuses for another reason than being away is tried again one ballot at a
time, so one bad ballot never fails the others."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from aiohttp import web

from meetings import axis_port as ax
from meetings import people, rules, service, tally
from meetings.consultations import _loads, deadline_passed
from meetings.people import Person
from signing.errors import SignatureError
from signing.seal import SignerCache, canonical_json

log = logging.getLogger("meetings.ballots")
#: How long shut-down waits for the ballot batches being written.
CLOSE_SECONDS = 15.0

MAX_COMMENT = 4000
#: Ballots one transaction takes at most.
MAX_BATCH = 200
#: Batches in flight at once in one hub process (each holds one pool connection). One: the
#: ballots that arrive while a batch commits make the next one, and a second batch in flight
#: would only split them into smaller transactions (measured: more PostgreSQL and hub CPU a
#: ballot, not more ballots a second).
DRAINERS = 1
#: How many times a ballot whose version another batch took meanwhile is decided again.
TRIES = 20
#: A session a batch found live has its next ballots' signatures checked on arrival for this
#: long; the hub remembers at most LIVE_SESSIONS of them.
LIVE_SECONDS = 60.0
LIVE_SESSIONS = 4096


class WrongForm(ax.Conflict):
    code = "wrong_form"


class AlreadyVoted(ax.Conflict):
    code = "already_voted"


class NotAsked(ax.Forbidden):
    code = "not_asked"


class NotVoting(ax.Forbidden):
    code = "not_voting"


class NotYours(ax.Forbidden):
    code = "not_yours"


class SignatureInvalid(ax.Forbidden):
    code = "signature_invalid"


class CertificateNotTheirs(ax.Forbidden):
    code = "certificate_not_theirs"


# ---------------------------------------------------------------- what needs no database

_PAYLOAD_KEYS = {"type", "consultation_id", "form_sha256", "member", "answers", "signed_at"}
_ANSWER_KEYS = {"question", "choice", "comment"}


def check_answers(answers: object, questions: int) -> None:
    """Every question answered exactly once with a known choice; disagree and other need a comment."""
    where = "payload.answers"
    if not isinstance(answers, list):
        raise ax.BadRequest(f"{where} must be a list of answers", where=where)
    seen: set[int] = set()
    for n, answer in enumerate(answers):
        at = f"{where}[{n}]"
        if not isinstance(answer, dict):
            raise ax.BadRequest(f"{at} must be an object", where=at)
        extra = set(answer) - _ANSWER_KEYS
        if extra:
            raise ax.BadRequest(f"{at}: unknown field {sorted(extra)[0]!r}", where=at)
        number = answer.get("question")
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= questions:
            raise ax.BadRequest(
                f"{at}.question: no question {number!r}; the form asks questions 1 to {questions}",
                where=f"{at}.question",
            )
        if number in seen:
            raise ax.BadRequest(
                f"{at}: question {number} is answered twice", where=f"{at}.question"
            )
        seen.add(number)
        choice = answer.get("choice")
        if choice not in tally.CHOICES:
            raise ax.BadRequest(
                f"{at}.choice must be one of {', '.join(tally.CHOICES)}, not {choice!r}",
                where=f"{at}.choice",
            )
        comment = answer.get("comment")
        if comment is not None:
            service.text(comment, f"{at}.comment", limit=MAX_COMMENT, lines=True)
        if choice != "agree" and (not isinstance(comment, str) or not comment.strip()):
            raise ax.BadRequest(
                f"{at}.comment: a {choice} answer needs a comment", where=f"{at}.comment"
            )
    missing = [q for q in range(1, questions + 1) if q not in seen]
    if missing:
        raise ax.BadRequest(f"{where}: question {missing[0]} is not answered", where=where)


def _ballot_shape(body: dict[str, Any]) -> dict[str, Any]:
    payload = body.get("payload")
    if not isinstance(payload, dict):
        raise ax.BadRequest(
            "a ballot is {payload, alg, signature, certificate, chain}", where="payload"
        )
    extra = set(payload) - _PAYLOAD_KEYS
    if extra:
        raise ax.BadRequest(
            f"payload: unknown field {sorted(extra)[0]!r}", where=f"payload.{sorted(extra)[0]}"
        )
    if payload.get("type") != tally.BALLOT_TYPE:
        raise ax.BadRequest(f"payload.type must be {tally.BALLOT_TYPE!r}", where="payload.type")
    for key in ("consultation_id", "form_sha256", "member", "signed_at"):
        if not isinstance(payload.get(key), str):
            raise ax.BadRequest(f"payload.{key} is required (text)", where=f"payload.{key}")
    service._when(payload["signed_at"], "payload.signed_at")
    extra = set(body) - {"payload", "alg", "signature", "certificate", "chain"}
    if extra:
        raise ax.BadRequest(f"unknown field {sorted(extra)[0]!r}", where=sorted(extra)[0])
    return payload


def _voter(person: Person, row: asyncpg.Record) -> None:
    if person.secretariat:
        raise NotVoting("the secretariat does not vote; asked members answer", where="person")
    if row["state"] == "draft":
        raise ax.NotFound(f"no consultation {row['consultation_id']}", where="consultation")
    if person.kind != "member" or not person.votes:
        raise NotVoting(
            f"{person.login} is a {person.kind}{'' if person.votes else ' who does not vote'}; "
            "only asked voting members answer (a stand-in never votes)",
            where="person",
        )
    if not row["asked"]:
        raise NotAsked(f"{person.login} is not asked in this consultation", where="person")


def _signer(desk: BallotDesk, ballot: _Ballot) -> str | SignatureInvalid:
    """The signer's certificate fingerprint, once the signature and its chain to AXIS_TRUST_DIR
    hold (the chain's verdict kept by the desk's SignerCache: each ballot costs its signature),
    or the refusal to tell if the ballot gets that far."""
    try:
        _, _, signer = desk.signers.verified_signer(
            ballot.body, desk.hub.trust, data=ballot.canonical
        )
    except SignatureError as exc:
        return SignatureInvalid(
            f"the ballot's signature does not hold: {exc.message}",
            where="signature",
            details={"reason": exc.code},
        )
    return signer


# ---------------------------------------------------------------- the request's part


async def cast(
    desk: BallotDesk,
    session_token: str,
    consultation_id: str,
    body: dict[str, Any] | ax.AxisError,
) -> tuple[str, bool]:
    """Record a ballot (`body`, or what was wrong with the request's body); (the answer as JSON,
    True) for a new version, (the first answer, False) for the same payload again. Refusals
    change nothing."""
    key = ax.session_key(session_token)
    if key is None:
        raise ax.Unauthorized("the token is not a live cabinet session", where="Authorization")
    ballot = _Ballot(key, hashlib.sha256(session_token.encode()).hexdigest())
    try:
        if isinstance(body, ax.AxisError):
            raise body
        ballot.payload = _ballot_shape(body)
        ballot.cid = service._path_id(consultation_id, "consultation")
    except ax.AxisError as exc:
        ballot.problem = exc  # told once the session is known to be live
    else:
        ballot.body = body
        # The payload as it will be stored: as signed, or (no personal signature) naming the
        # session.
        signed = "signature" in body
        ballot.stored_payload = (
            ballot.payload if signed else {**ballot.payload, "session": ballot.session}
        )
        # Its canonical JSON once: hashed here, and the signature is checked over the same bytes.
        ballot.canonical = canonical_json(ballot.stored_payload)
        ballot.sha256 = hashlib.sha256(ballot.canonical).hexdigest()
        # The signature is checked now, while the batch before this one is committing, not in
        # this ballot's batch (where the event loop would do nothing else meanwhile), if a recent
        # batch found the session live; else by the batch, once it is known live. Its verdict is
        # told in the batch, in a lone request's order.
        if not signed:
            ballot.signer = ""
        elif desk.seen_live(key):
            ballot.signer = _signer(desk, ballot)
    return await desk.take(ballot)


# ---------------------------------------------------------------- the group commit


@dataclass(eq=False)
class _Ballot:
    session_key: str
    session: str  # SHA-256 of the session token, named by a ballot the axis seals
    cid: uuid.UUID | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    stored_payload: dict[str, Any] = field(default_factory=dict)
    sha256: str | None = None
    canonical: bytes | None = None
    #: The signer's fingerprint, why the signature fails, "" unsigned, None not checked yet.
    signer: str | SignatureInvalid | None = None
    problem: ax.AxisError | None = None
    future: asyncio.Future[tuple[str, bool]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    tries: int = 0


@dataclass
class _New:
    """A ballot decided to be the member's next version, to be written."""

    ballot: _Ballot
    person: Person
    id: uuid.UUID
    version: int
    signed: dict[str, Any] | None  # as signed; None: the axis seals it


#: Decided again in a later batch: its version was taken meanwhile, or the member's other ballot
#: is in this batch.
_AGAIN = object()
_LATER = object()
_Outcome = tuple[str, bool] | BaseException | object

# Every ballot's context in one query: who sent it, its consultation and rules, the
# member's certificates, their last version, an earlier ballot of the same payload (looked up by
# its UNIQUE key, one probe a ballot: as a plain join PostgreSQL may hash the whole table, which
# grows with every ballot).
_CONTEXT = f"""
    SELECT p.*, c.id AS consultation_id, c.state, c.deadline, p.id = ANY(c.asked) AS asked,
           c.form_sha256,
           c.questions, c.version_rules,
           (SELECT array_agg(k.fingerprint) FROM cabinet_certificates k
             WHERE k.person_id = p.id) AS fingerprints,
           (SELECT max(b.version) FROM consultation_ballots b
             WHERE b.consultation_id = i.cid AND b.member = p.id) AS last,
           prior.id AS same_id, prior.version AS same_version, prior.receipt AS same_receipt
      FROM unnest($1::text[], $2::uuid[], $3::text[]) WITH ORDINALITY AS i(key, cid, sha, n)
      LEFT JOIN LATERAL ({people.PERSON_QUERY}
                          WHERE u.id = ({ax.live_session_account("i.key")})) p ON true
      LEFT JOIN (SELECT c.id, c.state, c.deadline, c.asked, c.form_sha256,
                        jsonb_array_length(c.questions) AS questions, r.rules AS version_rules
                   FROM consultations c LEFT JOIN cabinet_rules r ON r.version = c.rules_version
                  WHERE c.id = ANY($2::uuid[])) c ON c.id = i.cid
      LEFT JOIN LATERAL (SELECT b.id, b.version, b.receipt FROM consultation_ballots b
                          WHERE b.consultation_id = i.cid AND b.member = p.id
                            AND b.ballot_sha256 = i.sha LIMIT 1) prior ON true
     ORDER BY i.n"""

# The new versions with their audit entries, in one statement; a version taken meanwhile by
# another batch (UNIQUE) is not written, nor is a ballot whose consultation closed meanwhile.
_AUDIT_ROWS = """
    SELECT 'consultation_ballot', a.cid, a.details::jsonb
      FROM unnest($1::uuid[], $2::uuid[], $9::text[]) WITH ORDINALITY AS a(id, cid, details, n)
      JOIN written w ON w.id = a.id
     ORDER BY a.n"""
_INSERT = f"""
    WITH still_open AS (
        SELECT id FROM consultations
         WHERE id = ANY($2::uuid[]) AND state = 'open' AND deadline > $8
           FOR SHARE),
    written AS (
        INSERT INTO consultation_ballots (id, consultation_id, member, version, ballot,
                                          ballot_sha256, receipt, at)
        SELECT v.id, v.cid, v.member, v.version, v.ballot::jsonb, v.sha, v.receipt::jsonb, $8
          FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::text[], $6::text[],
                      $7::text[])
               WITH ORDINALITY AS v(id, cid, member, version, ballot, sha, receipt, n)
          JOIN still_open o ON o.id = v.cid
         ORDER BY v.n
        ON CONFLICT DO NOTHING RETURNING id),
    audited AS ({ax.audit_about_sql(_AUDIT_ROWS)})
    SELECT id FROM written"""


class BallotDesk:
    """The group commit of ballots of one hub process."""

    def __init__(self, hub: ax.Hub) -> None:
        self.hub = hub
        self._group: ax.GroupCommit[_Ballot] = ax.GroupCommit(
            self._commit, max_batch=MAX_BATCH, drainers=DRAINERS, name="ballot-group-commit"
        )
        self.signers = SignerCache()
        #: Session keys a batch found live, with when (oldest first): only when a ballot's
        #: signature is checked depends on it, never whether the ballot is taken.
        self._live: OrderedDict[str, float] = OrderedDict()

    def seen_live(self, session_key: str) -> bool:
        """Whether a batch found this session live in the last LIVE_SECONDS."""
        seen = self._live.get(session_key)
        return seen is not None and time.monotonic() - seen < LIVE_SECONDS

    def _saw_live(self, session_key: str) -> None:
        self._live[session_key] = time.monotonic()
        self._live.move_to_end(session_key)
        while len(self._live) > LIVE_SESSIONS:
            self._live.popitem(last=False)

    async def take(self, ballot: _Ballot) -> tuple[str, bool]:
        self._group.put(ballot)
        # The batch commits even when the request is cancelled meanwhile (the member went away):
        # it was taken, and the same ballot again gets the first answer. (No shield needed: a
        # cancelled request cancels only this future, which the batch then leaves alone.)
        return await ballot.future

    async def _commit(self, batch: list[_Ballot]) -> None:
        await ax.in_batch_or_alone(
            batch,
            self._write,
            self._settle,
            _fail,
            event="ballot",
            noun="ballot",
            describe=lambda ballot: f"consultation_id={ballot.cid}",
            logger=log,
        )

    def _settle(self, batch: list[_Ballot], outcomes: list[_Outcome]) -> None:
        for ballot, outcome in zip(batch, outcomes, strict=True):
            if outcome is _AGAIN or outcome is _LATER:
                ballot.tries += outcome is _AGAIN
                if ballot.tries < TRIES:
                    self._group.put(ballot)  # decided again in a next batch
                    continue
                outcome = ax.Conflict(
                    "your other ballots kept arriving at the same moment; send this one again",
                    where="ballot",
                )
            if ballot.future.done():
                continue
            if isinstance(outcome, BaseException):
                ballot.future.set_exception(outcome)
            else:
                assert isinstance(outcome, tuple)
                ballot.future.set_result(outcome)

    async def _write(self, batch: list[_Ballot]) -> list[_Outcome]:
        outcomes: list[_Outcome] = [_LATER] * len(batch)
        new: list[tuple[int, _New]] = []
        async with self.hub.db.connection() as conn:
            rows = await conn.fetch(
                _CONTEXT,
                [b.session_key for b in batch],
                [b.cid for b in batch],
                [b.sha256 for b in batch],
            )
            now = datetime.now(UTC)
            taken: set[tuple[uuid.UUID | None, uuid.UUID]] = set()
            for n, (ballot, row) in enumerate(zip(batch, rows, strict=True)):
                if row["id"] is not None:  # a live session: its signature, if not checked yet
                    self._saw_live(ballot.session_key)
                    if ballot.problem is None and ballot.signer is None:
                        ballot.signer = _signer(self, ballot)
                try:
                    decided = _decide(ballot, row, now)
                except ax.AxisError as exc:
                    outcomes[n] = exc
                    continue
                if isinstance(decided, str):
                    outcomes[n] = (decided, False)
                elif (ballot.cid, decided.person.id) not in taken:
                    taken.add((ballot.cid, decided.person.id))
                    new.append((n, decided))
            if new:
                # One order for every batch, so that two batches never wait for each other.
                new.sort(key=lambda item: (item[1].ballot.cid, item[1].person.id))
                stored = await self._insert(conn, [w for _, w in new], now)
                for n, w in new:
                    outcomes[n] = stored.get(w.id, _AGAIN)
        return outcomes

    async def _insert(
        self, conn: asyncpg.Connection, new: list[_New], now: datetime
    ) -> dict[uuid.UUID, tuple[str, bool]]:
        """Seal the receipts (and the ballots the axis seals), write what is still free while
        the consultation is open, with its audit entries; the answers of the ballots written."""
        payloads = [
            {
                "type": tally.RECEIPT_TYPE,
                "consultation_id": str(w.ballot.cid),
                "member": str(w.person.id),
                "version": w.version,
                "ballot_sha256": w.ballot.sha256,
                "received_at": now.isoformat(),
            }
            for w in new
        ]
        if all(w.signed is not None for w in new):
            # One signature of the axis for the whole batch: on the event loop (a thread would
            # cost more than it: the interpreter lock goes back and forth between the two for
            # the Merkle tree's hashing and JSON, and the batch waits for the hand-over).
            receipts, signed = self._seal(new, payloads, now)
        else:  # the axis seals ballots too, one signature each: in a thread
            receipts, signed = await asyncio.to_thread(self._seal, new, payloads, now)
        # Each receipt as JSON once, for its row and its answer; the batch's seal, which every
        # receipt of the batch carries, written once (orjson: these texts are most of the hub's
        # JSON writing per ballot).
        batch = _json(receipts[0]["batch"])
        texts = [
            f'{_json({k: v for k, v in r.items() if k != "batch"})[:-1]},"batch":{batch}}}'
            for r in receipts
        ]
        details = [
            _json({"consultation_id": str(w.ballot.cid), "ballot_id": str(w.id),
                   "member": str(w.person.id), "version": w.version,
                   "ballot_sha256": w.ballot.sha256})
            for w in new
        ]  # fmt: skip
        written = {
            r["id"]
            for r in await conn.fetch(
                _INSERT,
                [w.id for w in new],
                [w.ballot.cid for w in new],
                [w.person.id for w in new],
                [w.version for w in new],
                [_json(s) for s in signed],
                [w.ballot.sha256 for w in new],
                texts,
                now,
                details,
            )
        }
        answers: dict[uuid.UUID, tuple[str, bool]] = {}
        for w, text in zip(new, texts, strict=True):
            if w.id in written:
                answers[w.id] = (_answer(w.id, w.person.id, w.version, w.ballot.sha256, text), True)
        if written:
            subjects = {w.ballot.cid for w in new if w.id in written}
            await ax.audited_about(conn, [cid for cid in subjects if cid is not None])
        return answers

    def _seal(
        self, new: list[_New], payloads: list[dict[str, Any]], now: datetime
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """CPU only: the batch's receipts under one signature, and each ballot as
        stored (a ballot without a member's signature sealed by the axis, naming the session)."""
        seal = self.hub.seal
        receipts = tally.seal_receipts(payloads, seal.sign_json, now.isoformat())
        signed = [
            w.signed if w.signed is not None else seal.sign_json(w.ballot.stored_payload)
            for w in new
        ]
        return receipts, signed

    async def close(self, timeout: float = CLOSE_SECONDS) -> None:
        """Let the batches already taken finish (their members are waiting for them), for at most
        `timeout` seconds: shut-down never waits on a database that stopped answering."""
        await self._group.close(timeout)


def _json(value: object) -> str:
    """JSON text to store or answer (no formatting of its own; a value orjson cannot write, such
    as an integer beyond 64 bits, by the json module)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False)


def _fail(batch: list[_Ballot], exc: BaseException) -> None:
    for ballot in batch:
        if not ballot.future.done():
            ballot.future.set_exception(exc)


def _answer(
    ballot_id: uuid.UUID, member: uuid.UUID, version: int, sha256: str | None, receipt: str
) -> str:
    """{"ballot_id", "member", "version", "ballot_sha256", "receipt"} as JSON, the receipt
    already JSON (as stored)."""
    head = _json(
        {"ballot_id": str(ballot_id), "member": str(member), "version": version,
         "ballot_sha256": sha256}
    )  # fmt: skip
    return f'{head[:-1]},"receipt":{receipt}}}'


def _decide(ballot: _Ballot, row: asyncpg.Record, now: datetime) -> _New | str:
    """A ballot against what is stored, checked in the order a lone request is answered: the
    member's next version, the first answer to the same payload sent again, or the refusal
    raised."""
    if row["id"] is None:
        raise ax.Unauthorized(
            "the token is not a live cabinet session (agency tokens are not accepted here)",
            where="Authorization",
        )
    if ballot.problem is not None:
        raise ballot.problem
    person, payload = people.person_of(row), ballot.payload
    signer = ballot.signer
    if isinstance(signer, SignatureInvalid):
        raise signer
    if row["consultation_id"] is None:
        raise ax.NotFound(f"no consultation {ballot.cid}", where="consultation")
    _voter(person, row)
    if payload["member"] != str(person.id):
        raise NotYours(
            f"payload.member {payload['member']!r} is not the signed-in member {person.id}",
            where="payload.member",
        )
    if (
        payload["consultation_id"] != str(row["consultation_id"])
        or payload["form_sha256"] != row["form_sha256"]
    ):
        raise WrongForm(
            "the ballot answers another consultation or form: sign the form of "
            f"consultation {row['consultation_id']} ({row['form_sha256']})",
            where="payload.form_sha256",
            details={
                "consultation_id": str(row["consultation_id"]),
                "form_sha256": row["form_sha256"],
            },
        )
    check_answers(payload["answers"], row["questions"])
    version_rules = {**rules.DEFAULTS, **_loads(row["version_rules"])}
    signed: dict[str, Any] | None = None
    if signer:
        if signer not in (row["fingerprints"] or ()):
            raise CertificateNotTheirs(
                f"the certificate {signer} is not registered for {person.login} "
                "(axis cabinet person add-cert)",
                where="certificate",
            )
        signed = {k: ballot.body[k] for k in ("payload", "alg", "signature", "certificate")}
        signed["chain"] = ballot.body.get("chain") or []
    elif version_rules["member_signature_required"]:
        raise SignatureInvalid(
            "the ballot carries no signature; sign it with your certificate "
            "(axis cabinet sign-ballot --key K --cert C)",
            where="signature",
            details={"reason": "signature_missing"},
        )
    if row["same_id"] is not None:
        return _answer(
            row["same_id"], person.id, row["same_version"], ballot.sha256, row["same_receipt"]
        )
    if row["state"] != "open" or now >= row["deadline"]:
        raise deadline_passed(row["deadline"])
    if row["last"] is not None and not version_rules["ballot_changes"]:
        raise AlreadyVoted(
            "you have answered already and the rules allow no change (ballot_changes)",
            where="ballot",
        )
    return _New(ballot, person, ax.new_id(), (row["last"] or 0) + 1, signed)


# ---------------------------------------------------------------- one desk per hub process

DESK = web.AppKey("meetings.ballot_desk", BallotDesk)


def desk_of(app: web.Application) -> BallotDesk:
    return app[DESK]


async def running(app: web.Application) -> AsyncIterator[None]:
    desk = app[DESK] = BallotDesk(ax.hub_of(app))
    try:
        yield
    finally:
        await desk.close()


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(running)
