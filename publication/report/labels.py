"""Albanian and English labels for the categories shown in the report."""

from __future__ import annotations

from functools import cache

from babel import Locale

__all__ = ["TEXT", "label"]

_PAIRS: dict[str, dict[str, tuple[str, str]]] = {
    "status": {
        "employed": ("i punësuar", "employed"),
        "self_employed": ("i vetëpunësuar", "self-employed"),
        "student": ("student", "student"),
        "unemployed": ("i papunë", "unemployed"),
        "retired": ("pensionist", "retired"),
        "other": ("tjetër", "other"),
    },
    "education_level": {
        "isced0": ("parashkollor", "early childhood"),
        "isced1": ("fillor", "primary"),
        "isced2": ("i mesëm i ulët", "lower secondary"),
        "isced3": ("i mesëm i lartë", "upper secondary"),
        "isced4": ("pas të mesmes", "post-secondary"),
        "isced5": ("i lartë i shkurtër", "short-cycle tertiary"),
        "isced6": ("bachelor", "bachelor"),
        "isced7": ("master", "master"),
        "isced8": ("doktoraturë", "doctorate"),
    },
    "field_of_study": {
        "00": ("programe të përgjithshme", "generic programmes"),
        "01": ("edukim", "education"),
        "02": ("arte dhe shkenca humane", "arts and humanities"),
        "03": ("shkenca shoqërore", "social sciences"),
        "04": ("biznes, administratë, drejtësi", "business, administration, law"),
        "05": ("shkenca natyrore, matematikë", "natural sciences, mathematics"),
        "06": ("TIK", "ICT"),
        "07": ("inxhinieri, prodhim, ndërtim", "engineering, manufacturing, construction"),
        "08": ("bujqësi, pylltari, veterinari", "agriculture, forestry, veterinary"),
        "09": ("shëndetësi, mirëqenie", "health and welfare"),
        "10": ("shërbime", "services"),
    },
    "occupation": {
        "0": ("forcat e armatosura", "armed forces"),
        "1": ("drejtues", "managers"),
        "2": ("profesionistë", "professionals"),
        "3": ("teknikë", "technicians"),
        "4": ("nëpunës administrativë", "clerical support"),
        "5": ("shërbime dhe shitje", "service and sales"),
        "6": ("bujqësi, pylltari, peshkim", "agriculture, forestry, fishery"),
        "7": ("zejtarë", "craft and trades"),
        "8": ("operatorë makinerish", "machine operators"),
        "9": ("punë elementare", "elementary occupations"),
    },
    "sex": {
        "female": ("femër", "female"),
        "male": ("mashkull", "male"),
        "other": ("tjetër", "other"),
        "undisclosed": ("pa deklaruar", "undisclosed"),
    },
    "emigration_reason": {
        "work": ("punë", "work"),
        "family": ("familje", "family"),
        "education": ("arsimim", "education"),
        "economic": ("ekonomike", "economic"),
        "political": ("politike", "political"),
        "other": ("tjetër", "other"),
    },
    "engagement": {
        "investment": ("investime", "investment"),
        "knowledge_transfer": ("transferim njohurish", "knowledge transfer"),
        "volunteering": ("vullnetarizëm", "volunteering"),
        "mentoring": ("mentorim", "mentoring"),
        "business_partnership": ("partneritet biznesi", "business partnership"),
        "return": ("kthim", "return"),
        "none": ("asnjë", "none"),
    },
}
_COMMON = {"not_stated": ("pa përgjigje", "not stated")}

TEXT = {
    "title": ("Regjistri i Diasporës — shifrat", "Diaspora Registry — the numbers"),
    "registrants": ("të regjistruar", "registrants"),
    "residence_country": ("Ku jeton diaspora", "Where the diaspora lives"),
    "origin_country": ("Nga vjen diaspora", "Where the diaspora comes from"),
    "origin_municipality": ("Komuna e origjinës (nga Kosova)", "Municipality of origin (from Kosovo)"),
    "education_level": ("Arsimimi", "Education"),
    "occupation": ("Profesioni (ISCO-08)", "Occupation (ISCO-08)"),
    "status": ("Statusi", "Status"),
    "field_of_study": ("Fusha e studimit", "Field of study"),
    "engagement": ("Si dëshirojnë të kontribuojnë", "How people offer to engage"),
    "age_band": ("Mosha", "Age"),
    "sex": ("Gjinia", "Sex"),
    "emigration_reason": ("Arsyeja e emigrimit", "Reason for emigrating"),
    "residence_country_by_status": ("Vendi i banimit sipas statusit", "Country of residence by status"),
    "residence_country_by_education_level": ("Vendi i banimit sipas arsimimit", "Country of residence by education"),
    "no_breakdown": (
        "U regjistruan më pak se {n} persona; asnjë ndarje nuk publikohet, për t'i mbrojtur.",
        "Fewer than {n} people registered; no breakdown is published to protect them.",
    ),
    "withheld_tables": (
        "Këto tabela nuk publikohen, sepse shifrat e tyre të vogla nuk mund të mbrohen: {names}.",
        "These tables are not published, because their small counts could not be protected: {names}.",
    ),
    "suppressed": ("e fshehur", "suppressed"),
    "category": ("Kategoria", "Category"),
    "count": ("Numri", "Count"),
    "total": ("Gjithsej", "Total"),
    "protected": ("Si u mbrojtën këto shifra", "How these numbers were protected"),
    "engagement_note": (
        "Një person mund të zgjedhë disa mundësi, prandaj shumat nuk përputhen me totalin.",
        "A person may tick several options, so these do not add up to the total.",
    ),
    "top_note": (
        "Grafiku tregon {n} vendet më të mëdha; tabela i tregon të gjitha.",
        "The chart shows the {n} largest; the table lists all.",
    ),
}


@cache
def _territories(lang: str) -> dict[str, str]:
    return dict(Locale(lang).territories)


@cache
def _municipality(slug: str) -> str:
    return slug.replace("_", " ").title().replace("I ", "i ")


def label(dimension: str, code: str) -> tuple[str, str]:
    """(Albanian, English) label of a category code."""
    if code in _COMMON:
        return _COMMON[code]
    if dimension in ("residence_country", "origin_country"):
        return _territories("sq").get(code, code), _territories("en").get(code, code)
    if dimension == "origin_municipality":
        name = _municipality(code)
        return name, name
    if dimension == "age_band":
        return code, code
    return _PAIRS.get(dimension, {}).get(code, (code, code))
