"""Regenerate schemas/countries.json and schemas/languages.json from CLDR (Babel).

Only the codes are committed; localised names are looked up from Babel at
render time. Run: .venv/bin/python scripts/gen_reference_lists.py
"""

import json
from pathlib import Path

from babel import Locale

# CLDR territory codes that are not ISO 3166-1 alpha-2 country codes
# (exceptionally reserved or user-assigned codes, and groupings).
NOT_COUNTRIES = {"AC", "CP", "CQ", "DG", "EA", "IC", "TA", "EU", "EZ", "QO", "UN", "XA", "XB", "ZZ"}

OUT = Path(__file__).resolve().parent.parent / "schemas"


def main() -> None:
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
    print(len(countries), "countries,", len(languages), "languages")


if __name__ == "__main__":
    main()
