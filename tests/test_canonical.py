"""vault.canonical: RFC 8785 canonical JSON and strict unpadded base64url.

Every signature and hash in the formats is over these two encodings, so one
value must have exactly one byte form. (test_envelope.py checks b64u_decode
against Python's decoder over random texts of the URL-safe alphabet; this
module covers the round trips and the refusals a reader relies on.)
"""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vault.canonical import b64u_decode, b64u_encode, canonical_json

_B64U = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"

# JSON values within RFC 8785's domain: I-JSON numbers (integers within
# ±(2**53 - 1), finite doubles) and strings of Unicode scalar values. An
# integral double of 2**53 or more is written in integer form, which Python's
# json reads back as an int outside that domain, so it is left out here.
_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=8)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not (f.is_integer() and abs(f) >= 2**53))
    | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)


# --- canonical_json ---------------------------------------------------------


def test_members_are_sorted_by_utf16_code_units_as_rfc8785_section_3_2_3_shows():
    # The RFC's own sorting example: U+1F600 (surrogates D83D DE00) sorts
    # before U+FB33, which it would not by code point.
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    keys = [k for k in json.loads(canonical_json(value))]
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (0.0, b"0"),
        (-0.0, b"0"),
        (1.0, b"1"),
        (4.50, b"4.5"),
        (2e-3, b"0.002"),
        (0.000001, b"0.000001"),
        (1e-7, b"1e-7"),
        (1e20, b"100000000000000000000"),
        (1e21, b"1e+21"),
        (333333333.33333329, b"333333333.3333333"),
        (5e-324, b"5e-324"),
        (1.7976931348623157e308, b"1.7976931348623157e+308"),
        (9007199254740991, b"9007199254740991"),
        (-9007199254740991, b"-9007199254740991"),
    ],
)
def test_numbers_are_written_as_ecmascript_writes_them(number, text):
    assert canonical_json(number) == text


def test_no_whitespace_utf8_unescaped_and_only_the_required_escapes():
    value = {"b": [True, False, None], "a": '\u0000\b\t\n\f\r\u001f"\\/é\u2028'}
    assert canonical_json(value) == (
        b'{"a":"\\u0000\\b\\t\\n\\f\\r\\u001f\\"\\\\/' + "é\u2028".encode() + b'","b":[true,false,null]}'
    )


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        float("inf"),
        float("-inf"),
        2**53,  # outside I-JSON's exact integers: readers would round it
        -(2**53),
        "\ud800",  # a lone surrogate is not UTF-8
        {1: "a non-string member name"},
        b"bytes",
        {"a set"},
    ],
)
def test_values_outside_its_domain_are_refused_not_approximated(value):
    with pytest.raises(ValueError):
        canonical_json(value)


@settings(max_examples=200, deadline=None)
@given(_json)
def test_canonical_json_round_trips_and_is_a_fixed_point(value):
    data = canonical_json(value)
    data.decode("utf-8")  # always valid UTF-8
    parsed = json.loads(data)
    assert parsed == value  # -0.0 == 0 and 1.0 == 1: the same JSON number
    assert canonical_json(parsed) == data  # parsing and re-canonicalising changes nothing


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(_text, st.integers(-1000, 1000), max_size=8), st.randoms(use_true_random=False))
def test_member_order_and_whitespace_of_the_input_do_not_change_the_bytes(obj, rnd):
    items = list(obj.items())
    rnd.shuffle(items)
    reordered = json.loads(json.dumps(dict(items), indent=rnd.choice([None, 1, 4]), ensure_ascii=rnd.random() < 0.5))
    assert canonical_json(reordered) == canonical_json(obj)


# --- b64u_encode / b64u_decode ------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=70))
def test_b64u_round_trip_and_the_text_is_unpadded_url_safe(data):
    text = b64u_encode(data)
    assert set(text) <= set(_B64U)
    assert len(text) == (len(data) * 8 + 5) // 6
    assert b64u_decode(text) == data


def test_b64u_known_values_from_rfc4648():
    assert [b64u_encode(s) for s in (b"", b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar")] == [
        "",
        "Zg",
        "Zm8",
        "Zm9v",
        "Zm9vYg",
        "Zm9vYmE",
        "Zm9vYmFy",
    ]
    assert b64u_encode(b"\xfb\xff") == "-_8"  # the URL-safe letters, not '+' and '/'


_nonempty = st.binary(min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(_nonempty, st.integers(1, 3))
def test_b64u_padding_is_refused(data, pads):
    with pytest.raises(ValueError):
        b64u_decode(b64u_encode(data) + "=" * pads)


@settings(max_examples=200, deadline=None)
@given(_nonempty.filter(lambda d: len(d) % 3), st.integers(1, 15))
def test_b64u_set_unused_trailing_bits_are_refused(data, bits):
    # A text of length 4k+2 (4k+3) leaves 4 (2) low bits of its last letter
    # unused; any text that sets one decodes to the same bytes and must be refused.
    text = b64u_encode(data)
    mask = 0b1111 if len(text) % 4 == 2 else 0b11
    if bits & mask == 0:
        bits = 1
    sibling = text[:-1] + _B64U[_B64U.index(text[-1]) | (bits & mask)]
    assert sibling != text
    with pytest.raises(ValueError, match="canonical"):
        b64u_decode(sibling)


@settings(max_examples=200, deadline=None)
@given(_nonempty, st.data())
def test_b64u_standard_alphabet_whitespace_and_foreign_characters_are_refused(data, draw):
    text = b64u_encode(data)
    at = draw.draw(st.integers(0, len(text)))
    intruder = draw.draw(st.sampled_from(["+", "/", " ", "\n", "\t", "\r", ".", "\x00", "é", "\u0660", "＝"]))
    with pytest.raises(ValueError):
        b64u_decode(text[:at] + intruder + text[at:])


@pytest.mark.parametrize("text", ["A", "AAAAA", "Zm9vY"])
def test_b64u_a_length_of_4k_plus_1_is_refused(text):
    with pytest.raises(ValueError):
        b64u_decode(text)


@pytest.mark.parametrize("text", ["+_8", "-/8", "+/8=", "Zg==", " Zg", "Zg\n"])
def test_b64u_the_standard_forms_of_a_valid_text_are_refused(text):
    assert b64u_decode("-_8") == b"\xfb\xff"
    with pytest.raises(ValueError):
        b64u_decode(text)


@pytest.mark.parametrize("value", [b"Zg", bytearray(b"Zg"), None, 3])
def test_b64u_decode_of_a_non_string_is_a_type_error(value):
    with pytest.raises(TypeError):
        b64u_decode(value)
