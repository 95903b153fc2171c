"""Process-level settings shared by training and evaluation: device, precision, determinism."""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from multisheets.infra.logs import log_to_file
from multisheets.study.config import RUNTIME_DEFAULTS

PRECISIONS = ("auto", "bf16", "fp32")  # auto: bf16 on GPUs, fp32 on CPUs


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    autocast_dtype: torch.dtype | None  # bf16 on GPUs; None (fp32) on CPUs, where bf16 is slower and less exact
    channels_last: bool
    compile: bool
    deterministic: bool

    def autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.device.type, self.autocast_dtype)


def autocast(device_type: str, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """torch.autocast to `dtype`, or nothing (fp32) when `dtype` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type, dtype=dtype)


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """Put every submodule in eval mode, restoring each module's own training flag on exit."""
    previous = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in previous:
            module.training = training


def make_runtime(settings: dict[str, Any] | None = None) -> Runtime:
    """Resolve ``device: auto|cpu|cuda``, ``precision: auto|bf16|fp32``, ``compile``, ``deterministic``.

    `settings` is the study's `runtime` section; a key left out takes the schema's default (direct calls).
    """
    settings = RUNTIME_DEFAULTS | (settings or {})
    requested = settings["device"]
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device={requested!r} requested but CUDA is not available")
    device = torch.device(requested)
    precision = settings["precision"]
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    deterministic = bool(settings["deterministic"])
    configure_determinism(deterministic, device)
    return Runtime(
        device=device,
        autocast_dtype=torch.bfloat16 if precision == "bf16" else None,
        channels_last=True,  # also on CPUs: oneDNN convolutions run ~4x faster on NHWC than on NCHW
        compile=bool(settings["compile"]),
        deterministic=deterministic,
    )


def configure_determinism(deterministic: bool, device: torch.device) -> None:
    """CPU kernels are deterministic already; on GPUs cuDNN autotuning and atomics in some backward kernels are
    not, so `deterministic` trades their speed for bit-identical reruns."""
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = not deterministic
        torch.backends.cuda.matmul.allow_tf32 = not deterministic
        torch.backends.cudnn.allow_tf32 = not deterministic


def environment(runtime: Runtime) -> dict[str, str]:
    """What a reader needs to reproduce a number: device and library versions."""
    import torchvision

    from multisheets import __version__

    device_name = torch.cuda.get_device_name(runtime.device) if runtime.device.type == "cuda" else cpu_name()
    return {
        "device": str(runtime.device),
        "device_name": device_name,
        "precision": str(runtime.autocast_dtype or torch.float32).replace("torch.", ""),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "multisheets": __version__,
        "cpu_threads": str(torch.get_num_threads()),
    }


def cpu_name() -> str:
    """The processor's model name (platform.processor() is empty on most Linux systems)."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def torch_threads(granted: int, runtime_settings: dict[str, Any], resources: dict[str, Any]) -> int:
    """Torch's CPU thread count for a training or evaluation job.

    On a CPU the thread count changes the order of floating-point sums, and training amplifies the last-bit
    differences, so with `deterministic: true` a job uses exactly the study's `resources.cpu_threads` whatever
    `--cores` granted it (fewer cores only make it slower); otherwise it uses the threads it was granted.
    """
    if runtime_settings["deterministic"]:
        return int(resources["cpu_threads"])
    return int(granted)


def setup_logging(log_path: str | os.PathLike | None, threads: int | None = None) -> None:
    """Send the library's progress lines to a rule's log file and cap torch's CPU threads at the rule's `threads`."""
    log_to_file(log_path)
    if threads:
        torch.set_num_threads(int(threads))
