"""The intake command's refusals: one clear line, before anything is served or written."""

from __future__ import annotations

import pytest
from support import fill_store, one_line_error, run

from intake import IntakeConfig


def test_a_damaged_store_or_key_ring_is_one_clear_line(tmp_path, ministry_key):
    config = IntakeConfig(data_dir=tmp_path / "d")
    fill_store(config, ministry_key.public_key, 3)
    (config.data_dir / "keys.json").write_text("not json\n")
    serve = ("intake", "serve", "--data", config.data_dir, "--port", "0")
    line = one_line_error(run(*serve))  # refused at start, not at the first request
    assert line == f"intake: error: {config.data_dir / 'keys.json'} is damaged: it is not JSON"
    (config.data_dir / "keys.json").unlink()
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
