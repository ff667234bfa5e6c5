"""intake.tlog: the log's storage and key, below the HTTP layer (a group commit and a damaged tree on both stores)."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import threading

import pytest
import tlog_verifier as tv
from store_backends import both_stores
from support import submission

import vault
from intake.store import LogIntegrityError, SQLiteLogStorage, SQLiteStore, StorageUnavailable
from intake.store.sqlite import _LOG_SCHEMA, nodes_query
from intake.tlog import BeyondTree, TransparencyLog, ensure_log_key, load_log_key, node_pos, size_for_nodes
from vault.merkle import CompactRange


def test_node_lookups_search_the_primary_key_and_never_scan():
    conn = sqlite3.connect(":memory:")
    conn.executescript(_LOG_SCHEMA)
    plan = " | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + nodes_query(3), [0] * 3))
    assert "SEARCH tlog_nodes USING INTEGER PRIMARY KEY (rowid=?)" in plan
    assert "SCAN" not in plan


def test_nodes_are_numbered_in_the_order_appending_finishes_them():
    frontier, order = CompactRange(), []
    for i in range(300):
        order += [node_pos(node) for node, _ in frontier.append(bytes([i % 256]) * 32)]
        assert size_for_nodes(len(order)) == i + 1
    assert order == list(range(len(order)))  # every insert lands at the end of the table
    with pytest.raises(ValueError):
        size_for_nodes(2)  # 1 leaf has 1 node, 2 leaves have 3


def test_the_key_is_made_once_even_when_workers_race(tmp_path):
    results = []
    threads = [threading.Thread(target=lambda: results.append(ensure_log_key(tmp_path))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({signer.verifier() for signer, _ in results}) == 1
    assert sum(made for _, made in results) == 1
    assert (tmp_path / "log-key").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log-key"]  # no temp files left
    assert load_log_key(tmp_path).verifier() == results[0][0].verifier()


@both_stores
def test_a_group_commit_signs_one_checkpoint_shared_by_its_receipts(tmp_path, ministry_key, backend):
    log = backend.log(tmp_path)
    signer = load_log_key(tmp_path)
    store = backend.store(log=log)
    log.sync()
    stored = []
    envs = [vault.seal(submission() + bytes([65 + i]), ministry_key.public_key) for i in range(24)]
    threads = [threading.Thread(target=lambda e=e: stored.append(store.append(e))) for e in envs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.close()
    log.close()
    for s in stored:
        cp = vault.transparency.open_checkpoint(s.checkpoint, signer.verifier())
        assert cp.size == s.log_size >= s.seq
    by_size = {}
    for s in stored:
        by_size.setdefault(s.log_size, set()).add(s.checkpoint)
    assert all(len(notes) == 1 for notes in by_size.values())  # one signature per tree size
    assert max(by_size) == 24


@both_stores
def test_a_log_ahead_of_the_store_refuses_writes_and_stores_nothing(tmp_path, ministry_key, backend):
    log = backend.log(tmp_path)
    store = backend.store(log=log)
    log.sync()
    try:
        store.append(vault.seal(submission(), ministry_key.public_key))
        backend.execute("INSERT INTO tlog_nodes (pos, hash) VALUES (1, ?)", (bytes(32),))  # a stray node
        with pytest.raises(StorageUnavailable, match="the log.s stored tree is damaged"):
            store.append(vault.seal(submission() + b" ", ministry_key.public_key))
        assert backend.query("SELECT COUNT(*) FROM envelopes") == [(1,)]
    finally:
        store.close()
        log.close()


def test_a_replaced_key_signs_afresh_instead_of_reusing_the_old_checkpoint(tmp_path, ministry_key):
    signer, _ = ensure_log_key(tmp_path)
    store = SQLiteStore(tmp_path / "db", log=TransparencyLog(SQLiteLogStorage(tmp_path / "db"), signer))
    store.append(vault.seal(submission(), ministry_key.public_key))
    store.close()
    (tmp_path / "log-key").unlink()
    new, made = ensure_log_key(tmp_path)
    assert made
    size, note = TransparencyLog(SQLiteLogStorage(tmp_path / "db"), new).sync()
    assert size == 1 and vault.transparency.open_checkpoint(note, new.verifier()).size == 1


class _MemoryStorage:
    """intake.store's LogStorage and LogTransaction over dicts: the log must
    need nothing more of a store than that interface (issue 16's PostgreSQL
    store implements the same)."""

    def __init__(self) -> None:
        self.nodes: dict[int, bytes] = {}
        self.checkpoint: tuple[int, str] | None = None
        self.envelopes: list[bytes] = []  # canonical bytes, seq = index + 1
        self.key: str | None = None

    def claim_key(self, verifier):
        from intake.store import LogIntegrityError

        if self.key not in (None, verifier):
            raise LogIntegrityError("another key signs this log")
        self.key = verifier

    def read_nodes(self, positions):
        return {p: self.nodes[p] for p in positions if p in self.nodes}

    def read_checkpoint(self):
        return self.checkpoint

    def tree_state(self):
        return len(self.nodes), len(self.envelopes)

    def envelopes_after(self, seq, limit):
        return [(i + 1, e) for i, e in enumerate(self.envelopes)][seq : seq + limit]

    def write_nodes(self, rows):
        self.nodes.update(rows)

    def write_checkpoint(self, size, note):
        self.checkpoint = (size, note)

    @contextlib.contextmanager
    def reading(self):
        yield self

    snapshot = reading

    @contextlib.contextmanager
    def transaction(self):
        before = (dict(self.nodes), self.checkpoint, list(self.envelopes))
        try:
            yield self
        except BaseException:
            self.nodes, self.checkpoint, self.envelopes = before
            raise

    def close(self) -> None:
        pass


def test_the_log_runs_on_any_storage_that_implements_the_interface(tmp_path):
    signer, _ = ensure_log_key(tmp_path)
    storage = _MemoryStorage()
    log = TransparencyLog(storage, signer)
    storage.envelopes = [b"before the log %d" % i for i in range(3)]  # logged by the first sync
    assert log.sync()[0] == 3
    key = tv.parse_key(signer.verifier().encode())
    heads = [tv.open_checkpoint(log.latest()[1], key)]
    for group in range(4):  # what a store's transaction does for each group
        with storage.transaction() as txn:
            last = log.begin(txn)
            for i in range(group + 1):
                canonical = b"group %d envelope %d" % (group, i)
                storage.envelopes.append(canonical)
                last += 1
                log.append_leaf(last, log.leaf(canonical))
            size, note = log.seal(txn)
        log.committed()
        head = tv.open_checkpoint(note, key)
        assert head.size == size == len(storage.envelopes)
        assert head.root == tv.mth(storage.envelopes)
        for seq in range(1, size + 1):
            receipt = {"seq": seq, "envelope_sha256": hashlib.sha256(storage.envelopes[seq - 1]).hexdigest()}
            receipt |= log.receipt_members(seq, size, note)
            assert tv.check_receipt(receipt, storage.envelopes[seq - 1], key).size == size
        tv.check_consistency(heads[-1], head, log.consistency_proof(heads[-1].size, head.size))
        heads.append(head)
    with pytest.raises(BeyondTree):
        log.inclusion_proof(0, heads[-1].size + 1)


def test_a_log_that_disagrees_with_the_envelopes_rolls_back_the_transaction(tmp_path):
    signer, _ = ensure_log_key(tmp_path)
    storage = _MemoryStorage()
    log = TransparencyLog(storage, signer)
    log.sync()
    with pytest.raises(LogIntegrityError, match="does not follow"), storage.transaction() as txn:
        log.begin(txn)
        storage.envelopes.append(b"x")
        log.append_leaf(2, log.leaf(b"x"))  # seq 2 where the tree expects 1
    assert storage.envelopes == [] and storage.nodes == {}


def test_log_checkpoint_on_a_damaged_store_is_one_clear_line(tmp_path, ministry_key):
    from support import fill_store, one_line_error, run

    from intake import IntakeConfig

    config = IntakeConfig(data_dir=tmp_path / "d")
    fill_store(config, ministry_key.public_key, 3)
    ensure_log_key(config.data_dir)
    good = run("intake", "log", "checkpoint", "--data", config.data_dir)
    assert good.returncode == 0 and good.stdout.splitlines()[1] == "3", good.stderr
    for leftover in ("-wal", "-shm"):  # the log could bring the first page back
        config.db_path.with_name(config.db_path.name + leftover).unlink(missing_ok=True)
    config.db_path.write_bytes(b"not a database, any more\n" * 1000)
    damaged = run("intake", "log", "checkpoint", "--data", config.data_dir)
    assert damaged.returncode == 1 and damaged.stdout == ""
    assert one_line_error(damaged) == "intake: error: the intake store: file is not a database"
