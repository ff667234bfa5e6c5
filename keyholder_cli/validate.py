"""Validation of opened submissions against `schemas/registration.schema.json`.

The schema is compiled once per process with jsonschema-rs (a Rust
implementation of JSON Schema 2020-12, chosen for speed: docs/performance.md);
tests check that it agrees with the reference validator. The two formats the schema
names are checked as the reference checks them, so the two agree exactly.
Two rules a static schema cannot say are checked here: the birth date is
after 1900-01-01 and not in the future, and the emigration year is not
after this year.

Version 2 submissions (`dvr-registration/2`, docs/formats.md section 12)
carry the registrant's control member, `registrant`, beside the version 1
record, or are a withdrawal (`{"kind": "withdrawal", "registrant": ...}`).
`parse_any` says which, with the control id the keyholder groups by.
A version 2 record may also be a household, a business or an association
(`kind`, docs/formats.md section 13), checked against
`schemas/registration-kinds.schema.json`; a record without `kind` is an
individual, exactly as in version 1.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import jsonschema_rs
import orjson

import schemas

__all__ = [
    "CORRECTION",
    "FIRST",
    "InvalidSubmission",
    "Parsed",
    "SUBMISSION_SCHEMA",
    "SUBMISSION_SCHEMA_2",
    "WITHDRAWAL",
    "KINDS",
    "compile_kinds_validator",
    "compile_validator",
    "parse_any",
    "parse_submission",
]

SUBMISSION_SCHEMA = "dvr-registration/1"
SUBMISSION_SCHEMA_2 = "dvr-registration/2"
# What a version 2 submission does with its registrant's control value.
FIRST, CORRECTION, WITHDRAWAL = 0, 1, 2
ID_BYTES = 16  # the part of the control id kept per submission to group by (docs/formats.md 12.3)
LANGS = frozenset({"sq", "en", "sr", "de"})
_MEMBERS = frozenset({"schema", "lang", "record"})
# The record kinds of docs/formats.md section 13 (an individual has no `kind`).
KINDS = ("household", "business", "association")
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


def compile_kinds_validator() -> Callable[[Any], Any]:
    """A callable that raises InvalidSubmission for a household, business or
    association record that fails `registration-kinds.schema.json`. Each kind
    is checked against its own definition, so the message names what is wrong
    with that kind rather than why the record is none of the three."""
    root = schemas.load("registration-kinds.schema.json")
    checks = {
        kind: jsonschema_rs.validator_for(
            {"$schema": root["$schema"], "$ref": f"#/$defs/{kind}", "$defs": root["$defs"]},
            formats={"date": _is_date, "email": _is_email},
            validate_formats=True,
        )
        for kind in KINDS
    }

    def validate(record: Any) -> None:
        kind = record.get("kind") if type(record) is dict else None
        check = checks.get(kind) if type(kind) is str else None
        if check is None:
            raise InvalidSubmission("the record's kind is not one of household, business, association")
        if not check.is_valid(record):
            first = next(check.iter_errors(record), None)
            raise InvalidSubmission(f"the {kind} record fails the schema: {first.message if first else 'invalid'}")

    return validate


def _check_birth(text: str, today: date, what: str = "birth_date") -> None:
    try:
        born = date.fromisoformat(text)
    except ValueError:  # the schema's format already refuses these; kept for a validator passed in
        raise InvalidSubmission(f"{what} is not a calendar date") from None
    if born <= date(1900, 1, 1) or born > today:
        raise InvalidSubmission(f"{what} is outside 1900-01-02 .. today")


def _check_dates(record: dict[str, Any], today: date) -> None:
    _check_birth(record["birth_date"], today)
    year = record.get("emigration_year")
    if year is not None and year > today.year:
        raise InvalidSubmission("emigration_year is in the future")


@dataclass(frozen=True)
class Parsed:
    """An opened, valid submission: the record (None for a withdrawal), and for a
    version 2 submission the control id (`ID_BYTES` of SHA-256 of the key) and its use."""

    record: dict[str, Any] | None
    control: bytes | None = None
    use: int = FIRST


def _b64u32(value: Any) -> bytes:
    if type(value) is not str or len(value) != 43:
        raise InvalidSubmission("the registrant control value is not 32 bytes in base64url")
    try:
        raw = base64.urlsafe_b64decode(value + "=")
    except ValueError:
        raise InvalidSubmission("the registrant control value is not base64url") from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != value:
        raise InvalidSubmission("the registrant control value is not canonical base64url")
    return raw


def _control(member: Any) -> tuple[bytes, bool]:
    """The control id of a `registrant` member and whether it revealed the key."""
    if type(member) is not dict or len(member) != 1:
        raise InvalidSubmission("registrant is not an object with exactly one of id, key")
    if "id" in member:
        return _b64u32(member["id"])[:ID_BYTES], False
    if "key" in member:
        return hashlib.sha256(_b64u32(member["key"])).digest()[:ID_BYTES], True
    raise InvalidSubmission("registrant is not an object with exactly one of id, key")


def _submission_object(plaintext: bytes) -> dict[str, Any]:
    """The submission's {schema, lang, record} object, parsed as strict JSON; raise InvalidSubmission."""
    try:
        obj = orjson.loads(plaintext)
    except orjson.JSONDecodeError:
        raise InvalidSubmission("the submission is not UTF-8 JSON") from None
    if type(obj) is not dict or obj.keys() != _MEMBERS:
        raise InvalidSubmission("the submission is not a {schema, lang, record} object")
    return obj


