"""deploy/ for real, on loopback: Debian's nginx with the shipped
configuration (paths and ports substituted) and a self-signed certificate,
in front of the production gunicorn on a Unix socket. Through it: TLS 1.3
only, HSTS beside the intake's security headers, the body limit, the page in
Chromium seals and gets a receipt, 2,000 stalled clients leave /healthz and
submissions answering, and no file nginx or gunicorn wrote holds the client's
address or a time of day. Also `systemd-analyze verify` on the units."""

# Test functions take the fixtures imported below as parameters of the same name.
# ruff: noqa: F811

from __future__ import annotations

import http.client
import json
import os
import re
import resource
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prod_server import ProdServer, free_port
from support import submission
from test_browser_support import CHROMIUM, PEOPLE, chromium, fill_form, wait_until_ready  # noqa: F401

import vault
from intake.keyring import add_bundle
from intake.pages import SECURITY_HEADERS

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
HSTS = "max-age=63072000; includeSubDomains"
STALLED = 2000
BODY_TIMEOUT = 10  # s, client_body_timeout in deploy/nginx/diaspora-registry.conf
TIME_OF_DAY = re.compile(rb"\b\d{2}:\d{2}:\d{2}\b")

pytestmark = pytest.mark.skipif(
    not Path(NGINX).exists(), reason="needs Debian's nginx (apt-get install nginx; .ci/run installs it)"
)


@dataclass
class Front:
    """nginx in `prefix` on `port` (HTTPS) and `http_port`, gunicorn behind it."""

    prefix: Path
    port: int
    http_port: int
    context: ssl.SSLContext
    gunicorn: ProdServer
    gunicorn_log: Path
    key: vault.UnlockedKey
    written: set[Path]  # files the test wrote itself (configuration, certificate)

    @property
    def origin(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def tls(self, timeout: float = 5.0) -> ssl.SSLSocket:
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        return self.context.wrap_socket(raw, server_hostname="127.0.0.1")

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 5.0,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=self.context)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read()
        finally:
            conn.close()


def _substituted(text: str, replacements: dict[str, str]) -> str:
    """`text` with each key replaced; every key must occur, so the test fails
    when the shipped file changes under it rather than testing something else."""
    for old, new in replacements.items():
        assert old in text, f"the deploy/ template no longer has {old!r}"
        text = text.replace(old, new)
    return text


def _certificate(prefix: Path) -> tuple[Path, Path]:
    cert, key = prefix / "cert.pem", prefix / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        + ["-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


def _nginx_conf(prefix: Path, port: int, http_port: int, sock: Path, cert: Path, key: Path) -> Path:
    """deploy/nginx's two files, with this test's paths and loopback ports."""
    site = _substituted(
        (DEPLOY / "nginx" / "diaspora-registry.conf").read_text(),
        {
            "listen 80 default_server;": f"listen 127.0.0.1:{http_port} default_server;",
            "listen [::]:80 default_server;": "",
            "listen 443 ssl default_server;": f"listen 127.0.0.1:{port} ssl default_server;",
            "listen [::]:443 ssl default_server;": "",
            "/etc/letsencrypt/live/registry.example.org/fullchain.pem": str(cert),
            "/etc/letsencrypt/live/registry.example.org/privkey.pem": str(key),
            "/run/diaspora-intake/intake.sock": str(sock),
            "/var/log/nginx/error.log": str(prefix / "logs" / "error.log"),
            "/var/lib/nginx/body": str(prefix / "body"),
            "/var/lib/nginx/proxy": str(prefix / "proxy"),
        },
    )
    main = _substituted(
        (DEPLOY / "nginx" / "nginx.conf").read_text(),
        {
            # As root, workers as root (they must reach the test's socket); else no user switch at all.
            "user www-data;": "user root;" if os.geteuid() == 0 else "",
            "pid /run/nginx.pid;": f"pid {prefix / 'nginx.pid'};",
            "/var/log/nginx/error.log": str(prefix / "logs" / "error.log"),
            "include /etc/nginx/sites-enabled/diaspora-registry.conf;": f"include {prefix / 'site.conf'};",
        },
    )
    (prefix / "site.conf").write_text(site)
    (prefix / "nginx.conf").write_text(main)
    return prefix / "nginx.conf"


def _wait_for_tls(port: int, context: ssl.SSLContext, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"nginx exited with {proc.returncode}"
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=1) as raw,
                context.wrap_socket(raw, server_hostname="127.0.0.1"),
            ):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("nginx did not come up")


