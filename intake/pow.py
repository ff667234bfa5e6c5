"""Proof of work before a submission is stored: ALTCHA challenges.

The intake hands out challenges in the ALTCHA format (its v1 protocol, made
by the `altcha` library): a salt, a hidden number up to
`maxNumber`, `challenge` = SHA-256(salt + number) in hex, and an HMAC-SHA-256
`signature` of the challenge under a key only this intake holds. The salt
carries the challenge's expiry, so a challenge needs no state until it comes
back solved. A client finds the number by trying them all (on the page, a
Web Worker with WebCrypto: intake/static/pow.js) and sends the solution in
the `X-Altcha` header with its envelope (docs/formats.md, section 10).

Verifying costs one SHA-256 and one HMAC (`_signed`: the library's own
check, v1 `verify_solution`, compares the HMAC with `==`, whose time tells
a client how much of a guessed signature is right; here both comparisons
take constant time, and tests/test_pow.py checks that the two agree); it
happens after the envelope's own checks and before anything is written. A solution is good once: its
challenge is remembered, in memory, until it expires, so a replay is
refused. The state (the HMAC key, the table of used challenges, the count of
recent proofs) is made once per server: in gunicorn's master before the
workers fork (intake/gunicorn_conf.py), so that every worker checks the
same key and sees every other worker's used challenges; in one process
otherwise (`intake serve`, tests). A restart makes a new key: challenges
issued before it are refused, and the page simply fetches a new one.

The difficulty (`maxNumber`) follows the rate of verified submissions over
the last ten seconds (`Difficulty`, docs/operations.md).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import mmap
import multiprocessing
import secrets
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from altcha.v1 import ChallengeOptions, Payload, create_challenge, solve_challenge

__all__ = [
    "CHALLENGE_PATH",
    "HEADER",
    "Difficulty",
    "ProofOfWork",
    "ProofRefused",
    "SharedState",
    "install_shared_state",
    "solve",
]

CHALLENGE_PATH = "/api/v1/challenge"
HEADER = "X-Altcha"
_ENVIRON_KEY = "HTTP_X_ALTCHA"
# A solution is about 300 characters of base64; anything much longer is not one.
_MAX_HEADER = 1024
_ALGORITHM: Literal["SHA-256"] = "SHA-256"


@dataclass(frozen=True)
class Difficulty:
    """The rule: `levels` are (verified submissions per second over the last
    ten seconds, maxNumber from that rate on), lowest first; `expires` the
    seconds a challenge stays good (long enough to fill the form in)."""

    levels: tuple[tuple[float, int], ...] = (
        (0.0, 100_000),
        (30.0, 250_000),
        (100.0, 500_000),
        (250.0, 1_000_000),
    )
    expires: int = 30 * 60

    def __post_init__(self) -> None:
        rates = [rate for rate, _n in self.levels]
        if not self.levels or rates[0] != 0 or rates != sorted(rates) or any(n < 1 for _r, n in self.levels):
            raise ValueError("difficulty levels: start at rate 0, rates ascending, maxNumber at least 1")

    @classmethod
    def parse(cls, text: str) -> Difficulty:
        """Levels as an operator writes them: `RATE:MAXNUMBER` pairs separated
        by commas, e.g. `0:100000,30:250000,100:500000,250:1000000` (the
        default). ValueError, in one line, for anything else."""
        levels = []
        for part in text.split(","):
            rate, sep, number = part.strip().partition(":")
            try:
                if not sep:
                    raise ValueError
                levels.append((float(rate), int(number)))
            except ValueError:
                raise ValueError(f"difficulty levels: {part.strip()!r} is not RATE:MAXNUMBER (e.g. 0:100000)") from None
        return cls(levels=tuple(levels))

    def max_number(self, rate: float) -> int:
        chosen = self.levels[0][1]
        for threshold, number in self.levels:
            if rate >= threshold:
                chosen = number
        return chosen

    @property
    def highest(self) -> int:
        return self.levels[-1][1]


class ProofRefused(Exception):
    """A submission's proof of work is missing, not ours, expired or used.
    `code` is its error code (docs/formats.md, section 10)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class TableFull(Exception):
    """More live solutions than the table of used challenges holds."""


