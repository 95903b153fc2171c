"""References to code that a registry names without importing it: ``"package.module:name"``.

Registries that the workflow reads while it plans (families, architectures) must not import torch; the classes and
functions that do the work are imported only by the jobs that use them.
"""

from __future__ import annotations

import importlib
from typing import Any


def resolve(reference: str) -> Any:
    """The object a ``"package.module:name"`` reference names."""
    module, _, name = reference.partition(":")
    if not name:
        raise ValueError(f"{reference!r} is not a 'package.module:name' reference")
    return getattr(importlib.import_module(module), name)