@contextmanager
def _nginx(prefix: Path, sock: Path) -> Iterator[tuple[int, int, ssl.SSLContext, set[Path]]]:
    """The real nginx, with deploy/nginx's files, in `prefix`, proxying to
    `sock`: yields its HTTPS and HTTP ports, a client context that trusts its
    certificate, and the files the test wrote there."""
    (prefix / "logs").mkdir(parents=True)
    cert, tls_key = _certificate(prefix)
    port, http_port = free_port(), free_port()
    conf = _nginx_conf(prefix, port, http_port, sock, cert, tls_key)
    context = ssl.create_default_context(cafile=str(cert))
    with open(prefix / "nginx.stderr", "wb") as out:
        proc = subprocess.Popen(
            [NGINX, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "logs" / "error.log"), "-g", "daemon off;"],
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    try:
        _wait_for_tls(port, context, proc)
        yield port, http_port, context, {conf, prefix / "site.conf", cert, tls_key}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    root = tmp_path_factory.mktemp("deploy")
    data = root / "intake"
    data.mkdir()
    key = vault.derive_keys(vault.new_master_secret())
    add_bundle(data / "keys.json", key.bundle().to_json())
    sock = root / "intake.sock"
    gunicorn_log = root / "gunicorn.log"
    gunicorn = ProdServer(data, gunicorn_log, f"--bind=unix:{sock}")
    try:
        with _nginx(root / "nginx", sock) as (port, http_port, context, written):
            yield Front(root / "nginx", port, http_port, context, gunicorn, gunicorn_log, key, written)
    finally:
        gunicorn.stop()


def _sealed(front: Front, tag: bytes) -> bytes:
    return vault.seal(submission() + tag, front.key.public_key).canonical()


# ---- the front ---------------------------------------------------------


def test_tls_13_only(front: Front) -> None:
    with front.tls() as sock:
        assert sock.version() == "TLSv1.3"
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", front.port), timeout=5) as raw, pytest.raises(ssl.SSLError):
        old.wrap_socket(raw, server_hostname="127.0.0.1")


def test_every_answer_has_the_intakes_security_headers_and_hsts(front: Front) -> None:
    for path in ("/", "/en/", "/healthz", "/api/v1/log/checkpoint", "/no-such-page"):
        status, headers, _ = front.request("GET", path)
        assert status in (200, 404), path
        for name, value in SECURITY_HEADERS.items():
            assert headers.get_all(name) == [value], (path, name)
        assert headers.get_all("Strict-Transport-Security") == [HSTS], path
        assert "nginx/" not in (headers.get("Server") or ""), "nginx names its version"


def test_plain_http_is_sent_to_https(front: Front) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", front.http_port, timeout=5)
    try:
        conn.request("GET", "/en/")
        resp = conn.getresponse()
        assert resp.status == 301
        assert resp.getheader("Location") == "https://registry.example.org/en/"
    finally:
        conn.close()


def test_the_body_limit_is_the_intakes(front: Front) -> None:
    headers = {"Content-Type": "application/json"}
    status, got, body = front.request("POST", "/api/v1/submissions", b"{" + b" " * (32 * 1024), headers)
    assert status == 413
    assert json.loads(body)["error"]["code"] == "too_large"
    assert got.get_all("Strict-Transport-Security") == [HSTS]
    # Exactly the limit passes nginx and reaches the intake (which refuses it as no envelope).
    status, _, body = front.request("POST", "/api/v1/submissions", b"{" + b" " * (32 * 1024 - 2) + b"}", headers)
    assert status == 400, body
    status, _, body = front.request("POST", "/api/v1/submissions", _sealed(front, b" limit"), headers)
    assert status == 201, body


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")
def test_the_page_seals_and_gets_a_receipt_over_https(chromium: Any, front: Front) -> None:
    ctx = chromium.new_context(locale="en-US", ignore_https_errors=True)
    try:
        page = ctx.new_page()
        page.goto(front.origin + "/en/")
        wait_until_ready(page)
        assert page.evaluate("window.isSecureContext")
        fill_form(page, PEOPLE["en"])
        with page.expect_response("**/api/v1/submissions") as answer:
            page.click("#submit")
        page.wait_for_selector("[data-testid=receipt]", state="visible")
        receipt = answer.value.json()
        assert answer.value.status == 201
        assert answer.value.headers["strict-transport-security"] == HSTS
        assert receipt["format"] == "dvr-receipt/1"
        assert str(receipt["seq"]) in page.inner_text("[data-testid=receipt]")
    finally:
        ctx.close()


