"""Validation of opened submissions against `schemas/registration.schema.json`.

The schema is compiled once per process with jsonschema-rs (a Rust
implementation of JSON Schema 2020-12, chosen for speed: docs/performance.md);
tests check that it agrees with the reference validator. The two formats the schema
names are checked as the reference checks them, so the two agree exactly.
Two rules a static schema cannot say are checked here: the birth date is
after 1900-01-01 and not in the future, and the emigration year is not
after this year.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

import jsonschema_rs
import orjson

import schemas

__all__ = ["InvalidSubmission", "SUBMISSION_SCHEMA", "compile_validator", "parse_submission"]

SUBMISSION_SCHEMA = "dvr-registration/1"
LANGS = frozenset({"sq", "en", "sr", "de"})
_MEMBERS = frozenset({"schema", "lang", "record"})
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


class InvalidSubmission(ValueError):
    """An envelope that opened but does not hold a valid registration."""


def _is_date(text: str) -> bool:
    """`format: date` as the reference `jsonschema.FormatChecker` reads it."""
    if not _DATE.fullmatch(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _is_email(text: str) -> bool:
    """`format: email` as the reference reads it; the schema's pattern says the rest."""
    return "@" in text


def compile_validator() -> Callable[[Any], Any]:
    """A callable that raises InvalidSubmission for a record that fails the schema."""
    validator = jsonschema_rs.validator_for(
        schemas.load("registration.schema.json"),
        formats={"date": _is_date, "email": _is_email},
        validate_formats=True,
    )
    is_valid = validator.is_valid

    def validate(record: Any) -> None:
        if not is_valid(record):
            first = next(validator.iter_errors(record), None)
            raise InvalidSubmission(f"the record fails the schema: {first.message if first else 'invalid'}")

    return validate


def _check_dates(record: dict[str, Any], today: date) -> None:
    try:
        born = date.fromisoformat(record["birth_date"])
    except ValueError:  # the schema's format already refuses these; kept for a validator passed in
        raise InvalidSubmission("birth_date is not a calendar date") from None
    if born <= date(1900, 1, 1) or born > today:
        raise InvalidSubmission("birth_date is outside 1900-01-02 .. today")
    year = record.get("emigration_year")
    if year is not None and year > today.year:
        raise InvalidSubmission("emigration_year is in the future")


def parse_submission(plaintext: bytes, validator: Callable[[Any], Any], today: date) -> dict[str, Any]:
    """Return the record of a valid submission; raise InvalidSubmission.

    orjson parses strict JSON (RFC 8259): it refuses NaN, Infinity, lone
    surrogates and invalid UTF-8, which the standard library would let in.
    """
    try:
        obj = orjson.loads(plaintext)
    except orjson.JSONDecodeError:
        raise InvalidSubmission("the submission is not UTF-8 JSON") from None
    if type(obj) is not dict or obj.keys() != _MEMBERS:
        raise InvalidSubmission("the submission is not a {schema, lang, record} object")
    if obj["schema"] != SUBMISSION_SCHEMA or obj["lang"] not in LANGS:
        raise InvalidSubmission("unknown submission schema or language")
    record = obj["record"]
    validator(record)
    _check_dates(record, today)
    return record  # type: ignore[no-any-return]