_SLOT = struct.Struct("<16sd")  # challenge id (16 bytes of its hash), expiry (Unix time)
_EXPIRY = struct.Struct("<d")
_BUCKET = struct.Struct("<qq")  # second, proofs verified in it
_BUCKETS = 16
_WINDOW = 10
_PROBES = 64


class SharedState:
    """The HMAC key, the used challenges and the recent-proof counts, in
    anonymous shared memory: made before gunicorn forks, every worker shares
    it. The table is open addressing over `slots` entries; an entry whose
    challenge has expired is free again, so it never needs sweeping."""

    def __init__(self, slots: int = 1 << 20) -> None:
        self.key = secrets.token_bytes(32)
        self.slots = slots
        self._buckets_size = _BUCKETS * _BUCKET.size
        # MAP_SHARED | MAP_ANONYMOUS; `_PROBES` spare entries at the end, so that no probe wraps around.
        self._memory = mmap.mmap(-1, self._buckets_size + (slots + _PROBES) * _SLOT.size)
        self._memory.write(bytes(len(self._memory)))  # fault every page in now, not one per claim later
        # A process-shared semaphore: it also serialises the threads of one process.
        self._lock: Any = multiprocessing.get_context("fork").Lock()

    def claim(self, challenge_id: bytes, expires: float, now: float) -> bool:
        """Record `challenge_id` as used until `expires`: True if it was not
        already, False if it was (a replay). Raises TableFull if no free entry
        is near its place."""
        if len(challenge_id) != 16:
            raise ValueError("a challenge id is 16 bytes")
        size = _SLOT.size
        first = self._buckets_size + int.from_bytes(challenge_id[:8], "little") % self.slots * size
        with self._lock:
            window = self._memory[first : first + _PROBES * size]
            # A scan in C for the id; only a match at an entry's start that has not expired is a replay.
            at = window.find(challenge_id)
            while at >= 0:
                if at % size == 0 and _EXPIRY.unpack_from(window, at + 16)[0] >= now:
                    return False
                at = window.find(challenge_id, at + 1)
            for index, (_seen, until) in enumerate(_SLOT.iter_unpack(window)):
                if until < now:
                    _SLOT.pack_into(self._memory, first + index * size, challenge_id, expires)
                    self._count(int(now))
                    return True
            raise TableFull

    def _count(self, second: int) -> None:
        offset = (second % _BUCKETS) * _BUCKET.size
        stamp, count = _BUCKET.unpack_from(self._memory, offset)
        _BUCKET.pack_into(self._memory, offset, second, count + 1 if stamp == second else 1)

    def rate(self, now: float) -> float:
        """Verified proofs per second over the last `_WINDOW` whole seconds."""
        second = int(now)
        total = 0
        with self._lock:
            for i in range(_BUCKETS):
                stamp, count = _BUCKET.unpack_from(self._memory, i * _BUCKET.size)
                if second - _WINDOW <= stamp < second:
                    total += count
        return total / _WINDOW


_installed: SharedState | None = None


def install_shared_state(state: SharedState | None = None) -> SharedState:
    """Make the state every app in this process (and in processes forked
    from it afterwards) will use; gunicorn's master calls it before forking."""
    global _installed  # noqa: PLW0603 - the one hand-over from gunicorn's master to its forked workers
    _installed = state or SharedState()
    return _installed


def _signed(key: bytes, payload: dict[str, Any]) -> bool:
    """Whether `payload` (its members already checked to be strings and an
    int) solves a challenge signed with `key`, as ALTCHA v1 defines it:
    SHA-256(salt, ending in the library's `&` delimiter, + number) is the
    challenge, and HMAC-SHA-256(key, challenge) its signature, both in hex.
    Both comparisons take constant time."""
    salt = payload["salt"] if payload["salt"].endswith("&") else payload["salt"] + "&"
    try:
        challenge = hashlib.sha256(f"{salt}{payload['number']}".encode()).hexdigest().encode()
        claimed_challenge, claimed_signature = payload["challenge"].encode(), payload["signature"].encode()
    except UnicodeEncodeError:  # a lone surrogate (JSON allows "\ud800"): no hex digest is one
        return False
    signature = hmac.digest(key, challenge, "sha256").hex().encode()
    right_challenge = hmac.compare_digest(challenge, claimed_challenge)
    return hmac.compare_digest(signature, claimed_signature) and right_challenge