def test_no_forwarded_address_reaches_the_upstream(tmp_path: Path) -> None:
    # An upstream of the test's own in place of gunicorn, to see what nginx sends.
    sock = tmp_path / "upstream.sock"
    seen: list[bytes] = []
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock))
    listener.listen(4)
    listener.settimeout(10)

    def upstream() -> None:
        conn, _ = listener.accept()
        with conn:
            got = b""
            while b"\r\n\r\n" not in got and (chunk := conn.recv(65536)):
                got += chunk
            seen.append(got)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    thread = threading.Thread(target=upstream, daemon=True)
    thread.start()
    try:
        with _nginx(tmp_path / "nginx", sock) as (port, _http_port, context, _written):
            conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=context)
            spoofed = {"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.9", "Forwarded": "for=203.0.113.9"}
            conn.request("GET", "/healthz", headers=spoofed)
            assert conn.getresponse().read() == b"ok"
            conn.close()
            thread.join(timeout=10)
    finally:
        listener.close()
    [request] = seen
    assert request.startswith(b"GET /healthz HTTP/1.1\r\n")
    names = {line.split(b":", 1)[0].lower() for line in request.split(b"\r\n")[1:] if b":" in line}
    assert not names & {b"x-forwarded-for", b"x-real-ip", b"forwarded", b"x-forwarded-host", b"x-forwarded-proto"}
    others = [line for line in request.split(b"\r\n")[1:] if not line.lower().startswith(b"host:")]
    assert not [line for line in others if b"203.0.113.9" in line or b"127.0.0.1" in line], request


def test_only_a_submission_carries_the_address_nginx_saw_and_never_the_clients_own(tmp_path: Path) -> None:
    sock = tmp_path / "upstream.sock"
    seen: list[bytes] = []
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock))
    listener.listen(4)
    listener.settimeout(10)

    def upstream() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            with conn:
                got = b""
                while b"\r\n\r\n" not in got and (chunk := conn.recv(65536)):
                    got += chunk
                seen.append(got)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    thread = threading.Thread(target=upstream, daemon=True)
    thread.start()
    spoofed = {"X-Dvr-Client": "203.0.113.9", "Content-Type": "application/json"}
    try:
        with _nginx(tmp_path / "nginx", sock) as (port, _http_port, context, _written):
            for method, path in (("GET", "/healthz"), ("POST", "/api/v1/submissions")):
                conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=context)
                conn.request(method, path, body=b"{}" if method == "POST" else None, headers=spoofed)
                assert conn.getresponse().read() == b"ok"
                conn.close()
            thread.join(timeout=10)
    finally:
        listener.close()
    healthz, submission = seen
    assert healthz.startswith(b"GET /healthz ") and b"203.0.113.9" not in healthz
    assert b"x-dvr-client" not in healthz.lower()
    assert not [line for line in healthz.split(b"\r\n")[1:] if b"127.0.0.1" in line and not line.startswith(b"Host:")]
    assert submission.startswith(b"POST /api/v1/submissions ")
    clients = [line for line in submission.split(b"\r\n") if line.lower().startswith(b"x-dvr-client:")]
    assert clients == [b"X-Dvr-Client: 127.0.0.1"], submission
    assert b"203.0.113.9" not in submission


# ---- slow clients --------------------------------------------------------


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        pytest.skip(f"needs {needed} open files, the limit here is {soft}")


def _stall(front: Front, n: int, opened_at: dict[int, float]) -> list[ssl.SSLSocket]:
    """`n` connections that each sent a submission's headers and `{`, then nothing
    (`opened_at` gets the time each was opened, by descriptor)."""
    head = (
        b"POST /api/v1/submissions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 900\r\n\r\n{"
    )
    held = []
    try:
        for _ in range(n):
            sock = front.tls(timeout=5)
            sock.sendall(head)
            held.append(sock)
            opened_at[sock.fileno()] = time.monotonic()
    except BaseException:
        for sock in held:
            sock.close()
        raise
    return held


def _shed(sock: ssl.SSLSocket) -> bool:
    """Whether the server has answered or closed `sock` (TLS 1.3 session
    tickets make a live socket readable too: those bytes are no answer)."""
    sock.setblocking(False)
    try:
        sock.recv(4096)
    except ssl.SSLWantReadError:
        return False
    except OSError:
        return True
    return True


def _closed(socks: list[ssl.SSLSocket], timeout: float) -> set[int]:
    """The descriptors among `socks` the server has answered or closed."""
    poller = select.poll()
    by_fd = {sock.fileno(): sock for sock in socks}
    for fd in by_fd:
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    return {fd for fd, _ in poller.poll(timeout * 1000) if _shed(by_fd[fd])}


