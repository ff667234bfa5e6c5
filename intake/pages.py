"""The registrant's pages: the form (one per language), its static files,
the static-asset manifest, and the headers every response carries.

Nothing here reads the client's address or user agent, sets a cookie, or
accepts form data: the page's script seals the record in the browser and
POSTs only the envelope to `/api/v1/submissions`.

Translations: `schemas/translations/<lang>/LC_MESSAGES/messages.po` are compiled to
`.mo` at app start into a private temporary directory (removed when the app
is collected or the process that made it exits), so no compiled catalogue is
committed and no build step is needed.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import os
import re
import shutil
import tempfile
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Blueprint, Flask, Request, Response, abort, jsonify, render_template, request
from flask.blueprints import BlueprintSetupState
from flask.sessions import SessionInterface, SessionMixin
from flask_babel import Babel, force_locale
from markupsafe import Markup, escape

import schemas
from vault.pagetrust import PIN_PATH, pin_asset

from .config import IntakeConfig
from .forms import LANGUAGES, build_form, build_kinds, kind_chooser
from .keyring import load_keyring

__all__ = [
    "DEFAULT_HEADERS",
    "HTML_LANG",
    "LAZY_ASSETS",
    "MANIFEST_PATH",
    "SECURITY_HEADERS",
    "SIGNED_MANIFEST_NAME",
    "SIGNED_MANIFEST_PATH",
    "init_app",
    "make_blueprint",
]

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TRANSLATIONS_DIR = schemas.TRANSLATIONS_DIR  # shared with the published report
MANIFEST_PATH = "/.well-known/dvr-static-manifest.json"
MANIFEST_FORMAT = "dvr-static-manifest/1"
SIGNED_MANIFEST_PATH = "/.well-known/dvr-static-manifest.sig"
SIGNED_MANIFEST_NAME = "static-manifest.sig"  # in the data directory, written by `intake page install`
DEFAULT_LANG = "sq"

# The `lang` attribute of each page. Serbian is written in Cyrillic here (docs/registrant-page.md).
HTML_LANG = {"sq": "sq", "en": "en", "sr": "sr-Cyrl", "de": "de"}
# Each language's name in itself, for the language switch.
NATIVE_NAMES = {"sq": "Shqip", "en": "English", "sr": "Српски", "de": "Deutsch"}

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "autoplay",
        "browsing-topics",
        "camera",
        "display-capture",
        "encrypted-media",
        "fullscreen",
        "geolocation",
        "gyroscope",
        "hid",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "picture-in-picture",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
)
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Permissions-Policy": PERMISSIONS_POLICY,
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
# Every response's headers unless its route sets its own: the security
# headers and no caching. The one list: Flask's after-request hook and
# api.SubmissionHandler (which answers in front of Flask) both use it.
DEFAULT_HEADERS: tuple[tuple[str, str], ...] = (*SECURITY_HEADERS.items(), ("Cache-Control", "no-store"))
_MIMETYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".html": "text/html",
}

# The record kinds' script and, per language, their sections (docs/registrant-page.md, "Record
# kinds"): loaded by form.js only when a kind other than the individual is chosen, each checked
# against the SHA-256 the page carries (so the signed manifest's hash of the page covers them).
KINDS_SCRIPT = "kinds.js"


def kinds_fragment(lang: str) -> str:
    return f"kinds-{lang}.html"


# The assets a page loads only when a registrant uses what needs them: the page weight budget
# (tests/test_pages.py, bench/bench_page.py) counts every other asset with each page.
LAZY_ASSETS = frozenset(
    f"/assets/{name}" for name in ("verify.js", "control.js", KINDS_SCRIPT, *map(kinds_fragment, LANGUAGES))
)


class _NoSession(SessionInterface):
    """No session at all: reading gives an empty one, writing raises, and no
    cookie is ever set, even if a secret key is configured."""

    def open_session(self, app: Flask, request: Request) -> SessionMixin:
        return self.make_null_session(app)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        return None


def _default_headers(response: Response) -> Response:
    for name, value in DEFAULT_HEADERS:
        response.headers.setdefault(name, value)
    # Belt and braces for the no-cookie rule, whatever else might try to set one.
    response.headers.pop("Set-Cookie", None)
    return response


def _compile_catalogues(dest: Path) -> None:
    for po_path in sorted(TRANSLATIONS_DIR.glob("*/LC_MESSAGES/messages.po")):
        lang = po_path.parent.parent.name
        with po_path.open("rb") as po:
            catalog = read_po(po, locale=lang)
        out_dir = dest / lang / "LC_MESSAGES"
        out_dir.mkdir(parents=True)
        with (out_dir / "messages.mo").open("wb") as mo:
            write_mo(mo, catalog, use_fuzzy=False)


def _remove_catalogues(path: Path, owner_pid: int) -> None:
    # Only in the process that made them: a forked worker (gunicorn --preload)
    # exiting must not take them away from its parent and siblings.
    if os.getpid() == owner_pid:
        shutil.rmtree(path, ignore_errors=True)


_UNQUOTED_VALUE = re.compile(r"[A-Za-z0-9_.-]+")


def _option_value(value: object) -> str:
    """An attribute value written without quotes (an option's value, a control's
    name or id: two bytes saved on each of the page's thousand options and
    hundred controls); only a code that needs none passes."""
    text = str(value)
    if not _UNQUOTED_VALUE.fullmatch(text):
        raise ValueError(f"an unquoted attribute value must be letters, digits, _, . or -: {text!r}")
    return text


def _code_value(value: object) -> Markup:
    """A code as an attribute value: without quotes when it needs none (`bare`),
    quoted otherwise (a members band such as 1000+)."""
    text = str(value)
    return escape(text) if _UNQUOTED_VALUE.fullmatch(text) else Markup('"{}"').format(text)


def _select_locale() -> str:
    lang = (request.view_args or {}).get("lang", DEFAULT_LANG)
    return lang if lang in LANGUAGES else DEFAULT_LANG


def init_app(app: Flask, config: IntakeConfig) -> None:
    """Set up translations, the cookieless session and the response headers."""
    catalogues = Path(tempfile.mkdtemp(prefix="dvr-intake-translations-"))
    weakref.finalize(app, _remove_catalogues, catalogues, os.getpid())
    _compile_catalogues(catalogues)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(catalogues)
    app.config["BABEL_DEFAULT_LOCALE"] = DEFAULT_LANG
    Babel(app, locale_selector=_select_locale)
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    app.jinja_env.filters["bare"] = _option_value
    app.jinja_env.filters["code"] = _code_value
    app.session_interface = _NoSession()
    app.after_request(_default_headers)


class _StaticFiles:
    """The static assets, read once at start, and the generated ones (the pin
    asset): served from memory with their SHA-256 as ETag, so what is served
    is exactly what the manifest lists."""

    def __init__(self, root: Path, generated: Mapping[str, bytes]) -> None:
        self.files: dict[str, tuple[bytes, str, str]] = {}
        self.add({p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()})
        self.add(generated)

    def add(self, generated: Mapping[str, bytes]) -> None:
        if set(self.files) & set(generated):
            raise RuntimeError(
                f"a committed static file shadows a generated one: {sorted(set(self.files) & set(generated))}"
            )
        for name, data in generated.items():
            suffix = Path(name).suffix
            mimetype = _MIMETYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
            self.files[name] = (data, mimetype, hashlib.sha256(data).hexdigest())
        self.files = dict(sorted(self.files.items()))

    def integrity(self, name: str) -> str:
        """The file's Subresource Integrity value (sha256-<base64>), for the page to check it by."""
        return "sha256-" + base64.b64encode(bytes.fromhex(self.files[name][2])).decode("ascii")

    def response(self, name: str) -> Response:
        if name not in self.files:
            abort(404)
        data, mimetype, digest = self.files[name]
        fresh = request.if_none_match.contains(digest)
        response = Response(status=304) if fresh else Response(data, mimetype=mimetype)
        response.set_etag(digest)
        response.headers["Cache-Control"] = "no-cache"
        return response


