"""The registrant pages without a browser: the form follows the schema,
every string is translated, the headers are strict, no cookie is ever set,
and the static manifest matches what is served. (Behaviour in a real
browser: tests/test_browser_*.py.)"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from flask import Flask, session
from flask.testing import FlaskClient

import schemas
from intake import IntakeConfig, create_app
from intake.forms import LANGUAGES, build_form, collation_key
from intake.pages import CSP, MANIFEST_PATH, STATIC_DIR, TRANSLATIONS_DIR

INTAKE = Path(__file__).resolve().parent.parent / "intake"
PAGES = {"sq": "/", "en": "/en/", "sr": "/sr/", "de": "/de/"}
SCHEMA = schemas.load("registration.schema.json")


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = create_app(IntakeConfig(data_dir=tmp_path))
    yield app
    app.extensions["dvr_store"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class Page(HTMLParser):
    """Just enough of the DOM for these checks: elements with their attributes and text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: dict[int, str] = {}
        self._open: list[int] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag not in ("input", "meta", "link", "br", "option"):
            self._open.append(len(self.elements) - 1)

    def handle_endtag(self, tag: str) -> None:
        for i in reversed(range(len(self._open))):
            if self.elements[self._open[i]][0] == tag:
                del self._open[i:]
                break

    def handle_data(self, data: str) -> None:
        for i in self._open:
            self.text[i] = self.text.get(i, "") + data

    def find(self, tag: str | None = None, **attrs: str) -> list[dict[str, str | None]]:
        return [
            a for t, a in self.elements if (tag is None or t == tag) and all(a.get(k) == v for k, v in attrs.items())
        ]

    def ids(self) -> set[str]:
        return {a["id"] for _t, a in self.elements if a.get("id")}


def page(client: FlaskClient, lang: str) -> Page:
    response = client.get(PAGES[lang])
    assert response.status_code == 200
    return Page(response.get_data(as_text=True))


# ---- headers and hygiene --------------------------------------------------


