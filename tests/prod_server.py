"""The production intake (gunicorn with intake/gunicorn_conf.py) on a free
loopback port, and a small HTTP client, for the crash and export tests."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
TESTS = Path(__file__).resolve().parent


def faulty_app(data_dir: str, max_pages: int) -> Any:
    """For gunicorn (`prod_server:faulty_app('D', N)`): the real intake over
    `data_dir`, its database capped at `max_pages` pages (a full disk, as
    SQLite reports one: submissions get 503), with two routes that raise, so
    that a test can make the server answer 500 under /api/ and elsewhere."""
    from intake import IntakeConfig, create_app

    app = create_app(IntakeConfig(data_dir=Path(data_dir), max_pages=max_pages))

    def boom() -> Any:
        raise RuntimeError("a fault the test put in")

    app.add_url_rule("/boom", "boom", boom)
    app.add_url_rule("/api/v1/boom", "api_boom", boom)
    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ProdServer:
    """gunicorn -c python:intake.gunicorn_conf 'intake.wsgi:from_environ()'.

    `app` names another application (gunicorn's syntax), `cwd` the server's
    working directory, `env` more environment variables (proof of work and
    rate limits are off unless it sets them on)."""

    def __init__(
        self,
        data_dir: Path,
        log_path: Path,
        *gunicorn_args: str,
        app: str = "intake.wsgi:from_environ()",
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        # The flood defences are off unless `env` turns them on (tests/test_pow_prod.py):
        # the other tests send many envelopes from one address, unsolved.
        defences = {"DVR_INTAKE_PROOF_OF_WORK": "off", "DVR_INTAKE_RATE_LIMIT": "off"}
        environ = {**os.environ, "DVR_INTAKE_DATA": str(data_dir), **defences, **(env or {})}
        self.proc = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "-c",
                "python:intake.gunicorn_conf",
                "-b",
                f"127.0.0.1:{self.port}",
                "--pythonpath",
                str(TESTS),
                *gunicorn_args,
                app,
            ],
            env=environ,
            cwd=cwd,
            stdout=self._log,
            stderr=self._log,
            start_new_session=True,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}")
            try:
                status, _ = request("127.0.0.1", self.port, "GET", "/api/v1/log/checkpoint", timeout=1.0)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("gunicorn did not become ready")

    def pids(self) -> list[int]:
        """The master and its workers, by id."""
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            children = []
        return [int(c) for c in children] + [self.proc.pid]

    def kill(self) -> None:
        """SIGKILL the workers and the master, as a crash would."""
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        self._log.close()


def request(
    host: str, port: int, method: str, path: str, body: bytes | None = None, timeout: float = 10.0
) -> tuple[int, Any]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        ctype = resp.getheader("Content-Type", "")
        return resp.status, json.loads(data) if ctype.startswith("application/json") else data.decode()
    finally:
        conn.close()
