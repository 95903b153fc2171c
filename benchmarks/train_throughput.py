#!/usr/bin/env python
"""Training throughput: models/hour of our batched trainer against a tutorial-style loop and airbench94.

Four rows, in two matched pairs. At the fast recipe: (a) ours, `train_batch` on the `config/cifar10-fast.yaml`
base (N runs, seeds 0..N-1, one process) and (b) airbench94 where installed. At the standard ResNet-18 recipe:
(c) ours and (d) naive: one fresh process per model, torchvision transforms + DataLoader workers, fp32, no
compile. One table (CSV with --out); `--smoke` is a scaled-down CPU run for CI. What each time includes:
benchmarks/README.md.
"""

import argparse
import importlib.util
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from PIL import Image

from multisheets.data.arrays import load_info, load_split
from multisheets.data.prepare import prepare
from multisheets.models.runtime import cpu_name, make_runtime

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / ".gpu" / "cifar10-jpeg.tar.gz"  # where gpu_session.sh expects your copy (git-ignored)
FAST_PRESET = ROOT / "config" / "cifar10-fast.yaml"
METHODS = ("fast", "airbench", "standard", "naive")
GPU_DEFAULTS = {
    "data": str(DEFAULT_DATA),
    "models": 8,
    "standard_models": 2,
    "epochs": 5,
    "model": "resnet18",
    "device": "auto",
}
FAST_SMOKE = {"width": 4, "epochs": 1, "batch_size": 256}  # the fast preset shrunk for CPU smoke runs
SMOKE_DEFAULTS = {
    "data": "synthetic",
    "models": 2,
    "standard_models": 2,
    "epochs": 1,
    "model": "cnn",
    "width": 4,
    "device": "cpu",
    **{f"fast_{key}": value for key, value in FAST_SMOKE.items()},
}
SYNTHETIC = {
    "source": "synthetic",
    "path": "",
    "val_size": 500,
    "split_seed": 0,
    "synthetic": {"train_per_class": 200, "test_per_class": 50},
}
EVAL_BATCH = 1024
NAN = float("nan")


def hyperparameters(args) -> dict:
    """The standard recipe's settings that ours and naive share."""
    return {key: getattr(args, key) for key in ("model", "width", "epochs", "batch_size", "lr")}


def fast_base(overrides: dict | None = None) -> dict:
    """The fast preset's base hyperparameters, with the overrides that are not None."""
    base = yaml.safe_load(FAST_PRESET.read_text())["base"]
    return base | {key: value for key, value in (overrides or {}).items() if value is not None}


def fast_hyperparameters(args) -> dict:
    """The fast preset's base with --fast-* overrides (the smoke run shrinks it)."""
    return fast_base({key: getattr(args, f"fast_{key}") for key in FAST_SMOKE})


def timed(device: str, work) -> tuple[float, object]:
    """Seconds that `work()` takes, up to its last GPU kernel; resets the peak-memory counter first."""
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    result = work()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started, result


def peak_mib(device: str) -> float:
    return torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else NAN


def row(method: str, device: str, status: str, n=0, seconds=0.0, accuracies=(), peak=NAN, per_model=()) -> dict:
    """`seconds`: the whole method; `per_model`: each model's own training time, where the method exposes it (the
    first pays compilation and autotuning, the others show the steady state a long job converges to)."""
    acc, ok = np.asarray(accuracies, dtype=float), status == "ok" and n > 0
    per_model = np.asarray(per_model, dtype=float)
    return {
        "method": method,
        "device": device,
        "models": n,
        "s_per_model": seconds / n if ok else NAN,
        "models_per_hour": 3600 * n / seconds if ok else NAN,
        "first_model_s": per_model[0] if len(per_model) else NAN,
        "steady_s_per_model": per_model[1:].mean() if len(per_model) > 1 else NAN,
        "test_acc_mean": acc.mean() if ok else NAN,
        "test_acc_std": acc.std(ddof=1) if ok and len(acc) > 1 else NAN,
        "peak_gpu_mib": peak,
        "status": status,
    }


def resolve_data(source: str, work: Path, val_size: int) -> Path:
    """A prepared directory as it is; `synthetic` or an ImageFolder folder/archive prepared once into `work`/data."""
    if source != "synthetic" and (Path(source) / "dataset.json").exists():
        return Path(source)
    config = (
        SYNTHETIC
        if source == "synthetic"
        else {"source": "imagefolder", "path": str(Path(source).resolve()), "val_size": val_size, "split_seed": 0}
    )
    out = work / "data"  # reused when an earlier run with the same --work prepared the same source
    if (out / "dataset.json").exists() and all(load_info(out)[k] == config[k] for k in ("source", "path", "val_size")):
        return out
    logging.info("preparing %s into %s", source, out)
    prepare(config, out)
    return out


