"""`intake export`, from SQLite and from PostgreSQL: batches cover every
envelope once, never half-written."""

from __future__ import annotations

import threading

import pytest
from store_backends import both_stores
from support import fill_store, one_line_error, run

from intake import IntakeConfig
from intake.export import ExportFailed, export_batch
from vault.batch import read_batch


def intake(tmp_path, backend) -> IntakeConfig:
    return IntakeConfig(data_dir=tmp_path / "intake", store_url=backend.url)


def seqs(path) -> list[int]:
    with open(path, "rb") as fp:
        reader = read_batch(fp)
        return [row.seq for row in reader.rows()]


@both_stores
def test_progress_reaches_the_number_of_envelopes(tmp_path, ministry_key, backend):
    config = intake(tmp_path, backend)
    fill_store(config, ministry_key.public_key, 4100)
    calls: list[tuple[int, int]] = []
    result = export_batch(config, tmp_path / "b", progress=lambda done, total: calls.append((done, total)))
    assert result.count == 4100
    assert calls[0] == (0, 4100) and calls[-1] == (4100, 4100)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


@both_stores
def test_export_then_nothing_new_then_more(tmp_path, ministry_key, backend):
    config = intake(tmp_path, backend)
    fill_store(config, ministry_key.public_key, 3)
    proc = run("intake", "export", "--data", config.data_dir, *backend.store_args, "--out", tmp_path / "b1")
    assert proc.returncode == 0 and "exported 3 envelopes (seq 1..3)" in proc.stdout
    assert seqs(tmp_path / "b1") == [1, 2, 3]
    proc = run("intake", "export", "--data", config.data_dir, *backend.store_args, "--out", tmp_path / "b2")
    assert proc.returncode == 0 and "nothing new to export" in proc.stdout
    assert not (tmp_path / "b2").exists()
    fill_store(config, ministry_key.public_key, 2)
    run("intake", "export", "--data", config.data_dir, *backend.store_args, "--out", tmp_path / "b3")
    assert seqs(tmp_path / "b3") == [4, 5]


