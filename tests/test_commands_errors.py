"""keyholder_cli.commands.errors: the one error map (one line and exit 1; usage errors keep click's 2)."""

from __future__ import annotations

import errno
import sqlite3

from click.testing import CliRunner

from keyholder_cli.commands import main
from keyholder_cli.commands.errors import message
from keyholder_cli.errors import KeyholderError
from vault.audit import AuditLogError


def test_every_expected_failure_has_one_line_and_a_bug_has_none():
    assert message(KeyholderError("refused")) == "refused"
    assert "is altered" in str(message(AuditLogError(3, "is altered")))
    assert message(OSError(errno.ENOSPC, "No space left on device", "/x")) == "No space left on device: /x"
    assert message(sqlite3.DatabaseError("file is not a database")) == "the vault's database: file is not a database"
    assert message(ValueError("a bug")) is None


def test_an_expected_failure_is_one_line_and_exit_1_and_a_usage_error_exit_2(tmp_path):
    result = CliRunner().invoke(main, ["audit", "verify", "--vault", str(tmp_path / "nowhere")])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("keyholder: error: ") and "is not a vault" in result.stderr
    usage = CliRunner().invoke(main, ["publish", "--vault", str(tmp_path)])
    assert usage.exit_code == 2 and "Missing option" in usage.stderr
