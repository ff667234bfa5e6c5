"""The ceremony's logic (keyholder_cli.ceremony) with a scripted Prompter, no click and no terminal:
each officer is shown their share alone and must type it back; the screen is cleared in between."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from keyholder_cli.ceremony import make_epoch
from keyholder_cli.errors import KeyholderError


@dataclass
class Script:
    """A Prompter that answers from a list and records what it was shown."""

    answers: list[str]
    shown: list[str] = field(default_factory=list)

    def say(self, text: str, *, err: bool = False) -> None:
        self.shown.append(text)

    def ask(self, text: str, *, hidden: bool = False, confirm: bool = False, err: bool = False) -> str:
        assert hidden, "a share is never typed visibly"
        return self.answers.pop(0)

    def wait(self, text: str) -> None:
        self.shown.append(f"[wait] {text}")

    def yes(self, text: str) -> bool:
        return False

    def clear(self) -> None:
        self.shown.append("[clear]")


class Typist(Script):
    """Types back the share it was shown last (an officer who copied it right)."""

    def ask(self, text: str, *, hidden: bool = False, confirm: bool = False, err: bool = False) -> str:
        assert hidden, "a share is never typed visibly"
        start = max(i for i, line in enumerate(self.shown) if line.startswith("Share "))
        return " ".join(w for line in self.shown[start + 1 :] for w in re.findall(r"\d+\. (\S+)", line))


def test_each_officer_sees_only_their_share_between_cleared_screens():
    ui = Typist([])
    epoch = make_epoch(["Ana", "Ben"], 2, None, ui)
    ana, ben = epoch.split.shares
    text = "\n".join(ui.shown)
    first, second = text.split("Officer 2 of 2: Ben")
    assert "Officer 1 of 2: Ana" in first
    # Ana's screen lists exactly her share's words in order and Ben's screen exactly his (a single
    # word may occur in both shares by chance, so whole word lists are compared, not single words).
    assert re.findall(r"\d+\. (\S+)", first) == ana.split()
    assert re.findall(r"\d+\. (\S+)", second) == ben.split()
    assert first.endswith("[clear]\n[clear]\n")  # Ana's screen is cleared before Ben is called
    assert (
        second.split("Share 2 of 2")[0]
        == "\n[wait] Only this officer may look at the screen now. Press Enter to show it\n[clear]\n"
    )


def test_an_officer_who_types_three_wrong_shares_stops_the_ceremony_and_nothing_is_echoed():
    ui = Script(["wrong words", "wrong words", "wrong words"])
    with pytest.raises(KeyholderError, match="Ana could not confirm share 1"):
        make_epoch(["Ana", "Ben"], 2, None, ui)
    assert not any("wrong words" in line for line in ui.shown)
    assert ui.shown[-1] == "[clear]"
