"""`intake export`: batches cover every envelope once, never half-written."""

from __future__ import annotations

import threading

import pytest
from support import fill_store, one_line_error, run

from intake import IntakeConfig
from intake.export import ExportFailed, export_batch
from vault.batch import read_batch


def seqs(path) -> list[int]:
    with open(path, "rb") as fp:
        reader = read_batch(fp)
        return [row.seq for row in reader.rows()]


def test_progress_reaches_the_number_of_envelopes(tmp_path, ministry_key):
    config = IntakeConfig(data_dir=tmp_path / "d")
    fill_store(config, ministry_key.public_key, 4100)
    calls: list[tuple[int, int]] = []
    result = export_batch(config, tmp_path / "b", progress=lambda done, total: calls.append((done, total)))
    assert result.count == 4100
    assert calls[0] == (0, 4100) and calls[-1] == (4100, 4100)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_export_then_nothing_new_then_more(tmp_path, ministry_key):
    config = IntakeConfig(data_dir=tmp_path / "d")
    fill_store(config, ministry_key.public_key, 3)
    proc = run("intake", "export", "--data", config.data_dir, "--out", tmp_path / "b1")
    assert proc.returncode == 0 and "exported 3 envelopes (seq 1..3)" in proc.stdout
    assert seqs(tmp_path / "b1") == [1, 2, 3]
    proc = run("intake", "export", "--data", config.data_dir, "--out", tmp_path / "b2")
    assert proc.returncode == 0 and "nothing new to export" in proc.stdout
    assert not (tmp_path / "b2").exists()
    fill_store(config, ministry_key.public_key, 2)
    run("intake", "export", "--data", config.data_dir, "--out", tmp_path / "b3")
    assert seqs(tmp_path / "b3") == [4, 5]


def test_interrupted_export_leaves_nothing_and_records_nothing(tmp_path, ministry_key, monkeypatch):
    config = IntakeConfig(data_dir=tmp_path / "d")
    fill_store(config, ministry_key.public_key, 4)
    import intake.export as export_mod

    def broken_write(fp, header, rows, signer):
        fp.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export_mod, "write_batch", broken_write)
    with pytest.raises(ExportFailed, match=r"\(No space left on device\); nothing was exported"):
        export_batch(config, tmp_path / "b1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]  # no batch, no temp file
    monkeypatch.undo()
    result = export_batch(config, tmp_path / "b1")
    assert (result.first_seq, result.last_seq) == (1, 4)


def test_concurrent_exports_never_overlap(tmp_path, ministry_key):
    config = IntakeConfig(data_dir=tmp_path / "d")
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


def test_a_full_disk_is_one_clear_line_and_the_export_can_be_repeated(tmp_path, ministry_key):
    config = IntakeConfig(data_dir=tmp_path / "d")
    fill_store(config, ministry_key.public_key, 1500)
    export = ("intake", "export", "--data", config.data_dir, "--out", tmp_path / "b1")
    line = one_line_error(run(*export, disk_full_at=1 << 20))  # the batch needs about 2 MiB
    assert line.startswith("intake: error: could not write the batch") and line.endswith("nothing was exported")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]  # no batch, no temp file
    proc = run(*export)
    assert proc.returncode == 0 and "exported 1500 envelopes (seq 1..1500)" in proc.stdout
    assert seqs(tmp_path / "b1") == list(range(1, 1501))
