"""Shared fixtures: fast KDF costs, keys, a real intake server on loopback."""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

import vault
from intake import IntakeConfig, create_app
from intake.keyring import add_bundle

os.environ["DVR_INSECURE_FAST_KDF"] = "1"  # the CLIs use libsodium's minimum Argon2id costs


@pytest.fixture
def vault_dir(tmp_path: Path) -> Path:
    """A vault made by `keyholder init` with a passphrase file (`pp` beside it)."""
    from support import run

    (tmp_path / "pp").write_text("correct horse battery\n")
    proc = run("keyholder", "init", "--vault", tmp_path / "V", "--passphrase-file", tmp_path / "pp")
    assert proc.returncode == 0, proc.stderr
    return tmp_path / "V"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Any]:
    """One throwaway PostgreSQL server for the session (tests/pg_support.py)."""
    from pg_support import PgCluster

    cluster = PgCluster("session").start()
    try:
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def pg_url(pg_cluster: Any) -> str:
    """The URL of a new, empty database on the session's PostgreSQL."""
    return str(pg_cluster.new_database())


@pytest.fixture
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """The envelope store a test runs on (tests/store_backends.py): SQLite in
    tmp_path/intake, or, for a test marked `@both_stores`, each store in
    turn, PostgreSQL in a new schema of the session's server."""
    from store_backends import PostgresBackend, SQLiteBackend

    if getattr(request, "param", "sqlite") == "sqlite":
        return SQLiteBackend(tmp_path / "intake")
    return PostgresBackend(request.getfixturevalue("pg_cluster").new_schema())


@pytest.fixture(scope="session")
def ministry_key() -> vault.UnlockedKey:
    return vault.derive_keys(bytes(range(32)))


class _Quiet(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002
        return


@dataclass
class Server:
    url: str
    config: IntakeConfig
    backend: Any  # its store, for reading it back (tests/store_backends.py)

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json"
    ) -> tuple[int, dict[str, Any]]:
        req = urllib.request.Request(self.url + path, data=body, method=method)
        if body is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def submit(self, envelope: dict[str, Any] | bytes) -> tuple[int, dict[str, Any]]:
        body = envelope if isinstance(envelope, bytes) else json.dumps(envelope).encode()
        return self.request("POST", "/api/v1/submissions", body)


@pytest.fixture
def intake_server(tmp_path: Path, ministry_key: vault.UnlockedKey, backend: Any) -> Iterator[Server]:
    """A real intake (create_app + werkzeug) on a free loopback port, with the
    test key installed, on the `backend` store."""
    config = IntakeConfig(data_dir=tmp_path / "intake", store_url=backend.url)
    config.data_dir.mkdir(exist_ok=True)
    add_bundle(config.keys_path, ministry_key.bundle().to_json())
    app = create_app(config)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{server.server_port}", config, backend)
    finally:
        server.shutdown()
        app.extensions["dvr_store"].close()
        app.extensions["dvr_log"].close()
