"""The intake command's refusals: one clear line, before anything is served or written."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from prod_server import BIN, free_port
from support import fill_store, one_line_error, run

from intake import IntakeConfig
from intake.keyring import add_bundle


def test_a_damaged_store_or_key_ring_is_one_clear_line(tmp_path, ministry_key):
    config = IntakeConfig(data_dir=tmp_path / "d")
    fill_store(config, ministry_key.public_key, 3)
    (config.data_dir / "keys.json").write_text("not json\n")
    serve = ("intake", "serve", "--data", config.data_dir, "--port", "0")
    line = one_line_error(run(*serve))  # refused at start, not at the first request
    assert line == f"intake: error: {config.data_dir / 'keys.json'} is damaged: it is not JSON"
    add_bundle(config.keys_path.with_name("ok.json"), ministry_key.bundle().to_json())
    config.keys_path.with_name("ok.json").replace(config.keys_path)  # a key installed: the store is next
    for leftover in ("-wal", "-shm"):  # the log could bring the first page back
        config.db_path.with_name(config.db_path.name + leftover).unlink(missing_ok=True)
    config.db_path.write_bytes(b"not a database, any more\n" * 1000)
    for args in (serve, ("intake", "export", "--data", config.data_dir, "--out", tmp_path / "b")):
        line = one_line_error(run(*args))
        assert line == "intake: error: the intake store: file is not a database", args
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_a_port_out_of_range_is_refused_not_wrapped(tmp_path, port):
    # 70000 used to serve on 70000 - 65536 = 4464 without a word.
    proc = run("intake", "serve", "--data", tmp_path / "d", "--port", port)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f"Error: Invalid value for '--port': {port} is not in the range 0<=x<=65535."
    )


def test_serve_refuses_a_data_directory_that_does_not_exist(tmp_path):
    # A mistyped --data used to start a new, empty store and log key without a word.
    typo = tmp_path / "intkae"
    line = one_line_error(run("intake", "serve", "--data", typo, "--port", "0"))
    assert line == (
        f"intake: error: the data directory {typo} does not exist (a typo?);"
        " check the path, or pass --create to start a new, empty intake there"
    )
    assert not typo.exists()


def test_serve_refuses_to_start_with_no_key_installed(tmp_path):
    data = tmp_path / "d"
    data.mkdir()
    line = one_line_error(run("intake", "serve", "--data", data, "--port", "0", "--create"))
    assert line.startswith(f"intake: error: no key bundle is installed in {data}, so the registration page cannot")
    assert f"intake keys add --data {data}" in line and "--allow-no-key" in line
    assert list(data.iterdir()) == []  # no store, no log key: refused before anything is made


def wait_for_line(proc: subprocess.Popen, needle: str, timeout: float = 20) -> str:
    seen = ""
    deadline = time.monotonic() + timeout
    while needle not in seen and time.monotonic() < deadline and proc.poll() is None:
        seen += proc.stderr.readline()
    return seen


def test_serve_with_create_and_allow_no_key_starts_and_warns(tmp_path):
    data = tmp_path / "new"
    proc = subprocess.Popen(
        [str(BIN / "intake"), "serve", "--data", str(data), "--port", "0", "--create", "--allow-no-key"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        seen = wait_for_line(proc, "intake serving on")
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert seen.startswith(f"intake: WARNING: no key bundle is installed in {data}"), seen
    assert "intake serving on" in seen and data.is_dir()


def gunicorn(data, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "python:intake.gunicorn_conf", "-b", f"127.0.0.1:{free_port()}"]
        + ["--workers=1", "intake.wsgi:from_environ()"],
        env={**os.environ, "DVR_INTAKE_DATA": str(data), **(env or {})},
        stderr=subprocess.PIPE,
        text=True,
    )


def test_gunicorn_refuses_a_missing_data_directory_and_a_missing_key_in_one_line(tmp_path):
    typo = tmp_path / "intkae"
    proc = gunicorn(typo)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and err.strip() == (
        f"intake: error: the data directory {typo} does not exist (a typo?);"
        " set DVR_INTAKE_DATA to the right one, or make the directory (mkdir) for a new intake"
    )
    assert not typo.exists()
    typo.mkdir()
    proc = gunicorn(typo)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"intake: error: no key bundle is installed in {typo}") and "DVR_INTAKE_ALLOW_NO_KEY=1" in err
    assert list(typo.iterdir()) == []


def test_gunicorn_with_allow_no_key_starts_and_warns(tmp_path):
    proc = gunicorn(tmp_path, {"DVR_INTAKE_ALLOW_NO_KEY": "1"})
    try:
        seen = wait_for_line(proc, "WARNING")
        time.sleep(1)
        assert proc.poll() is None, proc.stderr.read()
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert seen.startswith(f"intake: WARNING: no key bundle is installed in {tmp_path}"), seen


def test_gunicorn_refuses_a_defence_switch_that_is_neither_on_nor_off(tmp_path, ministry_key):
    add_bundle(tmp_path / "keys.json", ministry_key.bundle().to_json())
    for name in ("DVR_INTAKE_PROOF_OF_WORK", "DVR_INTAKE_RATE_LIMIT"):
        proc = gunicorn(tmp_path, {name: "no"})
        _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 1 and err.strip() == f"intake: error: {name} must be on or off, not 'no'"


def test_gunicorn_with_the_defences_turned_off_says_so_at_start(tmp_path, ministry_key):
    add_bundle(tmp_path / "keys.json", ministry_key.bundle().to_json())
    proc = gunicorn(tmp_path, {"DVR_INTAKE_PROOF_OF_WORK": "off", "DVR_INTAKE_RATE_LIMIT": "off"})
    try:
        seen = wait_for_line(proc, "WARNING")
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert seen.strip() == (
        "intake: WARNING: proof of work and rate limits turned off: only for a trusted channel"
        " (docs/operations.md, section 8)"
    )


def test_the_production_configuration_has_both_defences_on_unless_turned_off(monkeypatch, tmp_path):
    monkeypatch.setenv("DVR_INTAKE_DATA", str(tmp_path))
    for name in ("DVR_INTAKE_PROOF_OF_WORK", "DVR_INTAKE_RATE_LIMIT", "DVR_INTAKE_CLIENT_ADDRESS_HEADER"):
        monkeypatch.delenv(name, raising=False)
    config = IntakeConfig.from_environ()
    assert config.proof_of_work and config.rate_limits is not None and config.client_address_header is None
    monkeypatch.setenv("DVR_INTAKE_PROOF_OF_WORK", "off")
    monkeypatch.setenv("DVR_INTAKE_CLIENT_ADDRESS_HEADER", "X-Dvr-Client")
    config = IntakeConfig.from_environ()
    assert not config.proof_of_work and config.rate_limits is not None
    assert config.client_address_header == "X-Dvr-Client"


def test_serve_turns_a_defence_off_only_when_asked_and_warns(tmp_path, ministry_key):
    add_bundle(tmp_path / "keys.json", ministry_key.bundle().to_json())
    proc = subprocess.Popen(
        [str(BIN / "intake"), "serve", "--data", str(tmp_path), "--port", "0", "--no-proof-of-work"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        seen = wait_for_line(proc, "WARNING")
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert seen.strip() == (
        "intake: WARNING: proof of work turned off: only for a trusted channel (docs/operations.md, section 8)"
    )


def test_the_operator_sets_the_proof_of_work_levels_and_the_challenge_follows(tmp_path, ministry_key):
    """DVR_INTAKE_POW_LEVELS (gunicorn) and --pow-levels (intake serve) set
    the difficulty: the challenge served over HTTP carries the first level."""
    import json
    import urllib.request

    add_bundle(tmp_path / "keys.json", ministry_key.bundle().to_json())
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "python:intake.gunicorn_conf", "-b", f"127.0.0.1:{port}"]
        + ["--workers=1", "intake.wsgi:from_environ()"],
        env={**os.environ, "DVR_INTAKE_DATA": str(tmp_path), "DVR_INTAKE_POW_LEVELS": "0:40000,50:400000"},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/challenge", timeout=5) as resp:
                    challenge = json.load(resp)
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert challenge["maxNumber"] == 40000


@pytest.mark.parametrize("levels", ["0:100000,30", "fast", "10:5000", "0:100000,5:0"])
def test_proof_of_work_levels_that_make_no_sense_are_one_line_at_start(tmp_path, ministry_key, levels):
    add_bundle(tmp_path / "keys.json", ministry_key.bundle().to_json())
    proc = gunicorn(tmp_path, {"DVR_INTAKE_POW_LEVELS": levels})
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and err.strip().startswith("intake: error: DVR_INTAKE_POW_LEVELS: difficulty levels")
    assert "\n" not in err.strip()
    served = run("intake", "serve", "--data", tmp_path, "--port", "0", "--pow-levels", levels)
    assert served.returncode == 2 and "Traceback" not in served.stderr
    assert "Invalid value for --pow-levels: difficulty levels" in served.stderr.strip().splitlines()[-1]
