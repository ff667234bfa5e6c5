"""The JSON Schemas and reference lists: one source of truth for the form,
the browser and the keyholder's validation. Data only; `load` reads a file."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["load"]


@cache
def load(name: str) -> Any:
    """Return the parsed JSON file `name` shipped in this package."""
    return json.loads(resources.files(__name__).joinpath(name).read_text(encoding="utf-8"))