_kinds_validator: Callable[[Any], Any] | None = None


def _default_kinds() -> Callable[[Any], Any]:
    global _kinds_validator
    if _kinds_validator is None:
        _kinds_validator = compile_kinds_validator()
    return _kinds_validator


def _check_kind(record: dict[str, Any], kinds: Callable[[Any], Any], today: date) -> None:
    kinds(record)
    if record["kind"] == "household":
        _check_dates(record, today)
        for i, member in enumerate(record["members"]):
            _check_birth(member["birth_date"], today, f"members[{i}].birth_date")


def parse_any(
    plaintext: bytes, validator: Callable[[Any], Any], today: date, kinds: Callable[[Any], Any] | None = None
) -> Parsed:
    """Any submission of version 1 or 2; raise InvalidSubmission. `kinds` checks
    a version 2 record that has a `kind` (from `compile_kinds_validator`, compiled
    on first use when not given)."""
    obj = _submission_object(plaintext)
    if obj["lang"] not in LANGS:
        raise InvalidSubmission("unknown submission schema or language")
    record = obj["record"]
    if obj["schema"] == SUBMISSION_SCHEMA:
        validator(record)
        _check_dates(record, today)
        return Parsed(record)
    if obj["schema"] != SUBMISSION_SCHEMA_2 or type(record) is not dict or "registrant" not in record:
        raise InvalidSubmission("unknown submission schema or language")
    if record.get("kind") == "withdrawal":
        if record.keys() != {"kind", "registrant"}:
            raise InvalidSubmission("a withdrawal has exactly the members kind and registrant")
        control, revealed = _control(record["registrant"])
        if not revealed:
            raise InvalidSubmission("a withdrawal must carry the registrant's key, not its id")
        return Parsed(None, control, WITHDRAWAL)
    control, revealed = _control(record["registrant"])
    rest = {k: v for k, v in record.items() if k != "registrant"}
    if "kind" in rest:
        _check_kind(rest, kinds or _default_kinds(), today)
    else:
        validator(rest)
        _check_dates(rest, today)
    return Parsed(rest, control, CORRECTION if revealed else FIRST)


def parse_submission(plaintext: bytes, validator: Callable[[Any], Any], today: date) -> dict[str, Any]:
    """Return the record of a valid submission; raise InvalidSubmission.

    orjson parses strict JSON (RFC 8259): it refuses NaN, Infinity, lone
    surrogates and invalid UTF-8, which the standard library would let in.
    """
    obj = _submission_object(plaintext)
    if obj["schema"] != SUBMISSION_SCHEMA or obj["lang"] not in LANGS:
        raise InvalidSubmission("unknown submission schema or language")
    record = obj["record"]
    validator(record)
    _check_dates(record, today)
    return record  # type: ignore[no-any-return]
