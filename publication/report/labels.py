"""The report's words, in any language of the form.

Category labels come from the same reference data as the registrant page:
country names from CLDR through Babel, every other code list (Kosovo's
municipalities by their official names, ISCED levels, ISCO groups...) from
`schemas/labels.json`. The report's own sentences are gettext messages in
the page's catalogues (`schemas/translations`), marked here with `_l` and in
the template with `_` so that `pybabel extract` finds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from babel import Locale

import schemas

from ..tables import NONE_TICKED, NOT_STATED

__all__ = ["DIMENSION_NAMES", "LANGUAGES", "TITLES", "gettext", "label", "labels", "title"]

LANGUAGES: tuple[str, ...] = tuple(schemas.load("labels.json")["languages"])
COUNTRY_DIMENSIONS = frozenset({"residence_country", "origin_country", "business_country", "association_country"})
_YES_NO_DIMENSIONS = frozenset({"trades_with_home", "invests_in_home"})


def _l(message: str) -> str:
    """Mark `message` for extraction; it is translated when the report is drawn."""
    return message


TITLES = {
    "residence_country": _l("Where the diaspora lives"),
    "origin_country": _l("Where the diaspora comes from"),
    "origin_municipality": _l("Municipality of origin (from Kosovo)"),
    "education_level": _l("Education"),
    "occupation": _l("Occupation (ISCO-08)"),
    "status": _l("Status"),
    "field_of_study": _l("Field of study"),
    "engagement": _l("How people offer to engage"),
    "age_band": _l("Age"),
    "sex": _l("Sex"),
    "emigration_reason": _l("Reason for emigrating"),
    "residence_country_by_status": _l("Country of residence by status"),
    "residence_country_by_education_level": _l("Country of residence by education"),
    # Households, businesses and associations (docs/formats.md section 13.4)
    "household_size": _l("Households by number of people"),
    "business_country_by_sector": _l("Businesses by country and sector (NACE Rev. 2)"),
    "business_size": _l("Businesses by size"),
    "business_trades_with_home": _l("Businesses that trade with the home country"),
    "business_invests_in_home": _l("Businesses that invest in the home country"),
    "association_country_by_field": _l("Associations by country and field"),
    "association_members": _l("Associations by number of members"),
}
DIMENSION_NAMES = {  # a cross-table's row heading
    "residence_country": _l("Country of residence"),
    "sector": _l("Sector (NACE Rev. 2)"),
    "field": _l("Field"),
}
_SPECIAL = {NOT_STATED: _l("not stated"), NONE_TICKED: _l("none")}
_YES_NO = {"yes": _l("yes"), "no": _l("no")}


def gettext(message: str, lang: str) -> str:
    """`message` in `lang` (English is the catalogues' source language)."""
    return str(schemas.catalogue(lang).gettext(message))


def title(table: str, lang: str) -> str:
    """The heading of a published table."""
    return gettext(TITLES[table], lang)


@cache
def _territories(lang: str) -> dict[str, str]:
    return dict(Locale.parse(lang).territories)


def label(dimension: str, code: str, lang: str) -> str:
    """The label of a category code in `lang`, as the registrant page words it.

    Raises KeyError for a code no reference list names: a report never shows
    an internal code in place of a name."""
    if code in _SPECIAL:
        return gettext(_SPECIAL[code], lang)
    if dimension in COUNTRY_DIMENSIONS:
        return _territories(lang)[code]
    if dimension in ("age_band", "household_size"):
        return code
    if dimension in _YES_NO_DIMENSIONS:
        return gettext(_YES_NO[code], lang)
    return str(schemas.load("labels.json")["fields"][dimension][code][lang])


def labels(dimension: str, code: str, langs: Sequence[str]) -> list[str]:
    """The label in each of `langs`, leaving out one that another already
    contains: "Prishtinë" beside "Prishtinë/Priština", or a word that is the
    same in both languages."""
    found = list(dict.fromkeys(label(dimension, code, lang) for lang in langs))
    parts = [set(text.split("/")) for text in found]
    return [text for i, text in enumerate(found) if not any(i != j and text in parts[j] for j in range(len(found)))]