def bench_ours(args, data_dir: Path, work: Path, device: str, name: str, recipe: str) -> dict:
    from multisheets.models.checkpoint import load_model
    from multisheets.models.inference import device_images, predict
    from multisheets.study.runs import expand_study
    from multisheets.train.loop import train_batch

    runtime = make_runtime({"device": device, "compile": args.compile})
    base, n = (
        (fast_hyperparameters(args), args.models) if recipe == "fast" else (hyperparameters(args), args.standard_models)
    )
    runs = expand_study({"base": base, "seeds": list(range(n))})
    paths = [work / f"ours-{recipe}" / run.run_id for run in runs]
    seconds, summaries = timed(
        device,
        lambda: train_batch(
            runs,
            data_dir,
            [str(p / "model.pt") for p in paths],
            [str(p / "train_log.json") for p in paths],
            runtime,
            show_progress=False,
        ),
    )
    test = load_split(data_dir, "test")
    images, labels = device_images(test.images, runtime), torch.from_numpy(test.labels).to(runtime.device)
    models = (load_model(path / "model.pt", runtime)[0] for path in paths)  # one at a time
    accuracies = [float((predict(model, images, runtime).argmax(1) == labels).float().mean()) for model in models]
    method = f"ours {recipe} ({base['model']}" + (", compile)" if args.compile else ")")
    return row(
        method,
        name,
        "ok",
        len(runs),
        seconds,
        accuracies,
        peak_mib(device),
        [summary["wall_seconds"] for summary in summaries],
    )


class ArrayDataset(torch.utils.data.Dataset):
    """What torchvision.datasets.CIFAR10 does: one uint8 array row -> PIL image -> transform, per item."""

    def __init__(self, data_dir: str, split: str, transform):
        data = load_split(data_dir, split)
        self.images, self.labels, self.transform = data.images, data.labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        return self.transform(Image.fromarray(self.images[index])), int(self.labels[index])


@torch.no_grad()
def loader_accuracy(model, loader, device) -> float:
    model.eval()
    correct = total = 0
    for images, labels in loader:
        correct += (model(images.to(device)).argmax(1).cpu() == labels).sum().item()
        total += len(labels)
    return correct / total


def naive_worker(args) -> None:
    """A training script as most tutorials write it. Normalisation moves from the model into the transforms."""
    import torchvision.transforms as T
    from torch.utils.data import DataLoader

    from multisheets.models.checkpoint import image_size
    from multisheets.models.zoo import build_model
    from multisheets.study.config import HYPERPARAMETER_DEFAULTS
    from multisheets.study.runs import derive_seeds
    from multisheets.train.optim import build_optimizer, lr_factor

    hp = {**HYPERPARAMETER_DEFAULTS, **hyperparameters(args)}
    seeds = derive_seeds(args.seed, hp)
    info, device = load_info(args.data), torch.device(args.device)
    normalize = T.Normalize(info["mean"], info["std"])
    train_tf = T.Compose(
        [T.RandomCrop(info["image_shape"][0], padding=4), T.RandomHorizontalFlip(), T.ToTensor(), normalize]
    )
    eval_tf = T.Compose([T.ToTensor(), normalize])
    common = {"num_workers": args.workers, "pin_memory": device.type == "cuda", "persistent_workers": args.workers > 0}
    train_loader = DataLoader(
        ArrayDataset(args.data, "train", train_tf),
        batch_size=hp["batch_size"],
        shuffle=True,
        drop_last=True,
        generator=torch.Generator().manual_seed(seeds["data_seed"]),
        **common,
    )
    val_loader, test_loader = (
        DataLoader(ArrayDataset(args.data, split, eval_tf), batch_size=EVAL_BATCH, **common)
        for split in ("val", "test")
    )

    torch.manual_seed(seeds["init_seed"])
    model = build_model(
        hp["model"], len(info["classes"]), [0.0] * 3, [1.0] * 3, hp["width"], image_size=image_size(info)
    ).to(device)
    optimizer = build_optimizer(hp["optimizer"], model.parameters(), hp)
    steps, warmup = len(train_loader) * hp["epochs"], round(hp["warmup_epochs"] * len(train_loader))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(hp["schedule"], steps, warmup))
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=hp["label_smoothing"])
    for epoch in range(1, hp["epochs"] + 1):
        model.train()
        for images, labels in train_loader:
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            loss = loss_fn(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        val = loader_accuracy(model, val_loader, device)
        print(f"naive seed {args.seed} epoch {epoch}: loss {loss.item():.4f} val_acc {val:.4f}", file=sys.stderr)
    test = loader_accuracy(model, test_loader, device)
    print(json.dumps({"seed": args.seed, "test_accuracy": test, "peak_gpu_mib": peak_mib(device.type)}))


def bench_naive(args, data_dir: Path, device: str, name: str) -> dict:
    seconds, accuracies, peaks = 0.0, [], []
    for seed in range(args.standard_models):
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--naive-worker",
            "--data",
            str(data_dir),
            "--seed",
            str(seed),
            "--device",
            device,
            "--model",
            args.model,
            "--epochs",
            str(args.epochs),
            "--batch-size",
            str(args.batch_size),
            "--lr",
            str(args.lr),
            "--workers",
            str(args.workers),
        ]
        command += ["--width", str(args.width)] if args.width else []
        started = time.perf_counter()
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
        seconds += time.perf_counter() - started
        result = json.loads(done.stdout.strip().splitlines()[-1])
        accuracies.append(result["test_accuracy"])
        peaks.append(result["peak_gpu_mib"])
    return row(
        f"naive ({args.model}, DataLoader x{args.workers}, fp32)",
        name,
        "ok",
        args.standard_models,
        seconds,
        accuracies,
        max(peaks),
    )


