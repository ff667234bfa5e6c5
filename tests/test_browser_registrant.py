"""Correct and withdraw without an account (issue 18), in real Chromium against
the real intake and the real `intake export` / `keyholder import, publish`:
register and get a code; correct the residence country with it (the counts
move, the registrant count stays); a mistyped code is refused in the page
and sends nothing; a well-formed code of nobody (an attacker's guess) is
sent but changes nothing; withdraw with the code (the count drops by one,
the person's envelopes are erased from the vault and the audit log says how
many and which); every other receipt and the log still verify."""

# Test functions take the fixtures imported below as parameters of the same name.
# ruff: noqa: F811

from __future__ import annotations

import base64
import dataclasses
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from test_browser_form import BIN, Ministry, cli, ministry  # noqa: F401 - pytest fixture
from test_browser_support import (  # noqa: F401 - pytest fixtures
    PEOPLE,
    Person,
    RequestLog,
    browser_only,
    chromium,
    fill_form,
    wait_until_ready,
)

pytestmark = browser_only

CHECK_MISTAKE = "This code has a typing mistake: please compare it with your receipt. Nothing was sent."
NOT_A_CODE = "This is not a registrant code: it has 17 letters and digits, such as 7K3Q-9XWD-M2PA-4RTC-8."
DIGITS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def register(chromium: Any, origin: str, person: Person, code: str | None = None) -> dict[str, Any]:
    """Fill and send the form (after entering `code` and choosing to correct,
    if given); return the saved receipt file's content."""
    ctx = chromium.new_context(locale="en-US", accept_downloads=True)
    page = ctx.new_page()
    page.goto(origin + "/en/")
    wait_until_ready(page)
    if code is not None:
        page.fill("#control-code", code)
        page.click("#correct-button")
        page.locator("#control-result").filter(has_text="it replaces your earlier registration").wait_for()
    fill_form(page, person)
    page.click("#submit")
    page.wait_for_selector("[data-testid=receipt]", state="visible")
    shown = page.inner_text("[data-testid=registrant-code]")
    with page.expect_download() as download:
        page.click("#receipt-download")
    saved = json.loads(Path(download.value.path()).read_text())
    ctx.close()
    assert saved["registrant_code"] == shown
    return saved


def withdraw(chromium: Any, origin: str, code: str) -> tuple[str, str, int]:
    """Withdraw with `code`: the section's status and alert text, and how many POSTs were made."""
    ctx = chromium.new_context(locale="en-US")
    page = ctx.new_page()
    log = RequestLog().attach(page)
    page.goto(origin + "/en/")
    wait_until_ready(page)
    page.fill("#control-code", code)
    page.click("#withdraw-button")
    # (a polling locator: the page's CSP refuses wait_for_function's eval)
    page.locator("#control-error:not(:empty), #control-result:has-text('receipt number')").first.wait_for()
    out = page.inner_text("#control-result"), page.inner_text("#control-error"), len(log.posts)
    ctx.close()
    return out


def mistype(code: str) -> str:
    """One symbol of the code's data part replaced by another digit."""
    at = 5
    return code[:at] + DIGITS[(DIGITS.index(code[at]) + 7) % 32] + code[at + 1 :]


