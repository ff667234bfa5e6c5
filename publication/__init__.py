"""Pure statistics for the publication: record linkage, counting, disclosure
protection and the readable report.

It sees opened records or protected aggregates handed to it as Python
objects and writes only into directories it is handed; it imports neither
the vault, the keyholder's workstation, the intake nor click (import-linter
contract in pyproject.toml), so it can be read and tested on its own.
"""

from .errors import PublicationError, WorkerDied

__all__ = ["PublicationError", "WorkerDied"]
