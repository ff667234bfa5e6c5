"""Record linkage: one person per registrant, however often and however spelled they registered.

`names` folds spellings, `blocking` picks the pairs worth comparing, `dedup`
scores them and keeps each person's latest registration (docs/deduplication.md).

The names here are loaded on first use: the opening workers fold names with
`names` alone and should not pay for importing pandas and rapidfuzz.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .dedup import DedupResult, Person, find_duplicates, person_from_record
    from .names import normalise, phonetic, tokens

__all__ = ["DedupResult", "Person", "find_duplicates", "normalise", "person_from_record", "phonetic", "tokens"]

_HOME = {
    "DedupResult": "dedup",
    "Person": "dedup",
    "find_duplicates": "dedup",
    "person_from_record": "dedup",
    "normalise": "names",
    "phonetic": "names",
    "tokens": "names",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(import_module(f".{_HOME[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
