"""A rule's log file, without torch: sheets and figures log through this (`runtime.setup_logging` adds torch's
thread count for the jobs that train and evaluate)."""

from __future__ import annotations

import logging
import os


def log_to_file(log_path: str | os.PathLike | None) -> None:
    """Send the library's progress lines to the terminal and, when given, to a rule's log file."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", handlers=handlers, force=True
    )
