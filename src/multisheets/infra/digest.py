"""Short, stable digests: what the workflow names files after (see `plan.identity`), and the model cache's entries."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

KEY_LENGTH = 12  # hex digits: 48 bits, far from collisions at any study size


def digest(value: Any) -> str:
    """A short, stable hex digest of a JSON-able value (dict order does not matter)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]


def file_digest(path: str | Path) -> str:
    """The digest of a small file's bytes (a groups CSV): its content, not its name, is what a result depends on."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:KEY_LENGTH]


def streamed_file_digest(path: str | Path) -> str:
    """The digest of a large file's bytes (a checkpoint), read in blocks rather than whole."""
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()[:KEY_LENGTH]
