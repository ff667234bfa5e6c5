"""What a server checks before it starts (`intake serve`, and gunicorn
through intake/gunicorn_conf.py and intake/wsgi.py): its data directory
exists (a mistyped path would start a new, empty store and log key without
a word), and a key bundle is installed (without one the page cannot seal a
registration). `create_app` itself checks neither, so that tests can build
an app on a fresh directory."""

from __future__ import annotations

import os
from pathlib import Path

from vault import VaultError

from .config import STORE_ENV, IntakeConfig
from .keyring import load_keyring

__all__ = ["ALLOW_NO_KEY_ENV", "DATA_ENV", "NotReady", "check", "check_environ", "check_store", "defences_warning"]

DATA_ENV = "DVR_INTAKE_DATA"
ALLOW_NO_KEY_ENV = "DVR_INTAKE_ALLOW_NO_KEY"


class NotReady(ValueError):
    """The server must not start: the message says why and what to do."""


def check(data_dir: Path, *, create: bool, allow_no_key: bool, create_hint: str, allow_hint: str) -> str | None:
    """Refuse (NotReady) a missing data directory unless `create` (then make
    it), and a directory with no key installed unless `allow_no_key` (then
    return the warning to print). The hints name the caller's switch."""
    if not data_dir.exists():
        if not create:
            raise NotReady(f"the data directory {data_dir} does not exist (a typo?); {create_hint}")
        data_dir.mkdir(parents=True)
    elif not data_dir.is_dir():
        raise NotReady(f"the data directory {data_dir} is not a directory")
    try:
        ring = load_keyring(IntakeConfig(data_dir=data_dir).keys_path)
    except (VaultError, ValueError) as exc:  # a damaged keys.json
        raise NotReady(str(exc)) from None
    if ring.current is not None:
        return None
    problem = f"no key bundle is installed in {data_dir}, so the registration page cannot seal a registration"
    if allow_no_key:
        return f"{problem}; serving anyway, as asked: every submission will be refused until `intake keys add`"
    raise NotReady(
        f"{problem}; install the ministry's bundle first (intake keys add --data {data_dir} key-bundle.json),"
        f" or {allow_hint}"
    )


def check_store(store_url: str | None) -> None:
    """Refuse a store URL that is not PostgreSQL's, or a database that cannot
    be reached, with libpq's reason on one line (never the password)."""
    if store_url is None:
        return
    try:
        IntakeConfig(data_dir=Path("."), store_url=store_url)
    except ValueError as exc:
        raise NotReady(f"{STORE_ENV}: {exc}") from None
    import psycopg

    from .store.postgres import one_line, where

    try:
        psycopg.connect(store_url, connect_timeout=10).close()
    except psycopg.Error as exc:
        raise NotReady(f"the intake store, PostgreSQL {where(store_url)}, cannot be reached: {one_line(exc)}") from None


def check_environ() -> str | None:
    """`check` for the production entry point: DVR_INTAKE_DATA names the
    directory (which must exist: make it for a new intake);
    DVR_INTAKE_ALLOW_NO_KEY=1 serves with no key installed (staging);
    DVR_INTAKE_STORE, if set, must be a PostgreSQL database that answers."""
    data = os.environ.get(DATA_ENV)
    if not data:
        raise NotReady(f"set {DATA_ENV} to the intake data directory")
    try:
        config = IntakeConfig.from_environ()
    except ValueError as exc:
        raise NotReady(str(exc)) from None
    check_store(config.store_url)
    warning = check(
        Path(data),
        create=False,
        allow_no_key=os.environ.get(ALLOW_NO_KEY_ENV) == "1",
        create_hint=f"set {DATA_ENV} to the right one, or make the directory (mkdir) for a new intake",
        allow_hint=f"set {ALLOW_NO_KEY_ENV}=1 to serve without one (staging only)",
    )
    return "; ".join(w for w in (warning, defences_warning(config)) if w) or None


def defences_warning(config: IntakeConfig) -> str | None:
    """The warning a server with a flood defence turned off prints at start."""
    switches = (("proof of work", config.proof_of_work), ("rate limits", config.rate_limits is not None))
    off = [name for name, on in switches if not on]
    if not off:
        return None
    return f"{' and '.join(off)} turned off: only for a trusted channel (docs/operations.md, section 8)"
