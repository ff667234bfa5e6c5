"""In-memory rate limits per client, keyed by a keyed hash of its address.

ARCHITECTURE.md invariant 1: only this limiter may read a client's address,
and only as a keyed hash under a key that changes every day and is never
written down. The key is random, made in memory when the day (UTC) begins
or the process starts; when the day changes the key and every counter are
dropped together, so yesterday's hashes cannot be recomputed by anyone.
Neither the address nor its hash is logged, stored or returned: `check()`
answers only how long the client must wait.

Each client has a token bucket: `burst` submissions at once, then one more
every `1 / per_second` seconds. Under gunicorn the buckets and the day's key
live in anonymous shared memory made by the master before it forks
(`SharedBuckets`, `install_shared_buckets`), so every worker counts the same
client against one bucket; a single process keeps them in a dict. An IPv6 client is counted by its /64 (one
household or phone is given a whole /64, so its addresses are one client);
an IPv4 client by its address. A request with no readable address (a proxy
that passed none) is not limited: the intake then warns once, without the
value, so the operator can fix the proxy (docs/operations.md).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import ipaddress
import logging
import math
import mmap
import multiprocessing
import secrets
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["RateLimiter", "RateLimits", "SharedBuckets", "client_bytes", "install_shared_buckets"]


@dataclass(frozen=True)
class RateLimits:
    """The limit per client: `burst` at once, then `per_second` (docs/operations.md)."""

    burst: int = 20
    per_second: float = 1 / 3
    # Counters kept at most; past it the least recently seen client is forgotten.
    max_clients: int = 200_000

    def __post_init__(self) -> None:
        if self.burst < 1 or self.per_second <= 0 or self.max_clients < 1:
            raise ValueError("rate limits: burst and max_clients must be at least 1, per_second above 0")


def client_bytes(address: str) -> bytes | None:
    """The bytes a client is counted by: an IPv4 address, or an IPv6 /64
    (an IPv4-mapped IPv6 address counts as its IPv4 address); None for text
    that is not an address."""
    try:
        ip = ipaddress.ip_address(address.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped.packed
        return b"6" + ip.packed[:8]
    return ip.packed


def _utc_day() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


_HEADER = struct.Struct("<q32s")  # the day (proleptic ordinal) and that day's key
_ENTRY = struct.Struct("<16sdd")  # keyed hash (all zero: free), tokens left, when they were counted
_PROBES = 16


class SharedBuckets:
    """The token buckets and the day's key in anonymous shared memory
    (MAP_SHARED | MAP_ANONYMOUS, never a file): an open-addressing table of
    `max_clients` entries (rounded up to a power of two) behind one
    process-shared lock. A client is looked for among `_PROBES` entries from
    its place; a new one takes a free entry there, else one that has
    refilled, else the one seen longest ago (which then starts again at its
    full burst, as a client forgotten by the in-process table does)."""

    def __init__(self, max_clients: int) -> None:
        self.slots = 1 << max(4, (max_clients - 1).bit_length())
        self._memory = mmap.mmap(-1, _HEADER.size + (self.slots + _PROBES) * _ENTRY.size)
        self._memory.write(bytes(len(self._memory)))  # fault the pages in now, not one per new client
        self.lock: Any = multiprocessing.get_context("fork").Lock()

    def day_and_key(self) -> tuple[int, bytes]:
        day, key = _HEADER.unpack_from(self._memory, 0)
        return int(day), bytes(key)

    def start_day(self, day: int) -> bytes:
        """A new day: a new key and no counters (call under `lock`)."""
        key = secrets.token_bytes(32)
        self._memory[_HEADER.size :] = bytes(len(self._memory) - _HEADER.size)
        _HEADER.pack_into(self._memory, 0, day, key)
        return key

    def _window(self, tag: bytes) -> int:
        return _HEADER.size + int.from_bytes(tag[:8], "little") % self.slots * _ENTRY.size

    def get(self, tag: bytes) -> tuple[float, float] | None:
        first = self._window(tag)
        window = self._memory[first : first + _PROBES * _ENTRY.size]
        at = window.find(tag)
        while at >= 0:
            if at % _ENTRY.size == 0:
                _tag, tokens, then = _ENTRY.unpack_from(window, at)
                return float(tokens), float(then)
            at = window.find(tag, at + 1)
        return None

    def put(self, tag: bytes, tokens: float, then: float, refill: float) -> None:
        first = self._window(tag)
        size = _ENTRY.size
        entries = list(_ENTRY.iter_unpack(self._memory[first : first + _PROBES * size]))
        mine = [i for i, (seen, _t, _w) in enumerate(entries) if seen == tag]
        free = [i for i, (seen, _t, when) in enumerate(entries) if not any(seen) or then - when >= refill]
        index = (mine or free or [min(range(_PROBES), key=lambda i: entries[i][2])])[0]
        _ENTRY.pack_into(self._memory, first + index * size, tag, tokens, then)

    def __len__(self) -> int:
        return sum(any(seen) for seen, _t, _w in _ENTRY.iter_unpack(self._memory[_HEADER.size :]))


_installed: SharedBuckets | None = None


def install_shared_buckets(limits: RateLimits | None = None) -> SharedBuckets:
    """Make the buckets every limiter in this process (and in processes
    forked from it afterwards) will use; gunicorn's master calls it before
    forking."""
    global _installed  # noqa: PLW0603 - the one hand-over from gunicorn's master to its forked workers
    _installed = SharedBuckets((limits or RateLimits()).max_clients)
    return _installed


class RateLimiter:
    """Token buckets, one per keyed hash of a client's address: in the
    buckets gunicorn's master shared (`install_shared_buckets`) when there
    are some, else in this process's memory."""

    def __init__(
        self,
        limits: RateLimits,
        clock: Callable[[], float] = time.monotonic,
        today: Callable[[], datetime.date] = _utc_day,
        address_header: str | None = None,
        logger: logging.Logger | None = None,
        shared: SharedBuckets | None = None,
    ) -> None:
        self.limits = limits
        # Where the address is: the socket's peer, or the header a trusted proxy sets (and overwrites).
        self._address_key = f"HTTP_{address_header.upper().replace('-', '_')}" if address_header else "REMOTE_ADDR"
        self._logger = logger or logging.getLogger(__name__)
        self._warned = False
        self._clock = clock
        self._today = today
        self._shared = shared if shared is not None else _installed
        self._lock: Any = self._shared.lock if self._shared is not None else threading.Lock()
        self._day = today()
        self._key = secrets.token_bytes(32)
        if self._shared is not None:
            with self._lock:
                day, key = self._shared.day_and_key()
                self._key = key if day == self._day.toordinal() else self._shared.start_day(self._day.toordinal())
        # keyed hash -> (tokens left, when they were counted); oldest first (in-process only).
        self._buckets: OrderedDict[bytes, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._shared) if self._shared is not None else len(self._buckets)

    def _roll_key(self) -> None:
        day = self._today()
        if self._shared is not None:
            # Another worker may have started the day already: take its key.
            shared_day, key = self._shared.day_and_key()
            if shared_day != day.toordinal():
                key = self._shared.start_day(day.toordinal())
            self._day, self._key = day, key
        elif day != self._day:
            self._day = day
            self._key = secrets.token_bytes(32)
            self._buckets.clear()

    def check_request(self, environ: dict[str, Any]) -> float | None:
        """`check` for a WSGI request: the one place the intake reads a
        client's address. A request without one is not limited; the first
        such request is reported once, without any value from the request."""
        address = environ.get(self._address_key) or ""
        if not address and not self._warned:
            self._warned = True
            where = "no peer address" if self._address_key == "REMOTE_ADDR" else "the proxy's header is missing"
            self._logger.warning(
                "rate limits: a submission came with no client address (%s); such submissions are not limited"
                " (docs/operations.md, section 8)",
                where,
            )
        return self.check(address)

    def check(self, address: str) -> float | None:
        """Count one request from `address`: None if it may go on, else the
        seconds until it may (at least 1). Unreadable addresses are not limited."""
        who = client_bytes(address)
        if who is None:
            return None
        limits = self.limits
        now = self._clock()
        with self._lock:
            self._roll_key()
            tag = hmac.digest(self._key, who, hashlib.sha256)[:16]
            if self._shared is not None:
                tokens, then = self._shared.get(tag) or (float(limits.burst), now)
            else:
                tokens, then = self._buckets.pop(tag, (float(limits.burst), now))
            tokens = min(float(limits.burst), tokens + (now - then) * limits.per_second)
            if tokens >= 1.0:
                tokens -= 1.0
                wait = None
            else:
                wait = max(1.0, math.ceil((1.0 - tokens) / limits.per_second))
            if self._shared is not None:
                self._shared.put(tag, tokens, now, limits.burst / limits.per_second)
            else:
                self._buckets[tag] = (tokens, now)
                while len(self._buckets) > limits.max_clients:
                    self._buckets.popitem(last=False)
                self._forget_full(now)
        return wait

    def _forget_full(self, now: float) -> None:
        """Drop the oldest counters that have refilled (a client back to its
        full burst is the same as one never seen), a few per call."""
        refill = self.limits.burst / self.limits.per_second
        for _ in range(2):
            if not self._buckets:
                return
            tag, (_tokens, then) = next(iter(self._buckets.items()))
            if now - then < refill:
                return
            del self._buckets[tag]
