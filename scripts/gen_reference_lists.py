"""Regenerate schemas/countries.json and schemas/languages.json from CLDR (Babel),
and the two registration schemas from their templates.

Only the codes are committed; localised names are looked up from Babel at
render time. The record kinds schema (dvr-registration/2) takes the
individual's members and code lists from the version 1 schema, so the two
cannot drift apart. Run: .venv/bin/python scripts/gen_reference_lists.py
(`--kinds-only` rebuilds only registration-kinds.schema.json).
"""

import copy
import json
import sys
from pathlib import Path
from typing import Any

from babel import Locale

# CLDR territory codes that are not ISO 3166-1 alpha-2 country codes
# (exceptionally reserved or user-assigned codes, and groupings).
NOT_COUNTRIES = {"AC", "CP", "CQ", "DG", "EA", "IC", "TA", "EU", "EZ", "QO", "UN", "XA", "XB", "ZZ"}

OUT = Path(__file__).resolve().parent.parent / "schemas"


def build_kinds(v1: dict[str, Any], template: dict[str, Any], nace: dict[str, Any]) -> dict[str, Any]:
    """The record kinds schema: the template with the household's person members,
    the consent object and the shared code lists copied from the version 1 schema."""
    out = copy.deepcopy(template)
    defs = out["$defs"]
    household = defs["household"]
    own = household["properties"]
    household["properties"] = {**copy.deepcopy(v1["properties"]), **own}
    household["required"] = [*v1["required"], *household["required"]]
    household["dependentSchemas"] = copy.deepcopy(v1["dependentSchemas"])
    defs["consent"] = copy.deepcopy(v1["properties"]["consent"])
    defs["sector"]["enum"] = list(nace["codes"])
    for name in ("country", "residence_country", "language", "municipality"):
        defs[name] = copy.deepcopy(v1["$defs"][name])
    return out


def write_kinds() -> None:
    v1 = json.loads((OUT / "registration.schema.json").read_text())
    template = json.loads((OUT / "registration-kinds.schema.template.json").read_text())
    nace = json.loads((OUT / "nace_sections.json").read_text())
    kinds = build_kinds(v1, template, nace)
    (OUT / "registration-kinds.schema.json").write_text(json.dumps(kinds, indent=2, ensure_ascii=False) + "\n")


def main() -> None:
    if "--kinds-only" in sys.argv[1:]:
        write_kinds()
        return
    en = Locale("en")
    countries = sorted(c for c in en.territories if len(c) == 2 and c.isalpha() and c not in NOT_COUNTRIES)
    languages = sorted(code for code in en.languages if len(code) == 2 and code.isalpha())
    (OUT / "countries.json").write_text(
        json.dumps({"source": "CLDR via Babel; XK is Kosovo", "codes": countries}, indent=1) + "\n"
    )
    (OUT / "languages.json").write_text(
        json.dumps({"source": "ISO 639-1 codes known to CLDR via Babel", "codes": languages}, indent=1) + "\n"
    )
    template = json.loads((OUT / "registration.schema.template.json").read_text())
    template["$defs"]["country"]["enum"] = countries
    template["$defs"]["language"]["enum"] = languages
    template["$defs"]["residence_country"]["enum"] = [c for c in countries if c != "XK"]
    (OUT / "registration.schema.json").write_text(json.dumps(template, indent=2, ensure_ascii=False) + "\n")
    write_kinds()
    print(len(countries), "countries,", len(languages), "languages")


if __name__ == "__main__":
    main()
