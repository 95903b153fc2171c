"""A rule's log file, without torch: sheets and figures log through this (`runtime.setup_logging` adds torch's
thread count for the jobs that train and evaluate)."""

from __future__ import annotations

import logging
import os

#: `extra=` of a progress line the terminal shows too (one per finished run); every other INFO line goes to the
#: rule's log file only, so a study's console stays readable: finished runs, warnings and errors.
CONSOLE = {"console": True}


class _ConsoleLines(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or getattr(record, "console", False)


def log_to_file(log_path: str | os.PathLike | None, append: bool = False) -> None:
    """Send the library's progress lines to a rule's log file (when given; emptied first unless `append`) and, of
    them, the finished runs, warnings and errors to the terminal. Without a log file everything goes to the terminal.

    The file is written in append mode either way, so a job's worker processes (multisheets.infra.workers) add
    their lines to the job's log without overwriting each other's or the job's.
    """
    terminal = logging.StreamHandler()
    handlers: list[logging.Handler] = [terminal]
    if log_path:
        terminal.addFilter(_ConsoleLines())
        if not append:
            open(log_path, "w").close()
        handlers.append(logging.FileHandler(log_path, mode="a"))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", handlers=handlers, force=True
    )
    # Matplotlib's PDF backend subsets fonts with fontTools, which reports every glyph at INFO.
    logging.getLogger("fontTools").setLevel(logging.WARNING)
