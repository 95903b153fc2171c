"""Train a batch of runs in one process, with the data resident on the device as uint8.

The process pays for imports, data transfer and compilation once; each run then re-initialises the same
(possibly compiled) module in place, so `torch.compile` does not recompile per model.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from multisheets.data.arrays import load_info, load_split
from multisheets.infra.logs import CONSOLE
from multisheets.models.checkpoint import checkpoint_of, image_size, write_checkpoint
from multisheets.models.inference import device_images, predict
from multisheets.models.runtime import Runtime, environment
from multisheets.models.zoo import Whitening, build_model, init_whitening
from multisheets.study.recipes import WHITENING_IMAGES
from multisheets.study.runs import Run, check_batch_sizes
from multisheets.study.sample import flips_labels, noisy_labels, training_sample
from multisheets.train.augment import Augmenter
from multisheets.train.init import (
    freeze_norm_statistics,
    head_names,
    load_pretrained,
    read_pretrained,
    set_trainable,
)
from multisheets.train.model_cache import ModelCache, legacy_data_fingerprint, write_train_log
from multisheets.train.optim import Lookahead, build_optimizer, group_lr_factors, lr_factor, parameter_groups

log = logging.getLogger(__name__)


class ArchitectureModules:
    """One module per architecture for the whole process; runs reset its weights in place.

    Data-dependent initialisation (a whitening stem's filters, a function of the training images alone) is
    fitted once per architecture and given to every run, whatever its seed.
    """

    def __init__(self, info: dict[str, Any], runtime: Runtime, whitening_images: torch.Tensor):
        self.info, self.runtime, self.whitening_images = info, runtime, whitening_images
        self.modules: dict[tuple, tuple[nn.Module, nn.Module]] = {}
        self.fitted: dict[tuple, dict[str, torch.Tensor]] = {}
        self.trainable: dict[tuple, dict[str, bool]] = {}  # each parameter's own requires_grad
        self.checkpoints: dict[str, dict[str, torch.Tensor]] = {}  # `init` path -> its tensors, read once

    def initial(self, hp: dict[str, Any], init_seed: int) -> tuple[nn.Module, set[str]]:
        """A run's starting weights on the CPU: drawn from `init_seed`, then what its `init` checkpoint holds;
        and the names (in the `Classifier`) that came from the checkpoint."""
        torch.manual_seed(init_seed)
        info = self.info
        initial = build_model(
            hp["model"], len(info["classes"]), info["mean"], info["std"], hp["width"], hp["tta"], image_size(info)
        )
        if hp["init"] == "scratch":
            return initial, set()
        if hp["init"] not in self.checkpoints:
            self.checkpoints[hp["init"]] = read_pretrained(hp["init"])
        tensors = self.checkpoints[hp["init"]]
        if hp["finetune"] == "linear_probe":  # a probe's head is new, whatever the checkpoint's
            head = head_names(initial.backbone)
            tensors = {name: tensor for name, tensor in tensors.items() if name not in head}
        loaded = load_pretrained(initial.backbone, tensors, hp["init"], hp["model"])
        return initial, {f"backbone.{name}" for name in loaded}

    def fresh(self, hp: dict[str, Any], init_seed: int) -> tuple[nn.Module, nn.Module]:
        """(module, callable) with the run's starting weights (`initial`); callable is the compiled module when
        enabled. A linear probe's loaded parameters are frozen, everyone else's trainable as the architecture says."""
        key = (hp["model"], hp["width"])
        initial, loaded = self.initial(hp, init_seed)
        if key not in self.modules:
            module = initial.to(self.runtime.device)
            if self.runtime.channels_last:
                module = module.to(memory_format=torch.channels_last)
            init_whitening(module, self.whitening_images)
            stems = {f"{name}.weight" for name, m in module.named_modules() if isinstance(m, Whitening)}
            self.fitted[key] = {name: t.clone() for name, t in module.state_dict().items() if name in stems}
            self.trainable[key] = {name: p.requires_grad for name, p in module.named_parameters()}
            forward = torch.compile(module) if self.runtime.compile else module
            self.modules[key] = (module, forward)
        module, forward = self.modules[key]
        module.load_state_dict(initial.state_dict() | self.fitted[key])
        set_trainable(module, self.trainable[key], loaded if hp["finetune"] == "linear_probe" else set())
        module.tta = hp["tta"]  # a plain attribute: runs differing only in tta share the module
        return module, forward


@dataclass
class RunTraining:
    """What the steps of one run use, set up from its hyperparameters and seeds before the first step."""

    forward: Callable
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LambdaLR
    lookahead: Lookahead | None
    loss_fn: nn.Module
    order_rng: np.random.Generator
    augment: Augmenter
    batch_size: int
    steps_per_epoch: int


def setup_run(run: Run, module: nn.Module, forward: Callable, n: int, runtime: Runtime) -> RunTraining:
    hp, seeds = run.hyperparameters, run.seeds
    groups = parameter_groups(module, hp)
    optimizer = build_optimizer(hp["optimizer"], groups, hp)
    check_batch_sizes([run], n)
    steps_per_epoch = n // hp["batch_size"]  # drop the ragged last batch: a tiny batch would upset batch norm
    total_steps = steps_per_epoch * hp["epochs"]
    factor = lr_factor(hp["schedule"], total_steps, round(hp["warmup_epochs"] * steps_per_epoch))
    return RunTraining(
        forward=forward,
        optimizer=optimizer,
        schedule=torch.optim.lr_scheduler.LambdaLR(optimizer, group_lr_factors(groups, factor, steps_per_epoch)),
        lookahead=Lookahead(module, total_steps) if hp["recipe"] == "fast" else None,
        loss_fn=nn.CrossEntropyLoss(label_smoothing=hp["label_smoothing"]),
        order_rng=np.random.default_rng(seeds["data_seed"]),
        augment=Augmenter(hp["augment"], n, torch.Generator(device=runtime.device).manual_seed(seeds["aug_seed"])),
        batch_size=hp["batch_size"],
        steps_per_epoch=steps_per_epoch,
    )


def train_epoch(
    training: RunTraining, epoch: int, train_x: torch.Tensor, train_y: torch.Tensor, runtime: Runtime, progress
) -> dict[str, float]:
    """One epoch of steps over a fresh order of the training split: its mean loss and accuracy."""
    order = torch.from_numpy(training.order_rng.permutation(len(train_y))).to(runtime.device)
    loss_sum = torch.zeros((), device=runtime.device)
    correct = torch.zeros((), device=runtime.device, dtype=torch.long)
    for step in range(training.steps_per_epoch):
        index = order[step * training.batch_size : (step + 1) * training.batch_size]
        images = training.augment(train_x[index], index, epoch)
        if runtime.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        labels = train_y[index]
        with runtime.autocast():
            logits = training.forward(images)
            loss = training.loss_fn(logits.float(), labels)
        training.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        training.optimizer.step()
        training.schedule.step()
        if training.lookahead is not None:
            training.lookahead.step((epoch - 1) * training.steps_per_epoch + step + 1)
        # Accumulate on the device: no host sync per step; divergence is checked once per epoch.
        loss_sum += loss.detach() * len(index)
        correct += (logits.argmax(1) == labels).sum()
        if progress is not None:
            progress.update(1)
    seen = training.steps_per_epoch * training.batch_size
    return {"train_loss": float(loss_sum) / seen, "train_accuracy": int(correct) / seen}


def train_run(
    run: Run,
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    val: tuple[torch.Tensor, torch.Tensor],
    models: ArchitectureModules,
    runtime: Runtime,
    show_progress: bool = False,
) -> tuple[nn.Module, dict[str, Any], np.ndarray | None]:
    """Train one run and validate it after every epoch; a run whose loss or weights stop being finite is stopped
    and recorded as diverged. Returns the trained module, the run's summary (its train log) and its sample of the
    training split (None: all of it)."""
    hp, seeds = run.hyperparameters, run.seeds
    log.info("%s: seeds %s (seed streams: %s)", run.run_id, seeds, run.seed_streams)
    module, forward = models.fresh(hp, seeds["init_seed"])
    sample, train_x, train_y, drawn = run_training_data(run, train_x, train_y, len(models.info["classes"]))
    training = setup_run(run, module, forward, len(train_y), runtime)
    history, status, started = [], "completed", time.perf_counter()
    progress = _progress(training.steps_per_epoch * hp["epochs"], run.run_id, show_progress)
    for epoch in range(1, hp["epochs"] + 1):
        epoch_start = time.perf_counter()
        module.train()
        if hp["finetune"] == "linear_probe":
            freeze_norm_statistics(module)
        record = {"epoch": epoch, **train_epoch(training, epoch, train_x, train_y, runtime, progress)}
        if training.lookahead is not None and epoch == hp["epochs"]:
            training.lookahead.finish()  # the model handed on is the average
        record["lr"] = training.optimizer.param_groups[-1]["lr"]  # the last group follows `lr` itself (see optim)
        # Intermediate epochs skip test-time augmentation (up to 6x the validation cost, ~20 % of a fast-recipe
        # epoch); the last epoch validates the model as it will be evaluated.
        record["val_tta"] = epoch == hp["epochs"] and hp["tta"] != "none"
        val_logits = predict(forward, val[0], runtime, tta=record["val_tta"])
        record["val_loss"] = float(F.cross_entropy(val_logits, val[1]))
        # The last steps of an epoch can blow the weights up after a finite loss: check the weights and the
        # validation loss too, or a broken model would pass as "completed".
        if not (math.isfinite(record["train_loss"]) and math.isfinite(record["val_loss"]) and weights_finite(module)):
            status = "diverged"
            record.update(val_accuracy=float("nan"), seconds=time.perf_counter() - epoch_start)
            history.append(record)
            log.warning(
                "%s diverged in epoch %d (train loss %s); recorded, moving on", run.run_id, epoch, record["train_loss"]
            )
            break
        record["val_accuracy"] = float((val_logits.argmax(1) == val[1]).float().mean())
        record["seconds"] = time.perf_counter() - epoch_start
        history.append(record)
        log.info(
            "%s epoch %d/%d train_loss %.4f train_acc %.4f val_acc %.4f (%.1fs)",
            *(run.run_id, epoch, hp["epochs"], record["train_loss"], record["train_accuracy"]),
            *(record["val_accuracy"], record["seconds"]),
        )
    if progress is not None:
        progress.close()
    summary = run_summary(run, status, history, time.perf_counter() - started)
    if drawn:
        summary["training_data"] = drawn
    return module, summary, sample


def run_training_data(
    run: Run, train_x: torch.Tensor, train_y: torch.Tensor, num_classes: int
) -> tuple[np.ndarray | None, torch.Tensor, torch.Tensor, dict[str, int]]:
    """The images and labels a run trains on: its sample of the training split (None: all of it), with its labels
    flipped where `label_noise` says; and what was drawn, for its train log."""
    hp, seeds = run.hyperparameters, run.seeds
    drawn: dict[str, int] = {}
    if flips_labels(hp):
        clean = train_y.cpu().numpy()
        noisy = noisy_labels(hp, seeds, clean, num_classes)
        train_y = torch.from_numpy(noisy).to(train_y.device)
        drawn["flipped_labels"] = int((noisy != clean).sum())
    sample = training_sample(hp, seeds, len(train_y))
    if sample is not None:
        index = torch.from_numpy(sample).to(train_x.device)
        train_x, train_y = train_x[index], train_y[index]
        drawn |= {"sample_size": len(sample), "distinct_images": int(len(np.unique(sample)))}
    return sample, train_x, train_y, drawn


def run_summary(run: Run, status: str, history: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """A run's train log, before the job adds where and how it ran."""
    return {
        "run_id": run.run_id,
        "status": status,
        "seed": run.seed,
        "seeds": run.seeds,
        "seed_streams": run.seed_streams,
        "changed": run.changed,
        "hyperparameters": run.hyperparameters,
        "epochs": history,
        "final_val_accuracy": history[-1]["val_accuracy"] if history else float("nan"),
        "wall_seconds": seconds,
    }


def weights_finite(module: nn.Module) -> bool:
    return bool(
        torch.stack(
            [tensor.isfinite().all() for tensor in module.state_dict().values() if tensor.is_floating_point()]
        ).all()
    )


def _progress(total: int, label: str, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=label, unit="step", leave=False, file=sys.stderr)


def save_run(checkpoint: dict[str, Any], summary: dict[str, Any], model_path: Path, log_path: Path) -> None:
    """Write a run's model, then its log; each file appears whole or not at all."""
    try:
        write_checkpoint(checkpoint, model_path)
        write_train_log(log_path, summary)
    except (OSError, RuntimeError) as error:
        raise OSError(saving_failed(model_path, error)) from error


def saving_failed(path: Path, error: BaseException) -> str:
    """torch.save reports a full disk as `inline_container.cc ... unexpected pos`: say what it most likely is."""
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        return f"could not write {path}: {error}"
    return (
        f"could not write {path} ({free / 2**20:.0f} MiB free on that filesystem; a full disk or quota is the "
        f"usual cause): {error}"
    )


def train_batch(
    runs: list[Run],
    data_dir: str | Path,
    model_paths: list[str],
    log_paths: list[str],
    runtime: Runtime,
    show_progress: bool | None = None,
    cache: ModelCache | None = None,
    keys: list[str] | None = None,
    job: str = "",
    gpu: str | None = None,
) -> list[dict[str, Any]]:
    """Train every run of a job; a diverging run is recorded as such and the next run starts.

    With a model `cache` (and each run's training `keys`), a run the cache holds for this data is restored
    instead of trained, and every finished run is cached before the next one starts, so a killed job loses at
    most the run in progress. `gpu` is the machine's number of the GPU the job leased for these runs (recorded in
    each train log; CUDA itself sees it as the job's first GPU). Returns each run's summary (its train log).
    """
    info = load_info(data_dir)
    data = info["fingerprint"] if cache is not None else None  # (data folders prepared before it had none)
    keys = keys if keys is not None else [None] * len(runs)
    check_batch_sizes(runs, info["sizes"]["train"])  # every run of the job, before any is trained
    todo = []
    for run, key, model_path, log_path in zip(runs, keys, model_paths, log_paths, strict=True):
        if cache is not None and not cache.contains(key, data):
            if cache.adopt_legacy(key, data, legacy_data_fingerprint(info)):
                log.info(
                    "%s: cached by an earlier version of this workflow; named after the data's content", run.run_id
                )
            elif cache.adopt_unkeyed(key, data, run, info["checksum"], Path(model_path).parent):
                log.info("%s: model.pt from an earlier version of this workflow taken into the model cache", run.run_id)
        if cache is not None and cache.contains(key, data):
            cache.restore(key, data, model_path, log_path, job)
            log.info("%s: restored from the model cache (key %s), not retrained", run.run_id, key, extra=CONSOLE)
        else:
            todo.append((run, key, Path(model_path), Path(log_path)))
    if todo:
        _train_and_save(todo, data_dir, info, data, runtime, show_progress, cache, job, gpu)
    return [json.loads(Path(path).read_text()) for path in log_paths]


def _train_and_save(todo, data_dir, info, data, runtime, show_progress, cache, job, gpu) -> None:
    train, val = load_split(data_dir, "train"), load_split(data_dir, "val")
    train_x, train_y = device_images(train.images, runtime), torch.from_numpy(train.labels).to(runtime.device)
    val_pair = (device_images(val.images, runtime), torch.from_numpy(val.labels).to(runtime.device))
    models = ArchitectureModules(info, runtime, train_x[:WHITENING_IMAGES])  # the same fixed images for every seed
    # A checkpoint that does not fit its model fails here, before the job trains anything.
    # (finetune too: a probe leaves the checkpoint's head out, so fewer of its tensors match)
    starts = {
        (hp["model"], hp["width"], hp["init"], hp["finetune"]): hp for hp in (run.hyperparameters for run, *_ in todo)
    }
    for hp in starts.values():
        if hp["init"] != "scratch":
            models.initial(hp, 0)
    env = environment(runtime)
    if show_progress is None:
        show_progress = sys.stderr.isatty()
    for run, key, model_path, log_path in todo:
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        module, summary, sample = train_run(run, train_x, train_y, val_pair, models, runtime, show_progress)
        summary.update(started=started, environment=env, data_checksum=info["checksum"], job=job, gpu=gpu)
        log.info(
            "%s: %s, val_acc %.4f, %.0f s on %s",
            *(run.run_id, summary["status"], summary["final_val_accuracy"], summary["wall_seconds"]),
            runtime.device if gpu is None else f"{runtime.device} (GPU {gpu})",
            extra=CONSOLE,
        )
        checkpoint = checkpoint_of(module, summary, info, sample)
        if cache is None:
            save_run(checkpoint, summary, model_path, log_path)
            continue
        summary.update(training_key=key, data_fingerprint=data)
        model_file, log_file = cache.entry(key, data)
        save_run(checkpoint, summary, model_file, log_file)
        cache.restore(key, data, model_path, log_path, job)