def test_stalled_clients_hold_up_neither_healthz_nor_a_submission(front: Front) -> None:
    _raise_fd_limit(STALLED + 512)
    started = time.monotonic()
    opened_at: dict[int, float] = {}
    held = _stall(front, STALLED, opened_at)
    try:
        opened = time.monotonic() - started
        times = []
        for _ in range(200):
            t0 = time.monotonic()
            status, _, _ = front.request("GET", "/healthz", timeout=1.0)
            times.append(time.monotonic() - t0)
            assert status == 200
        t0 = time.monotonic()
        status, _, body = front.request(
            "POST", "/api/v1/submissions", _sealed(front, b" stall"), {"Content-Type": "application/json"}, timeout=1.0
        )
        submit = time.monotonic() - t0
        assert status == 201, body
        times.sort()
        p99 = times[int(len(times) * 0.99) - 1]
        checked = time.monotonic()
        closed = _closed(held, 0)
        alive = STALLED - len(closed)
        # On a loaded machine opening 2,000 TLS connections can take longer than nginx's 10 s
        # body timeout; only the ones younger than that must still be held.
        young = {fd for fd, at in opened_at.items() if checked - at < BODY_TIMEOUT - 1}
        print(
            f"\n{STALLED} stalled connections opened in {opened:.1f} s, {alive} still held while measuring: "
            f"/healthz p50 {times[len(times) // 2] * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
            f"max {times[-1] * 1000:.1f} ms; a submission {submit * 1000:.1f} ms"
        )
        assert not closed & young, "nginx dropped stalled clients before its timeout"
        assert alive >= min(500, STALLED), "too few stalled clients held at once to test anything"
        assert p99 < 1.0
        assert submit < 1.0
        # And nginx sheds them: within its body timeout (10 s) each is closed.
        deadline = time.monotonic() + 20
        pending = list(held)
        while pending and time.monotonic() < deadline:
            shed = _closed(pending, 1.0)
            pending = [sock for sock in pending if sock.fileno() not in shed]
        assert len(pending) == 0, "stalled clients still held 20 s later"
        print(f"all shed {time.monotonic() - started:.1f} s after the first was opened")
    finally:
        for sock in held:
            sock.close()


# ---- nothing in any log --------------------------------------------------

MALFORMED = [
    b"POST /api/v1/submissions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
    b"POST /api/v1/submissions HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{}",
    b"POST /api/v1/submissions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    b"POST /api/v1/submissions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"GET / HTTP/1.1\nHost: x\n\n",
    b"GET /\r\n\r\n",
    b"GET / HTTP/7.5\r\nHost: x\r\n\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
    b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.9\r\nX-Real-IP: 203.0.113.9\r\n\r\n",
    b"\x00\x01\x02garbage\r\n\r\n",
]


def _send_raw(front: Front, data: bytes) -> bytes:
    with front.tls() as sock:
        sock.sendall(data)
        sock.settimeout(5)
        got = b""
        try:
            while chunk := sock.recv(65536):
                got += chunk
                if b"\r\n\r\n" in got and not data.startswith(b"GET / HTTP/1.1\r\nHost: x\r\nX-F"):
                    break
        except (TimeoutError, ssl.SSLError, ConnectionError):
            pass
        return got