def bench_airbench(args, data_dir: Path, device: str, name: str) -> dict:
    """Not yet run (no GPU so far); written against the package's source: train94, CifarLoader, evaluate.

    airbench reads ./cifar10/{train,test}.pt (its default train loader already at import) and downloads CIFAR-10
    where they are missing, so we write our arrays there, in a temporary working directory, first."""
    info = load_info(data_dir)
    status = (
        "not installed"
        if importlib.util.find_spec("airbench") is None
        else "needs CUDA"
        if device != "cuda"
        else "needs 10-class 32x32 data"
        if len(info["classes"]) != 10 or info["image_shape"] != [32, 32, 3]
        else "ok"
    )
    if status != "ok":
        return row("airbench94", name, status)
    home = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            os.chdir(tmp)
            Path("cifar10").mkdir()
            for split in ("train", "test"):
                data = load_split(data_dir, split)
                torch.save(
                    {
                        "images": torch.from_numpy(data.images),
                        "labels": torch.from_numpy(data.labels),
                        "classes": info["classes"],
                    },
                    f"cifar10/{split}.pt",
                )

            def train_all():
                import airbench  # its default train loader reads ./cifar10/train.pt at import

                models, per_model = [], []
                for seed in range(args.models):
                    torch.manual_seed(seed)
                    model_seconds, model = timed(device, lambda: airbench.train94(verbose=False))
                    models.append(model)
                    per_model.append(model_seconds)
                return airbench, models, per_model

            seconds, (airbench, models, per_model) = timed(device, train_all)
            test_loader = airbench.CifarLoader("cifar10", train=False, batch_size=2000)
            accuracies = [airbench.evaluate(model, test_loader, tta_level=2) for model in models]
            return row("airbench94", name, "ok", args.models, seconds, accuracies, peak_mib(device), per_model)
        except Exception as error:  # report it and keep the other rows
            logging.exception("airbench94 failed")
            return row("airbench94", name, f"failed: {type(error).__name__}")
        finally:
            os.chdir(home)