@both_stores
def test_interrupted_export_leaves_nothing_and_records_nothing(tmp_path, ministry_key, monkeypatch, backend):
    config = intake(tmp_path, backend)
    fill_store(config, ministry_key.public_key, 4)
    import intake.export as export_mod

    def broken_write(fp, header, rows, signer):
        fp.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export_mod, "write_batch", broken_write)
    with pytest.raises(ExportFailed, match=r"\(No space left on device\); nothing was exported"):
        export_batch(config, tmp_path / "b1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["intake"]  # no batch, no temp file
    monkeypatch.undo()
    result = export_batch(config, tmp_path / "b1")
    assert (result.first_seq, result.last_seq) == (1, 4)


@both_stores
def test_concurrent_exports_never_overlap(tmp_path, ministry_key, backend):
    config = intake(tmp_path, backend)
    fill_store(config, ministry_key.public_key, 50)
    results = []

    def go(i: int) -> None:
        results.append(export_batch(config, tmp_path / f"b{i}"))

    threads = [threading.Thread(target=go, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    covered = sorted(s for r in results if r.path for s in seqs(r.path))
    assert covered == list(range(1, 51))


def test_export_of_a_missing_store_is_one_clear_line(tmp_path):
    line = one_line_error(run("intake", "export", "--data", tmp_path / "nowhere", "--out", tmp_path / "b"))
    assert "no intake store" in line


@both_stores
def test_a_full_disk_is_one_clear_line_and_the_export_can_be_repeated(tmp_path, ministry_key, backend):
    config = intake(tmp_path, backend)
    fill_store(config, ministry_key.public_key, 1500)
    export = ("intake", "export", "--data", config.data_dir, *backend.store_args, "--out", tmp_path / "b1")
    line = one_line_error(run(*export, disk_full_at=1 << 20))  # the batch needs about 2 MiB
    assert line.startswith("intake: error: could not write the batch") and line.endswith("nothing was exported")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["intake"]  # no batch, no temp file
    proc = run(*export)
    assert proc.returncode == 0 and "exported 1500 envelopes (seq 1..1500)" in proc.stdout
    assert seqs(tmp_path / "b1") == list(range(1, 1501))


def exported_ranges(backend) -> list[tuple[int, int]]:
    return backend.query("SELECT first_seq, last_seq FROM exports ORDER BY first_seq")


@both_stores
def test_export_refuses_an_existing_file_and_marks_nothing(tmp_path, ministry_key, backend):
    config = intake(tmp_path, backend)
    fill_store(config, ministry_key.public_key, 3)
    export = ("intake", "export", "--data", config.data_dir, *backend.store_args, "--out")
    assert run(*export, tmp_path / "b1").returncode == 0
    first = (tmp_path / "b1").read_bytes()
    fill_store(config, ministry_key.public_key, 2)
    line = one_line_error(run(*export, tmp_path / "b1"))
    assert line == (
        f"intake: error: {tmp_path / 'b1'} already exists; refusing to overwrite a batch file (it may be the only"
        " copy of envelopes already exported); give a new file name"
    )
    assert (tmp_path / "b1").read_bytes() == first
    assert exported_ranges(backend) == [(1, 3)]
    proc = run(*export, tmp_path / "b2")
    assert proc.returncode == 0 and "exported 2 envelopes (seq 4..5)" in proc.stdout
    assert seqs(tmp_path / "b2") == [4, 5]


@both_stores
def test_a_range_exported_again_changes_nothing_and_imports_idempotently(tmp_path, ministry_key, backend):
    import json

    from keyholder_cli.custody import init_vault
    from keyholder_cli.station import Station

    v = Station(tmp_path / "V")
    key = init_vault(v, b"correct horse battery")
    config = intake(tmp_path, backend)
    fill_store(config, key.public_key, 3)
    export = ("intake", "export", "--data", config.data_dir, *backend.store_args, "--out")
    assert run(*export, tmp_path / "b1").returncode == 0
    fill_store(config, key.public_key, 2)
    assert run(*export, tmp_path / "b2").returncode == 0
    (tmp_path / "b1").unlink()  # the first batch is lost on the way
    line = one_line_error(run("keyholder", "import", "--vault", v.root, tmp_path / "b2"))
    assert "starts at seq 4" in line
    proc = run(
        "intake",
        "export",
        "--data",
        config.data_dir,
        *backend.store_args,
        "--from-seq",
        "1",
        "--out",
        tmp_path / "again",
    )
    assert proc.returncode == 0, proc.stderr
    assert "exported 5 envelopes again (the next plain export is unchanged) (seq 1..5)" in proc.stdout
    assert seqs(tmp_path / "again") == [1, 2, 3, 4, 5]
    assert exported_ranges(backend) == [(1, 3), (4, 5)]
    fill_store(config, key.public_key, 1)
    assert run(*export, tmp_path / "b3").returncode == 0
    assert seqs(tmp_path / "b3") == [6]  # the plain export goes on where it was
    keyholder = ("keyholder", "import", "--vault", v.root)
    proc = run(*keyholder, tmp_path / "again")
    assert proc.returncode == 0 and "imported 5 new envelopes (seq 1..5)" in proc.stdout
    for name in ("b2", "again"):
        proc = run(*keyholder, tmp_path / name)
        assert proc.returncode == 0 and "nothing changed" in proc.stdout, name
    assert run(*keyholder, tmp_path / "b3").returncode == 0
    assert v.envelope_count() == 6
    assert json.loads(v.bundle_path.read_text())["kid"] == key.kid


@both_stores
def test_export_from_beyond_the_log_is_one_line(tmp_path, ministry_key, backend):
    config = intake(tmp_path, backend)
    fill_store(config, ministry_key.public_key, 2)
    line = one_line_error(
        run(
            "intake",
            "export",
            "--data",
            config.data_dir,
            *backend.store_args,
            "--from-seq",
            "3",
            "--out",
            tmp_path / "b",
        )
    )
    assert "up to seq 2 only" in line
    assert not (tmp_path / "b").exists() and exported_ranges(backend) == []