def publish(ministry: Ministry, out: Path) -> tuple[dict[str, Any], str]:
    """Export the intake's new envelopes, import them, publish; the aggregates and publish's output."""
    batch = out.with_suffix(".dvrb")
    cli("intake", "export", "--data", ministry.data_dir, "--out", batch)
    cli("keyholder", "import", "--vault", ministry.vault, batch)
    env = {**os.environ, "DVR_INSECURE_FAST_KDF": "1"}
    done = subprocess.run(
        [BIN / "keyholder", "publish", "--vault", ministry.vault, "--passphrase-file", ministry.passphrase_file,
         "--out", out, "--min-cell", "1"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads((out / "aggregates.json").read_text()), done.stdout + done.stderr


def residence(aggregates: dict[str, Any]) -> dict[str, int]:
    table = next(t for t in aggregates["tables"] if t["name"] == "residence_country")
    return {c["residence_country"]: c["count"] for c in table["cells"] if c["count"]}


def receipt_verdict(ministry: Ministry, saved: dict[str, Any], path: Path) -> str:
    path.write_text(json.dumps(saved))
    return cli("keyholder", "audit", "receipt", "--vault", ministry.vault, path)


def test_register_correct_withdraw_and_erase(chromium: Any, ministry: Ministry, tmp_path: Path) -> None:
    stays, leaves = PEOPLE["en"], PEOPLE["de"]  # CH and SE
    first = register(chromium, ministry.origin, stays)
    other = register(chromium, ministry.origin, leaves)
    code, other_code = first["registrant_code"], other["registrant_code"]
    assert code != other_code and len(code) == 21
    aggregates, _ = publish(ministry, tmp_path / "p1")
    assert aggregates["registrants"] == 2 and residence(aggregates) == {"CH": 1, "SE": 1}

    # Correct with the code, typed in lower case: the count moves from CH to FR, still two people.
    moved = dataclasses.replace(stays, record={**stays.record, "residence_country": "FR"})
    corrected = register(chromium, ministry.origin, moved, code=code.lower())
    assert corrected["registrant_code"] == code  # the code stays the same
    aggregates, output = publish(ministry, tmp_path / "p2")
    assert aggregates["registrants"] == 2 and residence(aggregates) == {"FR": 1, "SE": 1}
    assert "1 correction, 0 withdrawals" in output

    # A mistyped code is refused in the page; nothing is sent.
    status, alert, posts = withdraw(chromium, ministry.origin, mistype(other_code))
    assert (alert, posts) == (CHECK_MISTAKE, 0)
    status, alert, posts = withdraw(chromium, ministry.origin, other_code[:-3])
    assert (alert, posts) == (NOT_A_CODE, 0)

    # An attacker's well-formed code of nobody: sent (the intake cannot tell), and it changes nothing.
    guess = register_free_code()
    status, alert, posts = withdraw(chromium, ministry.origin, guess)
    assert posts == 1 and "receipt number" in status
    aggregates, output = publish(ministry, tmp_path / "p3")
    assert aggregates["registrants"] == 2 and residence(aggregates) == {"FR": 1, "SE": 1}
    assert "1 of the corrections and withdrawals carried a code that matched no registration" in output

    # The real withdrawal: the count drops by one, the person's envelopes are erased.
    status, alert, posts = withdraw(chromium, ministry.origin, other_code)
    assert alert == "" and posts == 1 and "will be erased" in status
    withdrawal_seq = int(status.split("receipt number ")[1].split(")")[0])
    aggregates, output = publish(ministry, tmp_path / "p4")
    assert aggregates["registrants"] == 1 and residence(aggregates) == {"FR": 1}
    assert "1 withdrawal, 2 erased" in output

    log = [json.loads(line) for line in (ministry.vault / "audit.log").read_text().splitlines()]
    erased = [e["details"] for e in log if e["kind"] == "erase"]
    assert erased == [{"count": 2, "seqs": [other["seq"], withdrawal_seq]}]
    stored = b"".join(p.read_bytes() for p in ministry.vault.glob("envelopes.sqlite*"))
    ct = other["envelope"]["ct"]
    assert base64.urlsafe_b64decode(ct + "=" * (-len(ct) % 4)) not in stored
    kept = first["envelope"]["ct"]
    assert base64.urlsafe_b64decode(kept + "=" * (-len(kept) % 4)) in stored  # the check above can fail

    # The log and every other receipt still verify; the withdrawn one's leaf is still proven.
    cli("keyholder", "audit", "verify", "--vault", ministry.vault)
    assert receipt_verdict(ministry, first, tmp_path / "r1.json").startswith("Yes:")
    assert receipt_verdict(ministry, corrected, tmp_path / "r2.json").startswith("Yes:")
    assert receipt_verdict(ministry, other, tmp_path / "r3.json").startswith("Yes:")


def register_free_code() -> str:
    """A well-formed code nobody was given (its check symbol is right)."""
    n = int.from_bytes(os.urandom(10), "big")
    digits = "".join(DIGITS[(n >> (75 - 5 * i)) & 31] for i in range(16))
    check = (DIGITS + "*~$=U")[n % 37]
    return "-".join(digits[i : i + 4] for i in range(0, 16, 4)) + "-" + check
