"""In-memory rate limits per client, keyed by a keyed hash of its address.

ARCHITECTURE.md invariant 1: only this limiter may read a client's address,
and only as a keyed hash under a key that changes every day and is never
written down. The key is random, made in memory when the day (UTC) begins
or the process starts; when the day changes the key and every counter are
dropped together, so yesterday's hashes cannot be recomputed by anyone.
Neither the address nor its hash is logged, stored or returned: `check()`
answers only how long the client must wait.

Each client has a token bucket: `burst` submissions at once, then one more
every `1 / per_second` seconds. An IPv6 client is counted by its /64 (one
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
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["RateLimiter", "RateLimits", "client_bytes"]


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


class RateLimiter:
    """Token buckets in memory, one per keyed hash of a client's address."""

    def __init__(
        self,
        limits: RateLimits,
        clock: Callable[[], float] = time.monotonic,
        today: Callable[[], datetime.date] = _utc_day,
        address_header: str | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.limits = limits
        # Where the address is: the socket's peer, or the header a trusted proxy sets (and overwrites).
        self._address_key = f"HTTP_{address_header.upper().replace('-', '_')}" if address_header else "REMOTE_ADDR"
        self._logger = logger or logging.getLogger(__name__)
        self._warned = False
        self._clock = clock
        self._today = today
        self._lock = threading.Lock()
        self._day = today()
        self._key = secrets.token_bytes(32)
        # keyed hash -> (tokens left, when they were counted); oldest first.
        self._buckets: OrderedDict[bytes, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def _roll_key(self) -> None:
        day = self._today()
        if day != self._day:
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
            tokens, then = self._buckets.pop(tag, (float(limits.burst), now))
            tokens = min(float(limits.burst), tokens + (now - then) * limits.per_second)
            if tokens >= 1.0:
                self._buckets[tag] = (tokens - 1.0, now)
                wait = None
            else:
                self._buckets[tag] = (tokens, now)
                wait = max(1.0, math.ceil((1.0 - tokens) / limits.per_second))
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
