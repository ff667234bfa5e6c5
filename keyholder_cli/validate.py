"""Validation of opened submissions against `schemas/registration.schema.json`.

The schema is compiled once per process with fastjsonschema (the hot path:
about 10x faster than interpreting it); tests check that it agrees with
the reference `jsonschema` validator. Two rules a static schema cannot say
are checked here: the birth date is after 1900-01-01 and not in the future,
and the emigration year is not after this year.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import date
from typing import Any

import fastjsonschema

import schemas

__all__ = ["InvalidSubmission", "SUBMISSION_SCHEMA", "compile_validator", "parse_submission"]

SUBMISSION_SCHEMA = "dvr-registration/1"
LANGS = frozenset({"sq", "en", "sr", "de"})
_DATE = r"^\d{4}-\d{2}-\d{2}$"


class InvalidSubmission(ValueError):
    """An envelope that opened but does not hold a valid registration."""


_LARGE_ENUM = 40


def _schema_for_fastjsonschema() -> tuple[dict[str, Any], dict[str, Any]]:
    """The registration schema, prepared for fastjsonschema.

    fastjsonschema implements draft-07; the schema uses no keyword whose
    meaning differs between draft-07 and 2020-12. Its generated code checks
    an `enum` by scanning a tuple, which for the 250 countries costs more
    than the decryption; large enums in `$defs` become a custom format
    backed by a frozenset, with the same meaning.
    """
    schema = copy.deepcopy(schemas.load("registration.schema.json"))
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    schema["dependencies"] = schema.pop("dependentSchemas")  # draft-07's name for the same keyword
    formats: dict[str, Any] = {"date": _DATE, "email": r"^[^@\s]+@[^@\s]+$"}
    defs = schema.pop("$defs")
    for name, definition in defs.items():
        values = definition.get("enum")
        if values is not None and len(values) > _LARGE_ENUM and all(isinstance(v, str) for v in values):
            members = frozenset(values)
            formats[f"dvr-{name}"] = members.__contains__
            defs[name] = {"type": "string", "format": f"dvr-{name}"}
    # Inline the (now small) definitions: the generated code pays for every
    # $ref with a function call and a formatted error path per array item.
    return _inline_refs(schema, defs), formats


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and len(node) == 1:
            return _inline_refs(copy.deepcopy(defs[ref.removeprefix("#/$defs/")]), defs)
        return {k: _inline_refs(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


def compile_validator() -> Callable[[Any], Any]:
    schema, formats = _schema_for_fastjsonschema()
    return fastjsonschema.compile(schema, formats=formats, use_default=False)


def _check_dates(record: dict[str, Any], today: date) -> None:
    try:
        born = date.fromisoformat(record["birth_date"])
    except ValueError:
        raise InvalidSubmission("birth_date is not a calendar date") from None
    if born <= date(1900, 1, 1) or born > today:
        raise InvalidSubmission("birth_date is outside 1900-01-02 .. today")
    year = record.get("emigration_year")
    if year is not None and year > today.year:
        raise InvalidSubmission("emigration_year is in the future")


def parse_submission(plaintext: bytes, validator: Callable[[Any], Any], today: date) -> dict[str, Any]:
    """Return the record of a valid submission; raise InvalidSubmission."""
    try:
        obj = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidSubmission("the submission is not UTF-8 JSON") from None
    if not isinstance(obj, dict) or set(obj) != {"schema", "lang", "record"}:
        raise InvalidSubmission("the submission is not a {schema, lang, record} object")
    if obj["schema"] != SUBMISSION_SCHEMA or obj["lang"] not in LANGS:
        raise InvalidSubmission("unknown submission schema or language")
    record = obj["record"]
    try:
        validator(record)
    except fastjsonschema.JsonSchemaException as exc:
        raise InvalidSubmission(f"the record fails the schema: {exc.message}") from None
    _check_dates(record, today)
    return dict(record)
