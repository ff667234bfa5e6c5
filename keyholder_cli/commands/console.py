"""The terminal's `Prompter`, for the commands: click's prompts, echo and clear."""

from __future__ import annotations

import click

__all__ = ["ClickPrompter"]


class ClickPrompter:
    def say(self, text: str, *, err: bool = False) -> None:
        click.echo(text, err=err)

    def ask(self, text: str, *, hidden: bool = False, confirm: bool = False, err: bool = False) -> str:
        return str(click.prompt(text, hide_input=hidden, confirmation_prompt=confirm, err=err))

    def wait(self, text: str) -> None:
        click.prompt(text, default="", show_default=False)

    def yes(self, text: str) -> bool:
        return click.confirm(text, default=False)

    def clear(self) -> None:
        click.clear()