def show(table: pd.DataFrame) -> str:
    def number(value, spec):
        return format(value, spec) if np.isfinite(value) else "-"

    return pd.DataFrame(
        {
            "method": table["method"],
            "epochs": table["epochs"],
            "device": table["device"],
            "models": table["models"],
            "s/model": [number(v, ".2f") for v in table["s_per_model"]],
            "first s": [number(v, ".2f") for v in table["first_model_s"]],
            "steady s/model": [number(v, ".2f") for v in table["steady_s_per_model"]],
            "models/hour": [number(v, ".1f") for v in table["models_per_hour"]],
            "test accuracy": [
                f"{m:.4f}" + (f" ± {s:.4f}" if np.isfinite(s) else "") if np.isfinite(m) else "-"
                for m, s in zip(table["test_acc_mean"], table["test_acc_std"])
            ],
            "peak GPU MiB": [number(v, ".0f") for v in table["peak_gpu_mib"]],
            "status": table["status"],
        }
    ).to_string(index=False)


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--data", help=f"prepared data dir, ImageFolder folder/archive, or 'synthetic' (default {DEFAULT_DATA})")
    add("--methods", default=",".join(METHODS), help=f"comma-separated subset of {','.join(METHODS)} (default all)")
    add("--models", type=int, help="models for the fast recipe and airbench94 (default 8; --smoke 2)")
    add("--fast-width", type=int, help="override the fast preset's width (--smoke 4)")
    add("--fast-epochs", type=int, help="override the fast preset's epochs (--smoke 1)")
    add("--fast-batch-size", type=int, help="override the fast preset's batch size (--smoke 256)")
    add("--standard-models", type=int, help="models for ours/naive at the standard recipe (default 2)")
    add("--epochs", type=int, help="standard recipe: epochs per model (default 5; --smoke 1)")
    add("--model", choices=["cnn", "resnet18"], help="standard recipe: default resnet18; --smoke cnn")
    add("--width", type=int, help="standard recipe: model width (default: the model's own; --smoke 4)")
    add("--batch-size", type=int, default=128, help="standard recipe (default 128)")
    add("--lr", type=float, default=0.1, help="standard recipe (default 0.1)")
    add("--compile", action="store_true", help="torch.compile the model in our trainer (both recipes)")
    add("--workers", type=int, default=min(4, os.cpu_count() or 1), help="DataLoader workers of the naive loop")
    add("--val-size", type=int, default=5000, help="validation images held out of an ImageFolder's train/")
    add("--device", choices=["auto", "cpu", "cuda"], help="default auto; --smoke cpu")
    add("--work", help="keep prepared data and models here (default: a temporary directory)")
    add("--out", help="write the table as CSV here")
    add("--smoke", action="store_true", help="scaled-down CPU run: synthetic data, width-4 models, 1 epoch, 2 models")
    add("--naive-worker", action="store_true", help=argparse.SUPPRESS)
    add("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for key, value in (SMOKE_DEFAULTS if args.smoke else GPU_DEFAULTS).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(args.methods) - set(METHODS)
    if unknown:
        parser.error(f"unknown --methods {sorted(unknown)} (known: {', '.join(METHODS)})")
    return args


def main(argv=None) -> None:
    args = parse(argv)
    if args.naive_worker:
        return naive_worker(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    name = torch.cuda.get_device_name() if device == "cuda" else f"{cpu_name()} ({torch.get_num_threads()} threads)"
    fast, standard = fast_hyperparameters(args), hyperparameters(args)
    benches = {
        "fast": (f"ours fast ({fast['model']})", lambda: bench_ours(args, data_dir, work, device, name, "fast")),
        "airbench": ("airbench94", lambda: bench_airbench(args, data_dir, device, name)),
        "standard": (
            f"ours standard ({args.model})",
            lambda: bench_ours(args, data_dir, work, device, name, "standard"),
        ),
        "naive": (f"naive ({args.model})", lambda: bench_naive(args, data_dir, device, name)),
    }
    recipe = {"fast": fast, "airbench": {"model": "airbench94", "epochs": 9.9}, "standard": standard, "naive": standard}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        data_dir = resolve_data(args.data, work, args.val_size)
        info = load_info(data_dir)
        for method in METHODS:
            label, bench = benches[method]
            if method not in args.methods:
                result = row(label, name, "skipped")
            else:
                try:
                    result = bench()
                except Exception as error:  # keep the other rows
                    logging.exception("%s failed", label)
                    result = row(label, name, f"failed: {type(error).__name__}")
            rows.append(result | {"model": recipe[method]["model"], "epochs": recipe[method]["epochs"]})
            if device == "cuda":
                torch.cuda.empty_cache()  # hand what one method cached to the next (naive runs in other processes)
    table = pd.DataFrame(rows)
    setup = {
        "date": date.today().isoformat(),
        "data": args.data,
        **{f"n_{k}": v for k, v in info["sizes"].items()},
        "compile": args.compile,
        "workers": args.workers,
        "torch": torch.__version__,
    }
    for key, value in setup.items():
        table[key] = value
    print("\n" + "  ".join(f"{key} {value}" for key, value in setup.items()))
    print("fast: " + " ".join(f"{key}={value}" for key, value in fast.items()))
    print("standard: " + " ".join(f"{key}={value}" for key, value in standard.items()))
    print(show(table))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
