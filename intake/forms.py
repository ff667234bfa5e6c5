"""The registration form's field model, derived from the JSON Schema.

`schemas/registration.schema.json` is the one source of truth: every
property becomes a control named after it (`consent.processing` and
`consent.contact` for the nested consent object), enums become radio groups
or selects, arrays of enums become checkbox groups, and required, length,
pattern and range keywords become HTML constraints. This module adds only
what a schema does not say: the order and grouping of fields on the page,
their labels and hints (gettext), a few options shown first, and the two
date rules the schema leaves to code (birth date after 1900-01-01 and not in
the future, emigration year not after this year; the page's script sets
the "today" bounds).

Option labels: country and language names come from CLDR through Babel;
every other code list's labels come from `schemas/labels.json`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from babel import Locale
from flask_babel import lazy_gettext as _l

import schemas

__all__ = [
    "KINDS",
    "LANGUAGES",
    "Field",
    "Option",
    "Section",
    "build_form",
    "build_kinds",
    "collation_key",
    "kind_chooser",
    "option_labels",
]

LANGUAGES = ("sq", "en", "sr", "de")

# Radio buttons for required enums this short; selects otherwise.
MAX_RADIOS = 6

_SECTIONS: tuple[tuple[Any, tuple[str, ...]], ...] = (
    (_l("About you"), ("given_name", "family_name", "birth_date", "sex")),
    (_l("Where you come from"), ("origin_country", "origin_municipality")),
    (
        _l("Where you live now"),
        ("residence_country", "residence_city", "emigration_year", "emigration_reason", "citizenships"),
    ),
    (_l("Education and work"), ("status", "education_level", "field_of_study", "occupation", "profession")),
    (_l("Staying connected"), ("engagement", "languages", "email")),
    (_l("Consent"), ("consent.processing", "consent.contact")),
)

_LABELS: dict[str, Any] = {
    "given_name": _l("Given name"),
    "family_name": _l("Family name"),
    "birth_date": _l("Date of birth"),
    "sex": _l("Sex"),
    "origin_country": _l("Country of origin"),
    "origin_municipality": _l("Municipality of origin in Kosovo"),
    "residence_country": _l("Country where you live"),
    "residence_city": _l("City where you live"),
    "emigration_year": _l("Year you emigrated"),
    "emigration_reason": _l("Main reason for emigrating"),
    "citizenships": _l("Citizenships"),
    "status": _l("Current situation"),
    "education_level": _l("Highest completed education"),
    "field_of_study": _l("Field of study"),
    "occupation": _l("Occupation group"),
    "profession": _l("Profession"),
    "engagement": _l("How would you like to take part?"),
    "languages": _l("Languages you speak"),
    "email": _l("Email address"),
    "consent.processing": _l(
        "I agree that the ministry processes this registration to produce anonymous statistics about the diaspora."
    ),
    "consent.contact": _l("The ministry may contact me by email about diaspora programmes."),
    # The record kinds of version 2 (docs/formats.md section 13), by definition and member.
    "member.given_name": _l("Given name"),
    "member.family_name": _l("Family name"),
    "member.birth_date": _l("Date of birth"),
    "member.sex": _l("Sex"),
    "member.relationship": _l("Relationship to you"),
    "business.country": _l("Country where the business is"),
    "business.sector": _l("Sector of activity"),
    "business.size": _l("Persons employed"),
    "business.trades_with_home": _l("The business trades with Kosovo."),
    "business.invests_in_home": _l("The business invests in Kosovo."),
    "association.country": _l("Country where the association is"),
    "association.field": _l("Field of activity"),
    "association.members_band": _l("Number of members"),
    "contact.given_name": _l("Given name"),
    "contact.family_name": _l("Family name"),
    "contact.email": _l("Email address"),
}

_HINTS: dict[str, Any] = {
    "given_name": _l("As in your identity document. Never published."),
    "family_name": _l("As in your identity document. Never published."),
    "origin_country": _l("The country you or your family come from."),
    "residence_city": _l("Never published."),
    "emigration_year": _l("The year you first moved abroad to live."),
    "citizenships": _l("Choose up to 5."),
    "profession": _l("In your own words. Never published."),
    "engagement": _l("Choose any that apply."),
    "languages": _l("Choose up to 10."),
    "email": _l("Only if you want to be contacted. Never published."),
    "consent.processing": _l("Required: without it the registration cannot be counted."),
    "member.given_name": _l("Never published."),
    "contact.email": _l("The ministry writes only to this address about the registration. Never published."),
}

_MORE: dict[str, Any] = {"citizenships": _l("Other countries"), "languages": _l("Other languages")}

# Shown first (in selects as a separate group, in checkbox groups outside the
# collapsed full list), to spare most registrants a long scroll.
_PREFERRED: dict[str, tuple[str, ...]] = {
    "origin_country": ("XK", "AL", "MK", "ME", "RS"),
    "residence_country": ("DE", "CH", "AT", "IT", "FR", "SE", "GB", "US", "BE", "SI"),
    "citizenships": ("XK", "AL", "MK", "ME", "RS", "DE", "CH", "AT"),
    "languages": ("sq", "sr", "en", "de", "fr", "it", "tr", "sv"),
}
_PREFERRED["country"] = _PREFERRED["residence_country"]  # a business's or an association's

# Bounds the schema leaves to code; `data-max` = "today" / "this-year" is set by the page's script.
_EXTRA_ATTRS: dict[str, dict[str, str]] = {
    "birth_date": {"min": "1900-01-02", "data-max": "today"},
    "emigration_year": {"data-max": "this-year"},
}
_EXTRA_ATTRS["member.birth_date"] = _EXTRA_ATTRS["birth_date"]

_AUTOCOMPLETE = {
    "given_name": "given-name",
    "family_name": "family-name",
    "birth_date": "bday",
    "residence_city": "address-level2",
    "profession": "organization-title",
    "email": "email",
    # A member's name is not the registrant's: no autofill from the registrant's own.
    "member.given_name": "off",
    "member.family_name": "off",
    "contact.given_name": "given-name",
    "contact.family_name": "family-name",
    "contact.email": "email",
}


@dataclass(frozen=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True)
class Field:
    """One control (or group of controls) of the form."""

    name: str  # the control's `name`: the record field, dotted for consent members
    widget: str  # text | email | date | number | select | radios | checkboxes | checkbox
    kind: str  # the JSON type in the record: string | integer | array | boolean
    required: bool
    label: Any
    hint: Any = None
    attrs: Mapping[str, str | int] = field(default_factory=dict)
    options: tuple[Option, ...] = ()
    preferred: tuple[Option, ...] = ()
    more_label: Any = None
    max_items: int | None = None
    depends_on: tuple[str, str] | None = None  # (field, value): shown only when that field has that value
    # A "more" list the page copies from an earlier select instead of carrying it twice: (that
    # select's id, the values of it to leave out). See _share_lists.
    options_from: tuple[str, tuple[str, ...]] | None = None
    checked: str | None = None  # the radio ticked when the page opens (the kind chooser's "individual")

    @property
    def id(self) -> str:
        return "f-" + self.name.replace(".", "-").replace("_", "-")

    @property
    def is_group(self) -> bool:
        return self.widget in ("radios", "checkboxes")


@dataclass(frozen=True)
class Section:
    title: Any
    fields: tuple[Field, ...]


# Alphabet orders for sorting option labels; letters not listed sort after, by code point.
_ALPHABETS = {
    "sq": "aäbcçdeëfghijklmnopqrstuvxyz",
    "sr": "абвгдђежзијклљмнњопрстћуфхцчџш",
    "de": "abcdefghijklmnopqrstuvwxyz",
    "en": "abcdefghijklmnopqrstuvwxyz",
}
_DE_FOLD = str.maketrans({"ä": "a", "ö": "o", "ü": "u", "ß": "ss"})


def collation_key(lang: str, text: str) -> tuple[int, ...]:
    """An approximate sort key for `lang` (single letters only, no ICU):
    Albanian ç after c and ë after e, the Serbian Cyrillic azbuka, German
    umlauts as their base letters, other accents ignored."""
    alphabet = _ALPHABETS[lang]
    folded = unicodedata.normalize("NFC", text.casefold())
    if lang in ("de", "en"):
        folded = folded.translate(_DE_FOLD)
    key = []
    for char in folded:
        if char not in alphabet:
            base = unicodedata.normalize("NFD", char)[0]
            char = base if base in alphabet else char
        key.append(alphabet.index(char) if char in alphabet else len(alphabet) + ord(char))
    return tuple(key)


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _ref_name(prop: Mapping[str, Any]) -> str | None:
    """The `$defs` name a property refers to, directly or inside `allOf`."""
    if "$ref" in prop:
        return str(prop["$ref"]).rsplit("/", 1)[-1]
    for part in prop.get("allOf", ()):
        if "$ref" in part:
            return str(part["$ref"]).rsplit("/", 1)[-1]
    return None


def _excluded(prop: Mapping[str, Any]) -> set[str]:
    """Values ruled out by `allOf: [..., {"not": {"const": X}}]`."""
    return {part["not"]["const"] for part in prop.get("allOf", ()) if "const" in part.get("not", {})}


def _enum(schema: Mapping[str, Any], prop: Mapping[str, Any]) -> tuple[str | None, list[str]] | None:
    """(defs name, allowed values) if `prop` is an enum, else None."""
    if "enum" in prop:
        return None, list(prop["enum"])
    ref = _ref_name(prop)
    if ref is not None and "enum" in schema["$defs"][ref]:
        skip = _excluded(prop)
        return ref, [v for v in schema["$defs"][ref]["enum"] if v not in skip]
    return None


def _code_list(ref: str | None, values: list[str]) -> str | None:
    """ "country" or "language" when a referenced enum is a list of those codes, else None."""
    if ref is None:
        return None
    for kind, source in (("country", "countries.json"), ("language", "languages.json")):
        if set(values) <= set(schemas.load(source)["codes"]):
            return kind
    return None


def option_labels(name: str, ref: str | None, values: list[str], lang: str) -> dict[str, str]:
    """Localised labels of the codes `values` of field `name`."""
    kind = _code_list(ref, values)
    if kind == "country":
        names = Locale.parse(lang).territories
        return {v: names[v] for v in values}
    if kind == "language":
        local, english = Locale.parse(lang).languages, Locale.parse("en").languages
        return {v: _capitalise(local.get(v) or english[v]) for v in values}
    labels = schemas.load("labels.json")["fields"][name]
    return {v: labels[v][lang] for v in values}


def _options(name: str, ref: str | None, values: list[str], lang: str) -> tuple[tuple[Option, ...], tuple[Option, ...]]:
    """(preferred, other) options, each group in its display order."""
    labels = option_labels(name, ref, values, lang)
    preferred = tuple(Option(v, labels[v]) for v in _PREFERRED.get(name, ()) if v in labels)
    chosen = {o.value for o in preferred}
    rest = [Option(v, labels[v]) for v in values if v not in chosen]
    if _code_list(ref, values) or name == "origin_municipality":
        rest.sort(key=lambda o: collation_key(lang, o.label))
    return preferred, tuple(rest)


def _constraints(prop: Mapping[str, Any]) -> dict[str, str | int]:
    attrs: dict[str, str | int] = {}
    for keyword, attr in (
        ("minLength", "minlength"),
        ("maxLength", "maxlength"),
        ("minimum", "min"),
        ("maximum", "max"),
    ):
        if keyword in prop:
            attrs[attr] = prop[keyword]
    if "pattern" in prop and prop.get("format") != "date":
        # HTML patterns are anchored implicitly; a date input's value is always YYYY-MM-DD.
        attrs["pattern"] = str(prop["pattern"]).removeprefix("^").removesuffix("$")
    return attrs


def _dependencies(schema: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """Fields allowed only when another field has one value: A -> (B, V) from
    `dependentSchemas: {A: {properties: {B: {const: V}}}}` or the equivalent
    `if: {required: [A]}, then: {properties: {B: {const: V}}}`."""
    rules = dict(schema.get("dependentSchemas", {}))
    for dependent in schema.get("if", {}).get("required", ()):
        rules[dependent] = schema.get("then", {})
    out = {}
    for dependent, rule in rules.items():
        for other, condition in rule.get("properties", {}).items():
            if "const" in condition:
                out[dependent] = (other, condition["const"])
    return out


def _field(
    schema: Mapping[str, Any],
    name: str,
    prop: Mapping[str, Any],
    required: bool,
    lang: str,
    key: str | None = None,
) -> Field:
    """The control `name` for schema property `prop`. `key` (default: `name`) is
    what its label, hint, bounds, code labels and frequent choices are looked up
    by: a record kind's control shares them with the individual's where they
    mean the same (docs/formats.md section 13)."""
    key = key or name
    label, hint = _LABELS[key], _HINTS.get(key)
    extra: dict[str, str | int] = {**_constraints(prop), **_EXTRA_ATTRS.get(key, {})}
    if key in _AUTOCOMPLETE:
        extra["autocomplete"] = _AUTOCOMPLETE[key]
    enum = _enum(schema, prop)
    if enum is not None:
        ref, values = enum
        preferred, rest = _options(key.rsplit(".", 1)[-1], ref, values, lang)
        widget = "radios" if required and len(values) <= MAX_RADIOS else "select"
        return Field(name, widget, "string", required, label, hint, {}, rest, preferred)
    kind = prop.get("type")
    if kind == "array":
        items = _enum(schema, prop["items"])
        if items is None:
            raise ValueError(f"{name}: only arrays of enums are supported")
        ref, values = items
        preferred, rest = _options(key, ref, values, lang)
        more = _MORE.get(key) if preferred else None
        return Field(
            name, "checkboxes", "array", required, label, hint, {}, rest, preferred, more, prop.get("maxItems")
        )
    if kind == "integer":
        return Field(name, "number", "integer", required, label, hint, {"step": 1, "inputmode": "numeric", **extra})
    if kind == "boolean" or "const" in prop:
        return Field(name, "checkbox", "boolean", required, label, hint)
    if kind == "string":
        widget = {"date": "date", "email": "email"}.get(prop.get("format", ""), "text")
        return Field(name, widget, "string", required, label, hint, extra)
    raise ValueError(f"{name}: no control for this schema property")


def _flatten(schema: Mapping[str, Any]) -> dict[str, tuple[Mapping[str, Any], bool]]:
    """Every control name with its schema property and whether it is required."""
    out: dict[str, tuple[Mapping[str, Any], bool]] = {}
    required = set(schema.get("required", ()))
    for name, prop in schema["properties"].items():
        if prop.get("type") == "object":
            inner_required = set(prop.get("required", ()))
            for inner, inner_prop in prop["properties"].items():
                # consent.contact is a required boolean: an unticked box is `false`, so it is never missing.
                must_tick = name in required and inner in inner_required and inner_prop.get("const") is True
                out[f"{name}.{inner}"] = (inner_prop, must_tick)
        else:
            out[name] = (prop, name in required)
    return out


@cache
def build_form(lang: str) -> tuple[Section, ...]:
    """The form's sections and fields for page language `lang`.

    Labels are lazy gettext strings, rendered in the request's locale; option
    labels are already in `lang`.
    """
    if lang not in LANGUAGES:
        raise ValueError(f"unknown page language {lang!r}")
    schema = schemas.load("registration.schema.json")
    props = _flatten(schema)
    placed = [name for _title, names in _SECTIONS for name in names]
    if sorted(placed) != sorted(props):
        raise ValueError(f"the form's sections do not match the schema: {sorted(set(placed) ^ set(props))}")
    depends = _dependencies(schema)
    sections = []
    for title, names in _SECTIONS:
        fields = []
        for name in names:
            prop, required = props[name]
            f = _field(schema, name, prop, required, lang)
            if name in depends:
                f = replace(f, depends_on=depends[name])
            fields.append(f)
        sections.append(Section(title, tuple(fields)))
    return _share_lists(tuple(sections))


def _share_lists(sections: tuple[Section, ...]) -> tuple[Section, ...]:
    """A checkbox group's "more" list that is an earlier select's options, in
    the same order, less some, is not rendered again: the page copies it from
    that select when its script starts (form.js, `copyLists`). The country
    list is most of the page; carried once instead of twice, the Serbian page
    saves 9 KB of its 100 KB budget. Without the script nothing is lost: the
    "add" button needs it anyway, and without it nothing can be sealed."""
    selects: list[Field] = []
    out = []
    for section in sections:
        fields = []
        for f in section.fields:
            if f.widget == "select" and f.preferred and f.options:
                # A select's "All, A to Z" group that an earlier select holds all of (the residence
                # countries: the countries of origin but Kosovo) is copied from it too, and sorted by
                # the browser in the page language: 10 KB of the Serbian page.
                wanted_set = {o.value for o in f.options}
                for source in selects:
                    offered = [o.value for o in (*source.preferred, *source.options)]
                    if wanted_set <= set(offered):
                        f = replace(f, options_from=(source.id, tuple(v for v in offered if v not in wanted_set)))
                        break
            if f.widget == "select":
                selects.append(f)
            elif f.widget == "checkboxes" and f.preferred and f.options:
                wanted = [o.value for o in f.options]
                for source in selects:
                    offered = [o.value for o in (*source.preferred, *source.options)]
                    skip = tuple(v for v in offered if v not in set(wanted))
                    if [v for v in offered if v not in set(skip)] == wanted and len(skip) < len(offered):
                        f = replace(f, options_from=(source.id, skip))
                        break
            fields.append(f)
        out.append(Section(section.title, tuple(fields)))
    return tuple(out)


# ---- record kinds (docs/formats.md section 13) ----------------------------

# The kind chooser's choices, the individual (no `kind` in the record) first; the others are the
# `kind` values of registration-kinds.schema.json, checked against it in kind_chooser.
KINDS = ("individual", "household", "business", "association")
_KIND_LABELS: dict[str, Any] = {
    "individual": _l("Myself"),
    "household": _l("My household"),
    "business": _l("A business"),
    "association": _l("An association"),
}

# Each kind's sections: the individual's sections it keeps (household: all; the others: only the
# consent), and its own, each a title and the kinds schema's members (`contact.x` inside `contact`,
# `members.0.x` a household member: the page copies that one for each member it adds).
_KIND_SECTIONS: dict[str, tuple[tuple[Any, tuple[str, ...]], ...]] = {
    "household": (
        (
            _l("The people who live with you"),
            (
                "members.0.given_name",
                "members.0.family_name",
                "members.0.birth_date",
                "members.0.sex",
                "members.0.relationship",
            ),
        ),
    ),
    "business": (
        (_l("About the business"), ("country", "sector", "size", "trades_with_home", "invests_in_home")),
        (_l("Contact person"), ("contact.given_name", "contact.family_name", "contact.email")),
    ),
    "association": (
        (_l("About the association"), ("country", "field", "members_band")),
        (_l("Contact person"), ("contact.given_name", "contact.family_name", "contact.email")),
    ),
}


def kind_chooser() -> Field:
    """The radio group that chooses what is registered: the individual (ticked
    when the page opens, and today's form unchanged) or another kind."""
    kinds = schemas.load("registration-kinds.schema.json")
    if list(kinds["properties"]["kind"]["enum"]) != list(KINDS[1:]):
        raise ValueError("the kind chooser does not match registration-kinds.schema.json")
    options = tuple(Option(kind, _KIND_LABELS[kind]) for kind in KINDS)
    return Field(
        "kind", "radios", "string", False, _l("Who are you registering?"), options=options, checked="individual"
    )


def _member(kinds: Mapping[str, Any], definition: str, path: str) -> tuple[str, Mapping[str, Any], bool]:
    """(lookup key, schema property, required) of `path` in the kinds schema's `definition`."""
    node: Mapping[str, Any] = kinds["$defs"][definition]
    parts = path.split(".")
    for part in parts[:-1]:
        if part.isdigit():
            continue
        prop = node["properties"][part]
        prop = prop.get("items", prop)
        definition = _ref_name(prop) or part
        node = kinds["$defs"][definition]
    name = parts[-1]
    return f"{definition}.{name}", node["properties"][name], name in node.get("required", ())


@cache
def build_kinds(lang: str) -> dict[str, tuple[Section, ...]]:
    """Each kind's own sections for page language `lang` (the page loads them
    only when that kind is chosen: pages.kinds_fragment). A boolean is a box
    that is `false` unticked, so none is marked required."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown page language {lang!r}")
    kinds = schemas.load("registration-kinds.schema.json")
    out = {}
    for kind, sections in _KIND_SECTIONS.items():
        built = []
        for title, paths in sections:
            fields = []
            for path in paths:
                key, prop, required = _member(kinds, kind, path)
                f = _field(kinds, path, prop, required and prop.get("type") != "boolean", lang, key)
                fields.append(f)
            built.append(Section(title, tuple(fields)))
        out[kind] = tuple(built)
    return out
