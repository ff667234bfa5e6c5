"""The `keyholder` command's thin click wrappers: they parse options, call
the workstation's logic in `keyholder_cli`, and print. The only click users
in keyholder_cli; expected failures become one line and exit 1 in
`errors.KeyholderGroup`.
"""

from .main import main

__all__ = ["main"]
