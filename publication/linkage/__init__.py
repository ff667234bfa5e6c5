"""Record linkage: one person per registrant, however often and however spelled they registered.

`names` folds spellings, `blocking` picks the pairs worth comparing, `dedup`
scores them and keeps each person's latest registration (docs/deduplication.md).
"""

from .dedup import DedupResult, Person, find_duplicates, person_from_record
from .names import normalise, phonetic, tokens

__all__ = ["DedupResult", "Person", "find_duplicates", "normalise", "person_from_record", "phonetic", "tokens"]
