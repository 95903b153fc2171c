"""Interrupting a study stops its jobs, and a job whose Snakemake is gone stops too.

Snakemake's local executor answers SIGINT by waiting for the running jobs to finish: only a Ctrl-C typed in a
terminal, which signals the whole foreground process group, reaches them. A SIGINT sent to the snakemake
process alone (`kill -INT`, a batch system, a supervising script) left a training job running for minutes.
`forward_interrupts` makes such a SIGINT reach the jobs as well. A job's finished runs are in the model cache
already, so stopping it loses at most the run in progress.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

log = logging.getLogger(__name__)


def forward_interrupts() -> None:
    """On SIGINT, send SIGINT to every descendant process, then interrupt this process as before.

    Installed by the Snakefile in the snakemake process (its main thread only: signal handlers cannot be set
    elsewhere, and job threads need none).
    """
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        import psutil  # a dependency of snakemake itself, so present wherever the Snakefile runs

        for child in psutil.Process().children(recursive=True):
            try:
                child.send_signal(signal.SIGINT)
            except psutil.Error:
                pass  # it ended meanwhile
        if callable(previous):
            previous(signum, frame)
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)


def exit_with_parent(poll_seconds: float = 1.0) -> None:
    """Stop this process when the process that started it ends (SIGKILL of snakemake leaves jobs orphaned:
    they would go on training and race the next invocation for the same runs)."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(poll_seconds)
            if os.getppid() != parent:
                log.error("the snakemake process that started this job has ended; stopping")
                logging.shutdown()
                os._exit(3)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
