"""M-of-N custody of a master secret with SLIP-39 word shares.

All secret sharing is SatoshiLabs' `shamir-mnemonic` (the SLIP-39 reference
implementation); this module only chooses the parameters (one group, member
threshold M of N, no SLIP-39 passphrase) and turns its errors into ours.

Error messages never contain share words: the library's own messages quote
the first words of a share, so none of them is passed through. A share is
named by its position in the caller's list (`InvalidShare.position`), which
the caller maps to a file name or a prompt number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import shamir_mnemonic as slip39  # type: ignore[import-untyped]  # the package ships no type information
from shamir_mnemonic.wordlist import WORD_INDEX_MAP  # type: ignore[import-untyped]  # as above

from .errors import VaultError

__all__ = [
    "MAX_SHARES",
    "InvalidShare",
    "MismatchedShares",
    "NotEnoughShares",
    "Recovered",
    "ShareError",
    "ShareInfo",
    "SplitSecret",
    "combine_shares",
    "describe_share",
    "normalise_share",
    "split_secret",
]

MAX_SHARES = 16
MIN_THRESHOLD = 2
_SECRET_LEN = 32
_ITERATION_EXPONENT = 1  # SLIP-39's default; without a SLIP-39 passphrase it only sets the Feistel rounds' cost


class ShareError(VaultError):
    """A set of shares that does not give back a master secret."""


class InvalidShare(ShareError):
    """One share does not decode: a word outside the list, a wrong word count,
    or a failed checksum. `position` is its 0-based place in the input."""

    def __init__(self, position: int, reason: str) -> None:
        super().__init__(f"share #{position + 1} {reason}")
        self.position = position
        self.reason = reason


class NotEnoughShares(ShareError):
    def __init__(self, have: int, need: int) -> None:
        super().__init__(f"{have} share{'s' if have != 1 else ''} given, but this key needs {need}")
        self.have = have
        self.need = need


class MismatchedShares(ShareError):
    """Shares that do not belong together: another ceremony, another
    threshold, the same share twice, or an altered share. `position` names
    the first share that disagrees with the first one, when one does."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


@dataclass(frozen=True)
class ShareInfo:
    """The public metadata of one share. `number` is 1-based (SLIP-39 member
    index + 1); SLIP-39 does not record N, the number of shares made."""

    identifier: int
    number: int
    threshold: int


@dataclass(frozen=True)
class SplitSecret:
    identifier: int
    threshold: int
    shares: tuple[str, ...] = field(repr=False)


@dataclass(frozen=True)
class Recovered:
    master_secret: bytes = field(repr=False)
    identifier: int
    threshold: int
    numbers: tuple[int, ...]


def normalise_share(text: str) -> str:
    """Lower-case words separated by single spaces."""
    if not isinstance(text, str):
        raise TypeError("a share must be a str")
    return " ".join(text.lower().split())


def split_secret(master_secret: bytes, threshold: int, count: int) -> SplitSecret:
    """Split a 32-byte master secret into `count` SLIP-39 shares, any
    `threshold` of which recover it (one group, no SLIP-39 passphrase)."""
    if not isinstance(master_secret, bytes):
        raise TypeError("master secret must be bytes")
    if len(master_secret) != _SECRET_LEN:
        raise ValueError("master secret must be 32 bytes")
    if not MIN_THRESHOLD <= threshold <= count <= MAX_SHARES:
        raise ValueError(f"need {MIN_THRESHOLD} <= threshold <= shares <= {MAX_SHARES}")
    groups = slip39.generate_mnemonics(
        1, [(threshold, count)], master_secret, b"", extendable=True, iteration_exponent=_ITERATION_EXPONENT
    )
    shares = tuple(str(s) for s in groups[0])
    return SplitSecret(identifier=describe_share(shares[0]).identifier, threshold=threshold, shares=shares)


def _decode(text: str, position: int) -> slip39.Share:
    words = normalise_share(text).split()
    if not words:
        raise InvalidShare(position, "is empty")
    for i, word in enumerate(words):
        if word not in WORD_INDEX_MAP:
            raise InvalidShare(position, f"has word {i + 1} outside the SLIP-39 word list (mistyped?)")
    try:
        share = slip39.Share.from_mnemonic(" ".join(words))
    except slip39.MnemonicError:
        raise InvalidShare(
            position, f"does not check out ({len(words)} words): a word is mistyped, missing or out of order"
        ) from None
    if share.group_count != 1 or share.group_threshold != 1:
        raise InvalidShare(position, "is a multi-group SLIP-39 share, not one made by a Diaspora Registry ceremony")
    return share


def describe_share(text: str, position: int = 0) -> ShareInfo:
    """Check one share's words and checksum; return its public metadata."""
    share = _decode(text, position)
    return ShareInfo(identifier=share.identifier, number=share.index + 1, threshold=share.member_threshold)


def combine_shares(shares: Sequence[str]) -> Recovered:
    """Recover the master secret from at least a threshold of shares.

    Every share given is decoded and checked; exactly `threshold` of them
    (the first ones) are combined, and SLIP-39's digest then confirms the
    result. Raises InvalidShare, NotEnoughShares or MismatchedShares.
    """
    if isinstance(shares, str):
        raise TypeError("shares must be a sequence of str, not one str")
    decoded = [_decode(text, i) for i, text in enumerate(shares)]
    if not decoded:
        raise NotEnoughShares(0, MIN_THRESHOLD)
    first = decoded[0]
    seen: dict[int, int] = {}
    for i, share in enumerate(decoded):
        if share.identifier != first.identifier:
            raise MismatchedShares(
                f"share #{i + 1} comes from another ceremony than share #1"
                f" (SLIP-39 identifier {share.identifier}, not {first.identifier})",
                i,
            )
        if share.group_parameters() != first.group_parameters():
            raise MismatchedShares(f"share #{i + 1} was made with other parameters than share #1", i)
        if share.index in seen:
            again = seen[share.index] + 1
            raise MismatchedShares(f"share #{i + 1} is share number {share.index + 1} again, as share #{again} was", i)
        seen[share.index] = i
    need = first.member_threshold
    if len(decoded) < need:
        raise NotEnoughShares(len(decoded), need)
    quorum = decoded[:need]
    group = slip39.shamir.ShareGroup()
    for share in quorum:
        group.add(share)
    try:
        master = slip39.recover_ems({0: group}).decrypt(b"")
    except slip39.MnemonicError:
        raise MismatchedShares(
            "the shares do not combine (SLIP-39 digest check failed): they come from different ceremonies"
            " or one was altered"
        ) from None
    return Recovered(
        master_secret=bytes(master),
        identifier=first.identifier,
        threshold=need,
        numbers=tuple(s.index + 1 for s in quorum),
    )
