"""No log line of the intake carries a client's address or a time finer
than the day (ARCHITECTURE.md invariant 1): the production server
(gunicorn with intake/gunicorn_conf.py) and the development server
(`intake serve`) are sent every class of malformed request, a submission
cut short, requests that end in 500 and submissions refused with 503,
and then every byte they wrote is searched."""

from __future__ import annotations

import re
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prod_server import ProdServer, free_port
from support import submission

import vault
from intake.keyring import add_bundle

CLIENT = "127.0.0.1"
TIME_OF_DAY = re.compile(rb"(?<![\d.])\d{1,2}:\d{2}(?::\d{2})?(?!\d)")  # 9:05, 09:05:59; not host:port

# Each a request gunicorn refuses itself (and logs), or that the application refuses.
MALFORMED = {
    "bad-content-length": b"POST /api/v1/submissions HTTP/1.1\r\nHost: x\r\nContent-Length: 12a\r\n\r\n",
    "folded-header": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  b\r\n\r\n",
    "bare-lf": b"GET / HTTP/1.1\nHost: x\n\n",
    "http2-preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "lowercase-method": b"post /api/v1/submissions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
    "oversized-header": b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
    "too-many-headers": b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-N: 1\r\n" * 200 + b"\r\n",
    "bad-version": b"GET / HTTP/7.5\r\nHost: x\r\n\r\n",
    "bad-chunk": b"POST /api/v1/submissions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "short-body": b"POST /api/v1/submissions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 500\r\n\r\n{}",
}


class Client:
    """Opens each connection from 127.0.0.1 and a source port it remembers."""

    def __init__(self, port: int, avoid: set[int], host: str = CLIENT) -> None:
        self.host, self.port = host, port
        self.avoid = avoid  # numbers the server wrote before (process ids): not a finding
        self.used: list[int] = []

    def send(self, data: bytes, *, close_early: bool = False) -> bytes:
        sock = socket.socket()
        while True:
            sock.bind((CLIENT, 0))
            if sock.getsockname()[1] not in self.avoid:
                break
            sock.close()
            sock = socket.socket()
        self.used.append(sock.getsockname()[1])
        sock.settimeout(10)
        try:
            sock.connect((self.host, self.port))
            sock.sendall(data)
            if close_early:
                sock.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
                if not close_early and b"\r\n\r\n" in answer and b"Connection: close" not in data:
                    break
            return answer
        except OSError:
            return b""
        finally:
            sock.close()


def written(root: Path, before: dict[Path, bytes] | None = None) -> dict[Path, bytes]:
    """Every file under `root` the server made or changed (not one `before`
    holds as it is now, such as the key bundle the test installed)."""
    now = {path: path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}
    return {path: data for path, data in now.items() if (before or {}).get(path) != data}


def text_of(path: Path, data: bytes) -> bytes:
    """What to search for a port or a time: a database's text values (its
    pages hold random hash bytes, where five digits can occur by chance),
    any other file as it is."""
    if not data.startswith(b"SQLite format 3\x00"):
        return data
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        values = []
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            for row in conn.execute(f'SELECT * FROM "{table}"'):  # noqa: S608 - a table name the database gave
                values += [v.encode() if isinstance(v, str) else b"" for v in row]
        return b"\n".join(values)
    finally:
        conn.close()


def assert_private(files: dict[Path, bytes], ports: list[int]) -> None:
    assert files, "the server wrote nothing at all"
    for path, data in files.items():
        assert CLIENT.encode() not in data, (path, data[:2000])
        assert socket.inet_aton(CLIENT) not in data, path
        text = text_of(path, data)
        for port in ports:
            found = re.search(rb"(?<!\d)%d(?!\d)" % port, text)
            assert found is None, (path, port, text[max(0, found.start() - 200) : found.end() + 200])
        found = TIME_OF_DAY.search(text)
        assert found is None, (path, text[max(0, found.start() - 200) : found.end() + 200])


def numbers_in(data: bytes) -> set[int]:
    return {int(n) for n in re.findall(rb"\d+", data)}


