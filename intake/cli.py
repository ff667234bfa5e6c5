"""The `intake` command: install key bundles, serve, export batches."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from vault import VaultError

from .config import IntakeConfig
from .export import ExportFailed, export_batch
from .keyring import add_bundle, load_keyring
from .log_cmd import log
from .page_cmd import page
from .store import StoreError
from .store_cmd import store, store_option
from .tlog import ensure_log_key

F = TypeVar("F", bound=Callable[..., Any])

data_option = click.option(
    "--data", "data_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Intake data directory."
)


def friendly_errors(func: F) -> F:
    """Turn expected failures into one line on stderr and exit status 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (VaultError, OSError, ValueError, ExportFailed) as exc:
            click.echo(f"intake: error: {exc}", err=True)
            sys.exit(1)
        except StoreError as exc:  # a damaged store or log, or a full disk
            click.echo(f"intake: error: the intake store: {exc}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]  # wraps keeps func's signature; mypy cannot see it


@click.group()
def main() -> None:
    """Diaspora Registry intake server (online; holds no private key)."""


@main.group()
def keys() -> None:
    """Manage the ministry key bundles envelopes may be sealed to."""


@keys.command("add")
@data_option
@click.argument("bundle_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--rotation",
    "rotation_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The rotation statement (V/key-rotation.json) that endorses a rotated key's new signing key.",
)
@friendly_errors
def keys_add(data_dir: Path, bundle_file: Path, rotation_file: Path | None) -> None:
    """Install a signed public key bundle (it becomes the current key)."""
    try:
        obj = json.loads(bundle_file.read_text(encoding="utf-8"))
        rotation = json.loads(rotation_file.read_text(encoding="utf-8")) if rotation_file else None
    except ValueError:
        raise ValueError(f"{rotation_file if rotation_file else bundle_file} is not JSON") from None
    config = IntakeConfig(data_dir=data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    bundle, new = add_bundle(config.keys_path, obj, rotation=rotation)
    state = "installed" if new else "already installed"
    ring = load_keyring(config.keys_path)
    if ring.current == bundle.kid:
        click.echo(f"key {bundle.kid} {state}; it is the current key (fingerprint {bundle.kid[:16]})")
    else:
        click.echo(
            f"key {bundle.kid} {state}; it is the X25519 companion of the current key {ring.current}:"
            " the page seals to it, with a notice, in a browser without X-Wing"
        )
    signer, made = ensure_log_key(data_dir)
    if made:
        click.echo(f"transparency log key made: {signer.verifier().encode()} (see `intake log key`)")


@main.command()
@data_option
@store_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="0: any free port.")
@click.option("--create", is_flag=True, help="Make the data directory if it does not exist (a new, empty intake).")
@click.option(
    "--allow-no-key",
    is_flag=True,
    help="Serve even with no key bundle installed (staging only: the page cannot seal, every submission is refused).",
)
@click.option(
    "--proof-of-work/--no-proof-of-work",
    default=True,
    show_default=True,
    help="Ask each submission for a solved challenge (off: only for a trusted channel).",
)
@click.option(
    "--pow-levels",
    default=None,
    metavar="RATE:MAXNUMBER,...",
    help="Proof-of-work difficulty by verified submissions per second "
    "(default 0:100000,30:250000,100:500000,250:1000000; docs/operations.md, section 8).",
)
@click.option(
    "--rate-limit/--no-rate-limit", default=True, show_default=True, help="Limit submissions per client, in memory."
)
@click.option(
    "--client-address-header",
    default=None,
    metavar="NAME",
    help="The header a trusted reverse proxy puts the client's address in (for the rate limits).",
)
@friendly_errors
def serve(
    data_dir: Path,
    store_url: str | None,
    host: str,
    port: int,
    create: bool,
    allow_no_key: bool,
    proof_of_work: bool,
    pow_levels: str | None,
    rate_limit: bool,
    client_address_header: str | None,
) -> None:
    """Run the development server (production: gunicorn, see docs/operations.md).

    Refuses a data directory that does not exist (unless --create) and one
    with no key bundle installed (unless --allow-no-key). Proof of work and
    rate limits are on unless turned off (docs/operations.md, section 8)."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    from . import create_app
    from .pow import Difficulty
    from .preflight import check, defences_warning
    from .ratelimit import RateLimits

    warning = check(
        data_dir,
        create=create,
        allow_no_key=allow_no_key,
        create_hint="check the path, or pass --create to start a new, empty intake there",
        allow_hint="pass --allow-no-key to serve without one (staging only)",
    )
    try:
        difficulty = Difficulty.parse(pow_levels) if pow_levels else Difficulty()
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--pow-levels") from None
    config = IntakeConfig(
        data_dir=data_dir,
        store_url=store_url,
        proof_of_work=proof_of_work,
        difficulty=difficulty,
        rate_limits=RateLimits() if rate_limit else None,
        client_address_header=client_address_header,
    )
    for line in (warning, defences_warning(config)):
        if line:
            click.echo(f"intake: WARNING: {line}", err=True)

    class QuietHandler(WSGIRequestHandler):
        """Logs nothing about requests: no client address, no time, no user agent."""

        def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002 - werkzeug's signature
            return

    app = create_app(config)
    server = make_server(host, port, app, threaded=True, request_handler=QuietHandler)

    # socketserver prints the client's address with a request's uncaught error: log it without.
    def handle_error(request: Any, client_address: Any) -> None:
        app.logger.exception("a request failed")

    server.handle_error = handle_error  # type: ignore[method-assign]  # on this instance only, as socketserver allows
    click.echo(f"intake serving on http://{host}:{server.server_port}/ (Ctrl-C to stop)", err=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


@main.command()
@data_option
@store_option
@click.option(
    "--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Batch file to write (new)."
)
@click.option(
    "--from-seq",
    type=click.IntRange(min=1),
    default=None,
    help="Export again every envelope from this seq on (a lost or damaged batch); records nothing.",
)
@friendly_errors
def export(data_dir: Path, store_url: str | None, out: Path, from_seq: int | None) -> None:
    """Write every envelope not yet exported (or, with --from-seq, a range again) into one new batch file."""
    from tqdm import tqdm

    # A bar on a terminal only (disable=None); it clears itself when done.
    with tqdm(desc="exporting", unit="env", file=sys.stderr, disable=None, leave=False) as bar:

        def show(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        config = IntakeConfig(data_dir=data_dir, store_url=store_url)
        result = export_batch(config, out, progress=show, from_seq=from_seq)
    if result.count == 0:
        click.echo(
            f"nothing new to export: every envelope up to seq {result.last_seq} was exported before; no file written"
        )
        return
    again = " again (the next plain export is unchanged)" if result.again else ""
    click.echo(
        f"exported {result.count} envelope{'' if result.count == 1 else 's'}{again}"
        f" (seq {result.first_seq}..{result.last_seq}) to {out}; sha256 {result.sha256}"
    )


main.add_command(log)
main.add_command(page)
main.add_command(store)
