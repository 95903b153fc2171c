"""Files written whole or not at all: a reader, or the job after a killed one, never sees half a file."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_atomically(path: Path, write: Callable[[Path], Any]) -> None:
    """`write(temporary_path)`, then rename onto `path` (a rename within a folder is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_json(path: str | Path, value: Any) -> None:
    """JSON (indented, for people to read), written whole or not at all."""
    write_atomically(Path(path), lambda temporary: temporary.write_text(json.dumps(value, indent=2, default=str)))