def _not_tls(port: int, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        try:
            while sock.recv(65536):
                pass
        except (TimeoutError, ConnectionError):
            pass


def test_malformed_requests_leave_no_address_or_time_in_any_file(front: Front) -> None:
    answers = [_send_raw(front, data) for data in MALFORMED]
    refused = [a.split(b"\r\n", 1)[0] for a in answers if a.startswith(b"HTTP/1.1 4")]
    assert len(refused) >= 8, answers  # nginx saw and refused them
    # Plain HTTP on the TLS port, broken handshakes, a client gone mid-handshake.
    _not_tls(front.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    _not_tls(front.port, b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00")
    _not_tls(front.port, b"\x16\x03\x01\xff\xff" + bytes(300))
    _not_tls(front.http_port, b"GET / HTTP/7.5\r\n\r\n")
    with socket.create_connection(("127.0.0.1", front.port), timeout=5):
        pass
    assert front.request("GET", "/healthz")[0] == 200
    time.sleep(0.5)  # let both servers write whatever they will
    files = [p for p in front.prefix.rglob("*") if p.is_file() and p not in front.written]
    files.append(front.gunicorn_log)
    assert any(p.name == "error.log" for p in files), "nginx made no error log where the test looks"
    for path in files:
        text = path.read_bytes()
        assert b"127.0.0.1" not in text, f"{path} holds the client's address"
        assert not TIME_OF_DAY.search(text), f"{path} holds a time of day: {TIME_OF_DAY.search(text)}"


# ---- systemd -------------------------------------------------------------


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="needs systemd-analyze (systemd)")
def test_the_units_verify(tmp_path: Path) -> None:
    units = DEPLOY / "systemd"
    service = (units / "diaspora-intake.service").read_text()
    # verify checks that ExecStart's program exists: point it at this venv's gunicorn.
    (tmp_path / "diaspora-intake.service").write_text(
        _substituted(service, {"/opt/dvr/bin/gunicorn": str(Path(sys.executable).parent / "gunicorn")})
    )
    shutil.copy(units / "diaspora-intake.socket", tmp_path)
    done = subprocess.run(
        ["systemd-analyze", "verify", "diaspora-intake.socket", "diaspora-intake.service"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    for setting in (
        "User=dvr-intake",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "ProtectHome=yes",
        "ReadWritePaths=/var/lib/dvr-intake\n",
        "CapabilityBoundingSet=\n",
        "RestrictAddressFamilies=AF_UNIX\n",
        "SystemCallFilter=@system-service",
        "StandardError=journal",
    ):
        assert setting in service, setting
    assert "--access-logfile" not in service and "logconfig" not in service


def _unix_submission(sock: Path, client: str) -> str:
    """POST an envelope-shaped body over the Unix socket, as nginx would for `client`; the error code."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(5)
        conn.connect(str(sock))
        body = b'{"format": "dvr-envelope/1"}'
        conn.sendall(
            b"POST /api/v1/submissions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
            b"X-Dvr-Client: %s\r\nContent-Length: %d\r\n\r\n%s" % (client.encode(), len(body), body)
        )
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return str(json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["code"])


@pytest.mark.skipif(not shutil.which("systemd-socket-activate"), reason="needs systemd-socket-activate (systemd)")
def test_the_units_command_serves_on_a_socket_systemd_hands_it(tmp_path: Path) -> None:
    # The service's own ExecStart and Environment, given a socket the way systemd gives one (LISTEN_FDS).
    service = (DEPLOY / "systemd" / "diaspora-intake.service").read_text()
    [command] = [line.split("=", 1)[1] for line in service.splitlines() if line.startswith("ExecStart=")]
    environment = dict(
        line.split("=", 1)[1].split("=", 1) for line in service.splitlines() if line.startswith("Environment=")
    )
    assert environment == {"DVR_INTAKE_DATA": "/var/lib/dvr-intake", "DVR_INTAKE_CLIENT_ADDRESS_HEADER": "X-Dvr-Client"}
    name = "DVR_INTAKE_DATA"
    argv = command.replace("/opt/dvr/bin/gunicorn", str(Path(sys.executable).parent / "gunicorn")).split()
    data = tmp_path / "data"
    data.mkdir()
    add_bundle(data / "keys.json", vault.derive_keys(vault.new_master_secret()).bundle().to_json())
    sock = tmp_path / "intake.sock"
    log = tmp_path / "gunicorn.log"
    passed = [arg for variable in environment for arg in ("-E", variable)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["systemd-socket-activate", "-l", str(sock), *passed, *argv],
            env={**os.environ, **environment, name: str(data)},
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 20
        answer = b""
        while b"\r\n\r\nok" not in answer and time.monotonic() < deadline:
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                    client.settimeout(5)
                    client.connect(str(sock))
                    client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    answer = b""
                    while chunk := client.recv(65536):
                        answer += chunk
            except OSError:
                time.sleep(0.1)
        assert answer.startswith(b"HTTP/1.1 200"), answer
        assert answer.split(b"\r\n\r\n", 1)[1].strip() == b"ok"
        # The rate limits count the address in X-Dvr-Client (nginx's; here the test's): a flood from
        # one is limited (each of the two workers allows a burst of 20), another address is not.
        codes = [_unix_submission(sock, "203.0.113.9") for _ in range(60)]
        let_through = codes.count("not_an_envelope")
        assert codes[:20] == ["not_an_envelope"] * 20 and 20 <= let_through <= 44, codes  # 44: a few seconds' refill
        assert codes.count("rate_limited") == 60 - let_through
        assert _unix_submission(sock, "198.51.100.4") == "not_an_envelope"
    finally:
        proc.send_signal(signal.SIGINT)  # gunicorn's quick shutdown
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: the master and its workers
            proc.wait(timeout=10)
    written = log.read_bytes()
    assert b"127.0.0.1" not in written and not TIME_OF_DAY.search(written), written