@pytest.mark.parametrize("path", [*PAGES.values(), "/assets/form.js", MANIFEST_PATH, "/api/v1/keys", "/nowhere"])
def test_every_response_carries_the_security_headers_and_no_cookie(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.headers["Content-Security-Policy"] == CSP
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    policy = response.headers["Permissions-Policy"]
    for feature in ("camera", "geolocation", "microphone", "payment", "usb"):
        assert f"{feature}=()" in policy
    assert "Set-Cookie" not in response.headers


def test_the_csp_is_the_strict_one() -> None:
    directives = dict(d.strip().split(" ", 1) for d in CSP.split(";"))
    assert directives == {
        "default-src": "'none'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self'",
        "connect-src": "'self'",
        "form-action": "'none'",
        "base-uri": "'none'",
        "frame-ancestors": "'none'",
    }


@pytest.mark.parametrize("path", PAGES.values())
def test_pages_are_not_stored_by_caches(client: FlaskClient, path: str) -> None:
    assert client.get(path).headers["Cache-Control"] == "no-store"


def test_there_is_no_session_to_write_even_with_a_secret_key(app: Flask) -> None:
    app.secret_key = "set by mistake"  # noqa: S105 - not a secret: the test sets one on purpose
    written = []

    @app.get("/test-session")
    def write_session() -> str:
        assert dict(session) == {}
        session["tracking"] = "x"  # raises: the session is a null session
        written.append(True)
        return "ok"

    response = app.test_client().get("/test-session")
    assert response.status_code == 500
    assert written == []
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_inline_script_or_style_and_nothing_from_elsewhere(client: FlaskClient, lang: str) -> None:
    dom = page(client, lang)
    for tag, attrs in dom.elements:
        assert tag != "style"
        assert "style" not in attrs
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        if tag == "script":
            assert attrs.get("src", "").startswith("/assets/"), attrs
        for url_attr in ("src", "href"):
            value = attrs.get(url_attr)
            assert value is None or value.startswith(("/", "#")), (tag, attrs)


def test_scripts_import_only_their_neighbours() -> None:
    for script in STATIC_DIR.glob("*.js"):
        for target in re.findall(r'from\s+"([^"]+)"', script.read_text()):
            assert target.startswith("./"), (script.name, target)
        assert "http://" not in script.read_text() and "https://" not in script.read_text()


def test_intake_never_reads_client_addresses_or_user_agents() -> None:
    """Only the in-memory rate limiter reads the address (ARCHITECTURE.md invariant 1)."""
    forbidden = re.compile(
        r"remote_addr|user_agent|access_route|REMOTE_ADDR|HTTP_USER_AGENT|X-Forwarded-For|X-Real-IP", re.I
    )
    readers = sorted(source.name for source in INTAKE.rglob("*.py") if forbidden.search(source.read_text()))
    assert readers == ["ratelimit.py"]
    assert re.findall(forbidden, (INTAKE / "ratelimit.py").read_text()) == ["REMOTE_ADDR"] * 2


def test_page_weight_is_under_100_kb(tmp_path: Path) -> None:
    """Each page and every asset it loads to register, the pin asset of an installed key included;
    verify.js loads only when a registrant checks a saved receipt, control.js only when one corrects or
    withdraws with a code, kinds.js and a kinds fragment only when a household, business or association
    is chosen (docs/registrant-page.md, "Tests"; tests/test_browser_kinds.py shows that a page registering
    an individual requests none of them)."""
    from intake.keyring import add_bundle
    from vault import derive_keys

    add_bundle(tmp_path / "keys.json", derive_keys(bytes(32)).bundle().to_json())
    app = create_app(IntakeConfig(data_dir=tmp_path))
    client = app.test_client()
    listed = client.get(MANIFEST_PATH).get_json()["assets"]
    lazy = {"/assets/verify.js", "/assets/control.js", "/assets/kinds.js"} | {f"/assets/kinds-{c}.html" for c in PAGES}
    assert lazy <= set(listed)
    assets = sum(len(client.get(url).data) for url in listed if url not in lazy)
    for path in PAGES.values():
        assert len(client.get(path).data) + assets <= 100_000
    app.extensions["dvr_store"].close()


# ---- the static manifest ---------------------------------------------------


def test_manifest_lists_every_static_asset_and_page_with_its_sha256(client: FlaskClient) -> None:
    manifest = client.get(MANIFEST_PATH).get_json()
    assert manifest["format"] == "dvr-static-manifest/1"
    files = sorted(p for p in STATIC_DIR.rglob("*") if p.is_file())
    expected = [f"/assets/{p.relative_to(STATIC_DIR).as_posix()}" for p in files] + ["/assets/ministry-key.js"]
    expected += [f"/assets/kinds-{lang}.html" for lang in LANGUAGES]  # generated at start, like the pin asset
    assert sorted(manifest["assets"]) == sorted(expected)
    for url, digest in manifest["assets"].items():
        assert hashlib.sha256(client.get(url).data).hexdigest() == digest
    assert sorted(manifest["pages"]) == sorted(PAGES.values())
    for url, digest in manifest["pages"].items():
        assert hashlib.sha256(client.get(url).data).hexdigest() == digest


def test_static_files_have_module_types_and_revalidate(client: FlaskClient) -> None:
    response = client.get("/assets/hpke.js")
    assert response.mimetype == "text/javascript"
    assert response.headers["Cache-Control"] == "no-cache"
    again = client.get("/assets/hpke.js", headers={"If-None-Match": f'"{response.headers["ETag"].strip(chr(34))}"'})
    assert again.status_code == 304
    assert client.get("/assets/registry.css").mimetype == "text/css"
    assert client.get("/assets/nothing.js").status_code == 404


# ---- the form follows the schema --------------------------------------------


def controls(dom: Page, name: str) -> list[tuple[str, dict[str, str | None]]]:
    return [(t, a) for t, a in dom.elements if a.get("name") == name and t in ("input", "select")]


def enum_values(prop: dict[str, Any]) -> set[str]:
    if "enum" in prop:
        return set(prop["enum"])
    return set(SCHEMA["$defs"][prop["$ref"].rsplit("/", 1)[-1]]["enum"])


def test_the_form_has_no_action_and_cannot_be_submitted_by_the_browser(client: FlaskClient) -> None:
    form = page(client, "sq").find("form")[0]
    assert "action" not in form
    assert form["method"] == "dialog"
    button = page(client, "sq").find("button", id="submit")[0]
    assert "disabled" in button


def test_every_schema_field_has_a_control_named_after_it(client: FlaskClient) -> None:
    dom = page(client, "en")
    names = {a["name"] for _t, a in dom.elements if a.get("name") and _t in ("input", "select")}
    expected = {n for n, p in SCHEMA["properties"].items() if p.get("type") != "object"}
    expected |= {f"consent.{n}" for n in SCHEMA["properties"]["consent"]["properties"]}
    expected.add("kind")  # the kind chooser (registration-kinds.schema.json; tests/test_kinds_page.py)
    assert names == expected


def test_constraints_become_html_attributes(client: FlaskClient) -> None:
    dom = page(client, "en")
    props = SCHEMA["properties"]
    for name in ("given_name", "family_name", "residence_city", "profession", "email"):
        ((_tag, attrs),) = controls(dom, name)
        assert attrs["maxlength"] == str(props[name]["maxLength"])
        assert ("required" in attrs) == (name in SCHEMA["required"])
    ((_t, email),) = controls(dom, "email")
    assert email["type"] == "email" and email["pattern"] == props["email"]["pattern"].strip("^$")
    ((_t, year),) = controls(dom, "emigration_year")
    assert year["type"] == "number" and year["min"] == str(props["emigration_year"]["minimum"]) and year["step"] == "1"
    ((_t, born),) = controls(dom, "birth_date")
    assert born["type"] == "date" and "required" in born and born["min"] == "1900-01-02"
    ((_t, processing),) = controls(dom, "consent.processing")
    assert processing["type"] == "checkbox" and "required" in processing


def test_enums_become_radios_or_selects_with_exactly_the_schema_values(client: FlaskClient) -> None:
    dom = page(client, "de")
    props = SCHEMA["properties"]
    for name in ("sex", "status"):
        radios = controls(dom, name)
        assert {t for t, _a in radios} == {"input"} and {a["type"] for _t, a in radios} == {"radio"}
        assert {a["value"] for _t, a in radios} == enum_values(props[name])
    for name in (
        "origin_country",
        "residence_country",
        "origin_municipality",
        "emigration_reason",
        "education_level",
        "field_of_study",
        "occupation",
    ):
        ((tag, attrs),) = controls(dom, name)
        assert tag == "select"
        values = option_values(dom, attrs["id"])
        copied = dom.find("optgroup", **{"data-options-from": "f-origin-country"})
        if name == "residence_country":  # its "All, A to Z" group is copied by the script (forms._share_lists)
            (group,) = copied
            skip = set(group["data-options-skip"].split())
            values += [v for v in option_values(dom, "f-origin-country") if v not in skip]
        assert set(values) == enum_values(props[name]), name
        assert len(values) == len(set(values)), f"{name} lists an option twice"
    assert "XK" not in option_values(dom, "f-residence-country")


def option_values(dom: Page, select_id: str | None) -> list[str]:
    out, inside = [], False
    for tag, attrs in dom.elements:
        if tag == "select":
            inside = attrs.get("id") == select_id
        elif tag == "option" and inside and attrs.get("value"):
            out.append(attrs["value"])
    return out


def test_arrays_of_enums_become_checkbox_groups(client: FlaskClient) -> None:
    dom = page(client, "sq")
    for name in ("engagement", "citizenships", "languages"):
        boxes = controls(dom, name)
        assert {a["type"] for _t, a in boxes} == {"checkbox"}
        offered = {a["value"] for _t, a in boxes}
        more = dom.find("select", **{"data-add-to": f"f-{name}-choices"})
        if more and "data-options-from" in more[0]:  # copied by the script from that select, less the skipped
            assert option_values(dom, more[0]["id"]) == []
            skip = set(more[0]["data-options-skip"].split())
            copied = [v for v in option_values(dom, more[0]["data-options-from"]) if v not in skip]
            assert len(copied) == len(set(copied)) and not set(copied) & offered, name
            offered |= set(copied)
        elif more:
            offered |= set(option_values(dom, more[0]["id"]))
        assert offered == enum_values(SCHEMA["properties"][name]["items"]), name
    group = dom.find("fieldset", **{"data-field": "citizenships"})[0]
    assert group["data-max-items"] == "5"


def test_municipality_depends_on_kosovo_and_follows_the_country(client: FlaskClient) -> None:
    dom = page(client, "en")
    wrapper = dom.find(**{"data-field": "origin_municipality"})[0]
    assert wrapper["data-depends-on"] == "origin_country" and wrapper["data-depends-value"] == "XK"
    fields = [a["data-field"] for _t, a in dom.elements if a.get("data-field")]
    assert fields[fields.index("origin_country") + 1] == "origin_municipality"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_control_is_labelled_and_its_descriptions_exist(client: FlaskClient, lang: str) -> None:
    dom = page(client, lang)
    label_for = {a["for"] for a in dom.find("label") if a.get("for")}
    ids = dom.ids()
    for tag, attrs in dom.elements:
        if tag in ("input", "select") and attrs.get("type") not in ("radio", "checkbox"):
            assert attrs.get("id") in label_for, attrs
        for ref in (attrs.get("aria-describedby") or "").split():
            assert ref in ids, (attrs, ref)
    for wrapper in dom.find(**{"data-field": "sex"}) + dom.find(**{"data-field": "languages"}):
        assert f"{wrapper['id']}-error" in wrapper["aria-describedby"].split()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_language_attribute_and_switch(client: FlaskClient, lang: str) -> None:
    dom = page(client, lang)
    html = dom.find("html")[0]
    assert html["lang"] == {"sq": "sq", "en": "en", "sr": "sr-Cyrl", "de": "de"}[lang]
    links = {a["href"]: a for a in dom.find("a") if a.get("hreflang")}
    assert set(links) == set(PAGES.values())
    assert links[PAGES[lang]].get("aria-current") == "page"
    assert dom.find("form")[0]["data-lang"] == lang


@pytest.mark.parametrize(
    ("lang", "texts"),
    [
        ("sq", ["Regjistrohuni si pjesëtar i diasporës", "Gjermani", "Kosovë", "Prizren", "Vuloseni dhe dërgojeni"]),
        ("en", ["Register as a member of the diaspora", "Germany", "Prizren", "Ferizaj/Uroševac"]),
        ("sr", ["Региструјте се као припадник дијаспоре", "Немачка", "Призрен", "Урошевац"]),
        ("de", ["Registrieren Sie sich als Mitglied der Diaspora", "Deutschland", "Sekundarbereich II"]),
    ],
)
def test_pages_are_in_their_language(client: FlaskClient, lang: str, texts: list[str]) -> None:
    html = client.get(PAGES[lang]).get_data(as_text=True)
    for text in texts:
        assert text in html, text


def test_unknown_language_is_not_found(client: FlaskClient) -> None:
    assert client.get("/fr/").status_code == 404


# ---- translations and labels ------------------------------------------------


def source_messages() -> set[str]:
    """Every message of the page and of the published report (the catalogues are shared)."""
    method_map = [("forms.py", "python"), ("templates/**.html", "jinja2")]
    found = list(extract_from_dir(INTAKE, method_map, keywords={"_": None, "_l": None, "gettext": None}))
    report = INTAKE.parent / "publication" / "report"
    report_map = [("*.py", "python"), ("templates/**.html", "jinja2")]
    found += extract_from_dir(report, report_map, keywords={"_": None, "_l": None, "say": None, "plain": None})
    return {message for _file, _line, message, _comments, _context in found}


def catalogue(lang: str) -> Any:
    with (TRANSLATIONS_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=lang)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_is_translated_with_its_placeholders(lang: str) -> None:
    cat = catalogue(lang)
    ids = {m.id for m in cat if m.id}
    assert ids == source_messages(), "catalogue out of date: see docs/registrant-page.md (pybabel extract/update)"
    for message in cat:
        if not message.id:
            continue
        assert message.string, f"{lang}: untranslated {message.id!r}"
        assert not message.fuzzy, f"{lang}: fuzzy {message.id!r}"
        assert re.findall(r"\{\w+\}", message.string) == re.findall(r"\{\w+\}", message.id), message.id


def test_albanian_uses_its_letters() -> None:
    text = " ".join(m.string for m in catalogue("sq") if m.id)
    assert "ë" in text and "ç" in text


def test_serbian_is_cyrillic() -> None:
    for message in catalogue("sr"):
        if message.id:
            latin_words = re.findall(
                r"\b[a-zA-Z]{4,}\b",
                re.sub(r"\{\w+\}|\S+@\S+|JavaScript|Firefox|Chrome|Edge|Safari|SHA|OpenDP|ISCO", "", message.string),
            )
            assert not latin_words, (message.id, latin_words)


# Code lists whose names come from CLDR through Babel, not from labels.json.
CLDR_LISTS = frozenset({"country", "residence_country", "language"})


def code_lists(schema: dict[str, Any], props: dict[str, Any]) -> dict[str, set[str]]:
    """Each coded member of `props` (an enum, an array of one, or a $ref to a
    code list of `schema`) with its codes, leaving out the CLDR lists."""
    out: dict[str, set[str]] = {}
    for name, prop in props.items():
        prop = prop.get("items", prop) if prop.get("type") == "array" else prop
        ref = prop.get("$ref", "")
        if ref:
            target = ref.rsplit("/", 1)[-1]
            if target in CLDR_LISTS or "enum" not in schema["$defs"][target]:
                continue
            out[name] = set(schema["$defs"][target]["enum"])
        elif "enum" in prop:
            out[name] = set(prop["enum"])
    return out


def test_labels_cover_every_code_list_in_every_language() -> None:
    """labels.json has exactly the code lists of the version 1 record and of the
    version 2 kinds (household, member, business, association), with each list's
    codes and a label in every page language; a list in either schema without
    labels, or labels for a code no schema has, fails."""
    labels = schemas.load("labels.json")
    assert labels["languages"] == list(LANGUAGES)
    kinds = schemas.load("registration-kinds.schema.json")
    lists = code_lists(SCHEMA, SCHEMA["properties"])
    for kind in ("household", "member", "business", "association"):
        for name, codes in code_lists(kinds, kinds["$defs"][kind]["properties"]).items():
            assert lists.setdefault(name, codes) == codes, f"{name} has two different code lists"
    assert {"sex", "sector", "size", "field", "members_band", "relationship"} <= set(lists)
    assert set(labels["fields"]) == set(lists)
    for name, by_code in labels["fields"].items():
        assert set(by_code) == lists[name], name
        for code, names in by_code.items():
            assert set(names) == set(LANGUAGES) and all(names.values()), (name, code)


def test_options_are_sorted_in_each_language() -> None:
    assert sorted(["Zvicër", "Çad", "Cipro", "Egjipt", "Ëndërr"], key=lambda t: collation_key("sq", t)) == [
        "Cipro",
        "Çad",
        "Egjipt",
        "Ëndërr",
        "Zvicër",
    ]
    assert sorted(["Ђаковица", "Дечани", "Ерменија"], key=lambda t: collation_key("sr", t)) == [
        "Дечани",
        "Ђаковица",
        "Ерменија",
    ]
    assert sorted(["Österreich", "Oman", "Polen"], key=lambda t: collation_key("de", t)) == [
        "Oman",
        "Österreich",
        "Polen",
    ]
    countries = next(f for s in build_form("de") for f in s.fields if f.name == "residence_country")
    labels = [o.label for o in countries.options]
    assert labels == sorted(labels, key=lambda t: collation_key("de", t))
