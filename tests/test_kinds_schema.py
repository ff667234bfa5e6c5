"""The record kinds schema of dvr-registration/2 (docs/formats.md section 13):
generated from the version 1 schema without drift, accepting each kind and
refusing what section 13 refuses, with a label for every code in every page
language."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from support import VALID_RECORD

import schemas

ROOT = Path(__file__).resolve().parent.parent
KINDS = schemas.load("registration-kinds.schema.json")
V1 = schemas.load("registration.schema.json")
CHECKER = jsonschema.FormatChecker()
REFERENCE = jsonschema.Draft202012Validator(KINDS, format_checker=CHECKER)

MEMBER = {"given_name": "Drita", "family_name": "Krasniqi", "birth_date": "2015-06-01", "sex": "female",
          "relationship": "child"}  # fmt: skip
CONTACT = {"given_name": "Besnik", "family_name": "Gashi", "email": "besnik@example.org"}
CONSENT = {"processing": True, "contact": True}
HOUSEHOLD: dict[str, Any] = {**VALID_RECORD, "kind": "household", "members": [MEMBER]}
BUSINESS: dict[str, Any] = {"kind": "business", "country": "DE", "sector": "F", "size": "small",
                            "trades_with_home": True, "invests_in_home": False, "contact": CONTACT,
                            "consent": CONSENT}  # fmt: skip
ASSOCIATION: dict[str, Any] = {"kind": "association", "country": "CH", "field": "culture", "members_band": "50-199",
                               "contact": CONTACT, "consent": CONSENT}  # fmt: skip


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("gen_reference_lists", ROOT / "scripts" / "gen_reference_lists.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_schema_is_the_template_built_from_version_1():
    template = json.loads((ROOT / "schemas" / "registration-kinds.schema.template.json").read_text())
    built = _generator().build_kinds(V1, template, schemas.load("nace_sections.json"))
    assert built == KINDS, "run scripts/gen_reference_lists.py --kinds-only"
    household = KINDS["$defs"]["household"]
    # The household's registrant answers exactly what an individual answers, plus kind and members.
    assert set(household["properties"]) == set(V1["properties"]) | {"kind", "members"}
    assert set(household["required"]) == set(V1["required"]) | {"kind", "members"}
    assert KINDS["$defs"]["residence_country"] == V1["$defs"]["residence_country"]


def test_nace_sections_are_the_21_letters():
    nace = schemas.load("nace_sections.json")
    assert nace["codes"] == [chr(c) for c in range(ord("A"), ord("U") + 1)]
    assert set(nace["titles"]) == set(nace["codes"])
    assert KINDS["$defs"]["sector"]["enum"] == nace["codes"]


@pytest.mark.parametrize("record", [HOUSEHOLD, BUSINESS, ASSOCIATION], ids=["household", "business", "association"])
def test_each_kind_is_valid(record):
    REFERENCE.validate(record)


def _changed(record: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(record)
    *parents, last = path.split(".")
    target: Any = out
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return out


@pytest.mark.parametrize(
    ("record", "path", "value"),
    [
        (HOUSEHOLD, "members", []),  # a household has at least one other person
        (HOUSEHOLD, "members", [MEMBER] * 21),  # at most 20
        (HOUSEHOLD, "members.0.relationship", KeyError),
        (HOUSEHOLD, "members.0.relationship", "cousin"),
        (HOUSEHOLD, "members.0.residence_country", "FR"),  # residence is the household's
        (HOUSEHOLD, "members.0.birth_date", "2015-13-01"),
        (HOUSEHOLD, "status", KeyError),  # the registrant answers as an individual does
        (HOUSEHOLD, "origin_country", "AL"),  # municipality only with Kosovo, as in version 1
        (HOUSEHOLD, "kind", "individual"),  # an individual has no kind at all
        (BUSINESS, "sector", "V"),
        (BUSINESS, "sector", "a"),
        (BUSINESS, "country", "XK"),  # the diaspora lives abroad
        (BUSINESS, "size", "tiny"),
        (BUSINESS, "trades_with_home", "yes"),
        (BUSINESS, "contact.email", "no-at-sign"),
        (BUSINESS, "contact.email", KeyError),
        (BUSINESS, "consent.processing", False),
        (BUSINESS, "members", [MEMBER]),  # no members of another kind
        (BUSINESS, "given_name", "Besnik"),  # the contact's name only inside contact
        (ASSOCIATION, "field", "politics"),
        (ASSOCIATION, "members_band", "0"),
        (ASSOCIATION, "contact", KeyError),
        (ASSOCIATION, "sector", "F"),
    ],
)
def test_what_section_13_refuses(record, path, value):
    assert not REFERENCE.is_valid(_changed(record, path, value))


def test_a_version_1_record_is_not_a_kind():
    assert not REFERENCE.is_valid(VALID_RECORD)


def _enums(schema: Any, name: str = "") -> dict[str, list[str]]:
    """Every enum of the kinds' own answers, by member name."""
    found: dict[str, list[str]] = {}
    if isinstance(schema, dict):
        if "enum" in schema and isinstance(schema["enum"], list) and name:
            found[name] = schema["enum"]
        for key, value in schema.items():
            found.update(_enums(value, key if key not in ("properties", "items") else name))
    return found


def test_every_code_of_the_kinds_has_a_label_in_every_page_language():
    labels = schemas.load("labels.json")
    langs = labels["languages"]
    own = {"sector": KINDS["$defs"]["sector"]["enum"]}
    for kind in ("member", "business", "association"):
        for name, prop in KINDS["$defs"][kind]["properties"].items():
            if "enum" in prop and name != "sex":
                own[name] = prop["enum"]
    assert set(own) == {"relationship", "size", "field", "members_band", "sector"}
    for name, codes in own.items():
        table = labels["fields"][name]
        assert list(table) == codes, name
        for code in codes:
            assert all(table[code][lang].strip() for lang in langs), (name, code)
