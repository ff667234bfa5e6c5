"""Validation of opened submissions: the fast compiled validator agrees with
the reference `jsonschema` on the 2020-12 schema, and the rules a static
schema cannot state are enforced."""

from __future__ import annotations

import json
from datetime import date

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import VALID_RECORD

import schemas
from keyholder_cli.validate import InvalidSubmission, compile_validator, parse_submission

SCHEMA = schemas.load("registration.schema.json")
REFERENCE = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
FAST = compile_validator()
COUNTRIES = SCHEMA["$defs"]["country"]["enum"]
TODAY = date(2026, 11, 26)


def fast_accepts(record) -> bool:
    try:
        FAST(record)
    except Exception:
        return False
    return True


def mutations():
    """Records near the valid one: each field replaced by a plausible or implausible value."""
    values = st.one_of(
        st.sampled_from(
            ["", "x", "XK", "DE", "AL", "ZZ", "prizren", "isced3", "isced9", "05", "11", "7", "a@b.de", "no-at"]
        ),
        st.sampled_from([True, False, None, 0, 1939, 1990, -1, 1.5, [], ["DE"], ["DE", "DE"], ["sq", "xx"], {}]),
        st.text(max_size=3),
        st.lists(st.sampled_from(["DE", "XK", "investment", "return", "sq", "en", "zz"]), max_size=4),
    )
    fields = st.sampled_from([*SCHEMA["properties"], "unknown_member"])
    return st.dictionaries(fields, values, max_size=3)


@settings(max_examples=400, deadline=None)
@given(mutations(), st.sets(st.sampled_from(sorted(VALID_RECORD)), max_size=2))
def test_fast_validator_agrees_with_the_reference(changes, removed):
    record = {k: v for k, v in {**VALID_RECORD, **changes}.items() if k not in removed}
    assert fast_accepts(record) == REFERENCE.is_valid(record), record


@pytest.mark.parametrize(
    ("change", "valid"),
    [
        ({}, True),
        ({"origin_country": "AL"}, False),  # a municipality only with Kosovo
        ({"origin_country": "AL", "origin_municipality": None}, True),  # and without one, any origin
        ({"residence_country": "XK"}, False),
        ({"residence_country": "CH", "citizenships": ["XK", "CH"]}, True),
        ({"consent": {"processing": False, "contact": True}}, False),
        ({"email": "someone@example.org"}, True),
        ({"email": "not an address"}, False),
        ({"engagement": ["mentoring", "mentoring"]}, False),
        ({"emigration_year": 1939}, False),
    ],
)
def test_schema_rules(change, valid):
    record = {k: v for k, v in {**VALID_RECORD, **change}.items() if v is not None}
    assert REFERENCE.is_valid(record) == valid
    assert fast_accepts(record) == valid


def sub(record) -> bytes:
    return json.dumps({"schema": "dvr-registration/1", "lang": "sq", "record": record}).encode()


def test_dates_a_schema_cannot_check():
    assert parse_submission(sub(VALID_RECORD), FAST, TODAY)["given_name"] == "Arbër"
    for bad in (
        {"birth_date": "2026-11-27"},
        {"birth_date": "1900-01-01"},
        {"birth_date": "1990-02-30"},
        {"emigration_year": 2027},
    ):
        with pytest.raises(InvalidSubmission):
            parse_submission(sub({**VALID_RECORD, **bad}), FAST, TODAY)


@pytest.mark.parametrize(
    "plaintext",
    [
        b"\xff\xfe",
        b"[]",
        b'{"schema": "dvr-registration/2", "lang": "sq", "record": {}}',
        b'{"schema": "dvr-registration/1", "lang": "fr", "record": {}}',
        b'{"schema": "dvr-registration/1", "lang": "sq"}',
    ],
)
def test_submissions_that_are_not_registrations(plaintext):
    with pytest.raises(InvalidSubmission):
        parse_submission(plaintext, FAST, TODAY)
