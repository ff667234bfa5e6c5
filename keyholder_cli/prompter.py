"""What the workstation's logic may ask of the person at the keyboard.

The ceremony, the share prompts and the passphrase prompt need a screen and
a keyboard, but they are logic, not commands: they are handed a `Prompter`
by the command that runs them (`keyholder_cli.console.ClickPrompter` for the
terminal, anything else in a test), so only the command layer knows click.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Prompter"]


class Prompter(Protocol):
    def say(self, text: str, *, err: bool = False) -> None:
        """Show one line (on stderr with `err`)."""

    def ask(self, text: str, *, hidden: bool = False, confirm: bool = False, err: bool = False) -> str:
        """Ask for a line of text; `hidden` never echoes it, `confirm` asks twice."""

    def wait(self, text: str) -> None:
        """Wait for Enter."""

    def yes(self, text: str) -> bool:
        """A yes/no question, no by default."""

    def clear(self) -> None:
        """Clear the screen (between officers, so that each sees only their share)."""
