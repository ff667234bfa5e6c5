"""The offline keyholder workstation: the `keyholder` command.

Ceremony and custody, import of batches, publication of protected
aggregates, and the audit log. Run `keyholder --help`.
"""

__all__: list[str] = []
