"""The publication's own errors: the workstation maps them to one line and an exit status."""

from __future__ import annotations

__all__ = ["PublicationError", "WorkerDied"]


class PublicationError(Exception):
    """An expected failure while building a publication, with a message meant for the data officer."""


class WorkerDied(PublicationError):
    """A worker process drawing the report's charts ended mid-work (killed, or out of memory)."""

    def __init__(self) -> None:
        super().__init__("a worker process stopped unexpectedly (killed, or out of memory?); nothing was written")