def _expiry(salt: str) -> float | None:
    query = salt.partition("?")[2]
    for part in query.split("&"):
        name, _eq, value = part.partition("=")
        if name == "expires":
            return float(value) if value.isdigit() else None
    return None


class ProofOfWork:
    """Issues challenges and verifies solutions (see the module's docstring)."""

    def __init__(
        self,
        difficulty: Difficulty,
        state: SharedState | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.difficulty = difficulty
        self.state = state or _installed or SharedState(slots=1 << 16)
        self._clock = clock

    def challenge(self) -> dict[str, Any]:
        """A new challenge, as the ALTCHA widget's challenge URL returns it."""
        now = self._clock()
        made = create_challenge(
            ChallengeOptions(
                algorithm=_ALGORITHM,
                max_number=self.difficulty.max_number(self.state.rate(now)),
                hmac_key=self.state.key,
                expires=datetime.datetime.fromtimestamp(now + self.difficulty.expires, datetime.UTC),
            )
        )
        return dict(made.to_dict())

    def verify(self, environ: dict[str, Any]) -> None:
        """Accept the request's solution once, or raise ProofRefused."""
        header = environ.get(_ENVIRON_KEY)
        if not header:
            raise ProofRefused(
                "proof_of_work_required",
                f"send a solved challenge from GET {CHALLENGE_PATH} in the {HEADER} header"
                " (docs/formats.md, section 10)",
            )
        if len(header) > _MAX_HEADER:
            raise ProofRefused("proof_of_work_invalid", f"the {HEADER} header is too long to be a solution")
        try:
            payload = json.loads(base64.b64decode(header, validate=True))
        except ValueError:  # binascii.Error, JSONDecodeError and UnicodeDecodeError are ValueErrors
            payload = None
        good = (
            isinstance(payload, dict)
            and payload.get("algorithm") == _ALGORITHM
            and type(payload.get("number")) is int
            and all(isinstance(payload.get(name), str) for name in ("challenge", "salt", "signature"))
            and _signed(self.state.key, payload)
        )
        if not good:
            raise ProofRefused(
                "proof_of_work_invalid",
                f"the {HEADER} header is not a solution of a challenge this intake issued"
                f" (or one issued before it restarted): get a new one from GET {CHALLENGE_PATH}",
            ) from None
        assert isinstance(payload, dict)  # noqa: S101 - `good` says so; for mypy
        now = self._clock()
        expires = _expiry(payload["salt"])
        if expires is None or expires < now:
            raise ProofRefused(
                "proof_of_work_expired", f"the challenge has expired: get a new one from GET {CHALLENGE_PATH}"
            )
        try:
            fresh = self.state.claim(bytes.fromhex(payload["challenge"])[:16], expires, now)
        except TableFull:
            raise ProofRefused(
                "proof_of_work_busy", "too many challenges are in use right now: get a new one and try again shortly"
            ) from None
        if not fresh:
            raise ProofRefused(
                "proof_of_work_reused",
                f"this solution was used before: each challenge is good once; get a new one from GET {CHALLENGE_PATH}",
            )


def solve(challenge: dict[str, Any]) -> str:
    """The `X-Altcha` header value that solves `challenge` (as GET
    /api/v1/challenge returns it): for clients in Python (the demo, the
    benchmarks, tests). Raises ValueError if it has no solution."""
    found = solve_challenge(challenge["challenge"], challenge["salt"], _ALGORITHM, int(challenge["maxNumber"]))
    if found is None:
        raise ValueError("the challenge has no solution up to its maxNumber")
    payload = Payload(_ALGORITHM, challenge["challenge"], found.number, challenge["salt"], challenge["signature"])
    return payload.to_base64()
