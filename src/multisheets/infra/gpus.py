"""Which GPUs a training or evaluation job uses: each job leases its own, before CUDA is initialised.

Snakemake counts GPUs (`--resources gpu=4` caps the jobs running at once) but does not say which GPU a job gets
on a local machine, so every job of a four-GPU workstation would use GPU 0. A job therefore leases GPUs itself:
one lock file per GPU in a folder every job on the machine shares, held with `flock` for as long as the job runs.
The kernel drops a lock when its process ends, however it ends (a killed job, a crashed interpreter), so a GPU
is never left taken by a job that is gone, and no two running jobs ever hold the same GPU. The job then sets
`CUDA_VISIBLE_DEVICES` to the GPUs it holds, so CUDA numbers them from 0 in the job.

Under SLURM the scheduler has done this already: a job sees exactly the GPUs it was granted and uses them all.
"""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

#: The GPUs jobs on this machine share, as CUDA numbers them (comma-separated): instead of asking the driver.
#: Set it to use a subset of a machine's GPUs, or to test the leases on a machine without any.
GPUS_ENV = "MULTISHEETS_GPUS"
#: The folder of the lock files (default: one under the system's temporary folder, shared by its users).
LOCKS_ENV = "MULTISHEETS_GPU_LOCKS"
#: How often a job that waits for a GPU looks again: a lock is free the moment its holder ends.
POLL_SECONDS = 1.0


@dataclass
class GpuLease:
    """The GPUs a job holds (CUDA's numbers on this machine; empty: the job runs on the CPU)."""

    gpus: list[str]
    scheduler: str  # "locks" (leased here), "slurm" (granted by SLURM) or "none" (no GPU asked for or present)
    _locks: list[int] = field(default_factory=list, repr=False)

    def release(self) -> None:
        for descriptor in self._locks:
            os.close(descriptor)  # closing the file drops its flock
        if self._locks:
            log.info("gpu lease: released GPU %s", ",".join(self.gpus))
        self._locks = []

    def __enter__(self) -> GpuLease:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def machine_gpus() -> list[str]:
    """The GPUs of this machine that jobs may use: $MULTISHEETS_GPUS, else $CUDA_VISIBLE_DEVICES, else the driver's
    list (`nvidia-smi`); none on a machine without an NVIDIA driver."""
    for variable in (GPUS_ENV, "CUDA_VISIBLE_DEVICES"):
        if variable in os.environ:
            return _ids(os.environ[variable])
    try:
        listed = subprocess.run(
            ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return _ids(listed.stdout.replace("\n", ",")) if listed.returncode == 0 else []


def _ids(listed: str) -> list[str]:
    ids = [part.strip() for part in listed.split(",") if part.strip()]
    # CUDA stops at the first invalid entry (-1 is the usual way to hide every GPU).
    return ids[: ids.index("-1")] if "-1" in ids else ids


def lease_gpus(count: int, device: str = "auto", holder: str = "", locks: str | os.PathLike | None = None) -> GpuLease:
    """Hold `count` GPUs of this machine for the calling process and show CUDA only those (call before CUDA is
    initialised: before the first torch.cuda call). Waits while other jobs hold them.

    A job asks for what Snakemake granted it (its `gpu` resource). Without GPUs to lease (a CPU machine, or
    `count` 0) nothing is held and the job runs on the CPU, as `device: auto` expects. Under SLURM the granted GPUs
    are the visible ones and all of them are used. A study that names its GPU (`runtime.device: cuda:1`) or the
    CPU leases nothing.
    """
    if count <= 0 or device not in ("auto", "cuda"):
        return GpuLease([], "none")
    if os.environ.get("SLURM_JOB_ID") and "CUDA_VISIBLE_DEVICES" in os.environ and GPUS_ENV not in os.environ:
        granted = _ids(os.environ["CUDA_VISIBLE_DEVICES"])
        log.info("gpu lease: SLURM granted GPU %s", ",".join(granted) or "none")
        return GpuLease(granted, "slurm")
    pool = machine_gpus()
    if not pool:
        log.info("gpu lease: this machine has no GPU; the job runs on the CPU")
        return GpuLease([], "none")
    if count > len(pool):
        raise RuntimeError(
            f"a job asks for {count} GPUs (resources.gpu) but this machine has {len(pool)} ({','.join(pool)}): "
            f"set resources.gpu to at most {len(pool)}"
        )
    folder = Path(locks or os.environ.get(LOCKS_ENV) or Path(tempfile.gettempdir()) / "multisheets-gpu-locks")
    _make_shared_folder(folder)
    waited_since = None
    while True:
        held = _try_lock(folder, pool, count)
        if held is not None:
            gpus = [gpu for gpu, _ in held]
            os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
            os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")  # CUDA's numbers = nvidia-smi's
            log.info("gpu lease: GPU %s (of %s) held by %s", ",".join(gpus), ",".join(pool), holder or os.getpid())
            return GpuLease(gpus, "locks", [descriptor for _, descriptor in held])
        if waited_since is None:
            waited_since = time.monotonic()
            log.info("gpu lease: waiting for %d free GPU(s) of %s (other jobs hold them)", count, ",".join(pool))
        time.sleep(POLL_SECONDS)


def _try_lock(folder: Path, pool: list[str], count: int) -> list[tuple[str, int]] | None:
    """`count` GPUs locked now, or None (and nothing held: holding some while waiting for others could leave two
    jobs each waiting for the other's GPU)."""
    held = []
    for gpu in pool:
        descriptor = os.open(folder / f"gpu-{gpu}.lock", os.O_RDONLY | os.O_CREAT, 0o666)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            continue
        held.append((gpu, descriptor))
        if len(held) == count:
            return held
    for _, descriptor in held:
        os.close(descriptor)
    return None


def _make_shared_folder(folder: Path) -> None:
    """The lock folder, writable by every user of the machine (as /tmp is), so their jobs share the GPUs too."""
    if folder.is_dir():
        return
    folder.mkdir(parents=True, exist_ok=True)
    try:
        folder.chmod(0o1777)
    except OSError:
        pass  # someone else's folder: its owner set it up