def render_page(lang: str, integrity: Mapping[str, str]) -> str:
    """The registration page in `lang` (call inside a request context); `integrity`: the SRI values
    of the kinds' script (`js`) and of this language's fragment (`html`)."""
    with force_locale(lang):
        return render_template(
            "register.html",
            lang=lang,
            html_lang=HTML_LANG[lang],
            languages=[(code, NATIVE_NAMES[code], HTML_LANG[code], page_url(code)) for code in LANGUAGES],
            sections=build_form(lang),
            chooser=kind_chooser(),
            integrity=integrity,
        )


def render_kinds(lang: str) -> str:
    """The record kinds' sections in `lang`, the fragment kinds.js inserts (call inside a request context)."""
    with force_locale(lang):
        return render_template("kinds.html", kinds=build_kinds(lang))


def page_url(lang: str) -> str:
    return "/" if lang == DEFAULT_LANG else f"/{lang}/"


def make_blueprint(config: IntakeConfig) -> Blueprint:
    bp = Blueprint("pages", __name__, template_folder="templates")
    # Served under /assets/, not /static/, so that Flask's own static route (if
    # the app keeps one) can never shadow the in-memory copy the manifest lists.
    # The pin asset is made once, here: editing keys.json later changes the
    # keys the API lists, never the key the page trusts (until a restart).
    pinned = load_keyring(config.keys_path).pinned_signing_key()
    static = _StaticFiles(STATIC_DIR, {PIN_PATH.removeprefix("/assets/"): pin_asset(pinned)})
    signed_manifest = config.data_dir / SIGNED_MANIFEST_NAME
    others = ",".join(code for code in LANGUAGES if code != DEFAULT_LANG)

    @bp.record_once
    def add_kinds_fragments(state: BlueprintSetupState) -> None:
        # Rendered once, when the app registers this blueprint: served from memory like the rest.
        app = cast(Flask, state.app)  # registered on a Flask app (create_app, page_cmd)
        with app.test_request_context():
            static.add({kinds_fragment(lang): render_kinds(lang).encode("utf-8") for lang in LANGUAGES})

    def render(lang: str) -> str:
        integrity = {"js": static.integrity(KINDS_SCRIPT), "html": static.integrity(kinds_fragment(lang))}
        return render_page(lang, integrity)

    def page(lang: str) -> Response:
        return Response(render(lang), mimetype="text/html")

    @bp.get("/")
    def index() -> Response:
        return page(DEFAULT_LANG)

    @bp.get(f"/<any({others}):lang>/")
    def translated(lang: str) -> Response:
        return page(lang)

    @bp.get("/assets/<path:name>")
    def static_file(name: str) -> Response:
        return static.response(name)

    @bp.get("/favicon.ico")
    def favicon() -> Response:
        # Browsers ask for it unprompted; "no content" instead of a 404 in the registrant's console.
        return Response(status=204)

    @bp.get(MANIFEST_PATH)
    def manifest() -> Response:
        body: dict[str, Any] = {
            "format": MANIFEST_FORMAT,
            "algorithm": "sha256",
            "assets": {f"/assets/{name}": digest for name, (_d, _m, digest) in static.files.items()},
            "pages": {page_url(lang): hashlib.sha256(render(lang).encode("utf-8")).hexdigest() for lang in LANGUAGES},
        }
        return jsonify(body)

    @bp.get(SIGNED_MANIFEST_PATH)
    def signed() -> Response:
        # Read at each request (auditors only): `intake page install` takes effect without a restart.
        try:
            note = signed_manifest.read_bytes()
        except FileNotFoundError:
            return Response(
                "no signed static manifest is installed (intake page install)\n", 404, mimetype="text/plain"
            )
        return Response(note, mimetype="text/plain")

    return bp
