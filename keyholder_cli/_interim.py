"""INTERIM de-duplication and tables, replaced by dedup.py / disclosure.py."""
from __future__ import annotations

import unicodedata
from collections import Counter
from datetime import date
from typing import Any


def fold(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def representatives(people: list[tuple[int, str, str, str, str]]) -> list[int]:
    latest: dict[tuple[str, str, str, str], int] = {}
    for i, (seq, given, family, born, origin) in enumerate(people):
        k = (fold(given), fold(family), born, origin)
        if k not in latest or people[latest[k]][0] < seq:
            latest[k] = i
    rep = [0] * len(people)
    for i, (_seq, given, family, born, origin) in enumerate(people):
        rep[i] = latest[(fold(given), fold(family), born, origin)]
    return rep


BANDS = ((17, "0-17"), (24, "18-24"), (34, "25-34"), (44, "35-44"), (54, "45-54"), (64, "55-64"))


def age_band(born: str, on: date) -> str:
    b = date.fromisoformat(born)
    age = on.year - b.year - ((on.month, on.day) < (b.month, b.day))
    for top, name in BANDS:
        if age <= top:
            return name
    return "65+"


def tables(rows: list[dict[str, Any]], on: date, min_cell: int) -> dict[str, Any]:
    one = ["residence_country", "origin_country", "origin_municipality", "status", "education_level",
           "field_of_study", "occupation", "sex", "age_band", "emigration_reason", "engagement"]
    out = []
    for dim in one:
        c: Counter[str] = Counter()
        for r in rows:
            v = age_band(r["birth_date"], on) if dim == "age_band" else r.get(dim)
            for x in (v if isinstance(v, tuple) else [v]):
                if x is not None:
                    c[x] += 1
        out.append({"name": dim, "dimensions": [dim], "cells": [{dim: k, "count": n if n >= min_cell else None} for k, n in sorted(c.items())]})
    for other in ("status", "education_level"):
        c2: Counter[tuple[str, str]] = Counter((r["residence_country"], r.get(other) or "not_stated") for r in rows)
        out.append({"name": f"residence_country_x_{other}", "dimensions": ["residence_country", other],
                    "cells": [{"residence_country": a, other: b, "count": n if n >= min_cell else None} for (a, b), n in sorted(c2.items())]})
    return {"format": "dvr-aggregates/1", "generated_on": on.isoformat(), "registrants": len(rows),
            "disclosure": {"min_cell": min_cell, "method": "interim"}, "tables": out}
