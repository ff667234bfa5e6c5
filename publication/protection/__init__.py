"""Disclosure protection of the counted tables (docs/disclosure.md).

`suppression` finds and audits the cells to hide, `disclosure` applies the
rules and builds aggregates.json's object, `dp` adds optional differential-
privacy noise (loaded only when asked for: OpenDP is slow to import).
"""

from .disclosure import AGGREGATES_FORMAT, protect
from .suppression import ProtectionError

__all__ = ["AGGREGATES_FORMAT", "ProtectionError", "protect"]
