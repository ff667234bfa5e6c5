"""The JSON Schemas, reference lists and message catalogues: one source of
truth for the form, the browser, the keyholder's validation and the report.
Data only; `load` reads a JSON file, `catalogue` a language's messages.

The catalogues (`translations/<lang>/LC_MESSAGES/messages.po`, gettext) hold
the registrant page's strings and the published report's, so a language the
form speaks is a language its report can speak.
"""

from __future__ import annotations

import io
import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

__all__ = ["TRANSLATIONS_DIR", "catalogue", "load"]

TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"


@cache
def load(name: str) -> Any:
    """Return the parsed JSON file `name` shipped in this package."""
    return json.loads(resources.files(__name__).joinpath(name).read_text(encoding="utf-8"))


@cache
def catalogue(lang: str) -> Translations:
    """The gettext translations of `lang`, compiled in memory (no .mo file is written)."""
    po_path = TRANSLATIONS_DIR / lang / "LC_MESSAGES" / "messages.po"
    if not po_path.is_file():
        raise LookupError(f"no message catalogue for language {lang!r}")
    with po_path.open("rb") as po:
        catalog = read_po(po, locale=lang)
    mo = io.BytesIO()
    write_mo(mo, catalog, use_fuzzy=False)
    mo.seek(0)
    return Translations(mo, domain="messages")