def fill_until_503(client: Client, key: vault.UnlockedKey) -> list[int]:
    statuses = []
    for i in range(300):
        body = vault.seal(submission() + b" %d" % i, key.public_key).canonical()
        head = (
            b"POST /api/v1/submissions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        answer = client.send(head + body)
        statuses.append(int(answer.split(b" ", 2)[1]))
        if statuses[-1] == 503:
            break
    return statuses


def test_the_production_server_logs_no_address_and_no_time_of_day(tmp_path, ministry_key):
    data, cwd, log = tmp_path / "intake", tmp_path / "cwd", tmp_path / "out" / "gunicorn.log"
    data.mkdir()
    cwd.mkdir()
    log.parent.mkdir()
    add_bundle(data / "keys.json", ministry_key.bundle().to_json())
    from intake import IntakeConfig, create_app  # make the database, then cap it a little above its size

    create_app(IntakeConfig(data_dir=data)).extensions["dvr_store"].close()
    conn = sqlite3.connect(data / "intake.sqlite")
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    app = f"prod_server:faulty_app({str(data)!r}, {pages + 6})"
    installed = written(data)
    server = ProdServer(data, log, "--workers=2", app=app, cwd=cwd, env={"PYTHONUNBUFFERED": "1"})
    try:
        client = Client(server.port, numbers_in(log.read_bytes()))
        answers = {name: client.send(raw) for name, raw in MALFORMED.items() if name != "short-body"}
        answers["short-body"] = client.send(MALFORMED["short-body"], close_early=True)
        for name, answer in answers.items():
            assert answer.startswith(b"HTTP/1.1 4") or answer == b"", (name, answer[:300])
        for path in (b"/boom", b"/api/v1/boom"):
            answer = client.send(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path)
            assert answer.startswith(b"HTTP/1.1 500"), answer[:300]
        statuses = fill_until_503(client, ministry_key)
        assert statuses[-1] == 503 and 201 in statuses, statuses
        time.sleep(0.5)
    finally:
        server.stop()
    output = log.read_bytes()
    assert b"Invalid request" in output and b"a fault the test put in" in output  # it did log them
    assert b"storage unavailable" in output
    assert_private(written(log.parent) | written(data, installed) | written(cwd), client.used)


def test_the_development_server_logs_no_address_and_no_time_of_day(tmp_path, ministry_key):
    data, cwd = tmp_path / "intake", tmp_path / "cwd"
    data.mkdir()
    cwd.mkdir()
    add_bundle(data / "keys.json", ministry_key.bundle().to_json())
    installed = written(data)
    # Served on another loopback address: the server may print its own (the
    # line that says where it serves); the client's is 127.0.0.1.
    host, port = "127.0.0.2", free_port()
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "intake"),
            "serve",
            "--data",
            str(data),
            "--host",
            host,
            "--port",
            str(port),
        ],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(200):
            try:
                socket.create_connection((host, port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        client = Client(port, set(), host)
        for name, raw in MALFORMED.items():
            answer = client.send(raw, close_early=name == "short-body")
            assert not answer.startswith(b"HTTP/1.1 5"), (name, answer[:300])
        assert client.send(b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 404")
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    files = {Path("stdout"): out, Path("stderr"): err} | written(data, installed) | written(cwd)
    assert_private(files, client.used)


@pytest.mark.parametrize(
    "line",
    [
        "Invalid request from ip=127.0.0.1: Invalid HTTP Version 'HTTP/7.5'",
        "Invalid request from ip=::1: bad",
        "connection from ('10.1.2.3', 51234) reset",
        "peer [2001:db8::7]:443 and ::ffff:192.0.2.1 and fe80::1%eth0",
    ],
)
def test_the_formatter_removes_any_address_from_a_line(line):
    import logging

    from intake.logs import PrivateFormatter

    record = logging.LogRecord("gunicorn.error", logging.WARNING, __file__, 1, line, None, None)
    text = PrivateFormatter().format(record)
    assert not re.search(r"127\.0|::1|10\.1|51234|2001|db8|192\.0|fe80", text), text
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \[WARNING\] .+", text), text
