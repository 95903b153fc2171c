#!/usr/bin/env python
"""AutoAttack against our attacks on one model: robust accuracy and seconds of FGSM, our PGD (10 and 50 steps),
torchattacks' APGD-CE alone and AutoAttack (standard), at each L-inf budget, on the same n test images.

What the adversarial family runs, one attack at a time: `attacks.robust_predictions` with the family's settings
(PGD step size 2.5 eps / steps, one random start seeded by --seed; AutoAttack with the reference's 100 iterations,
seeded by --seed). APGD-CE is torchattacks' `APGD` (cross-entropy, 100 steps, one restart), AutoAttack's first
attack, run alone. The model is --model (a checkpoint the workflow wrote, with --data-dir the prepared data folder
it was trained on, e.g. results/data/<key>/), or one trained here: the small CNN on a procedural data set
(--data-dir: a prepared folder to train on instead). Every attack sees the same seeded subset of the test split,
in fp32.

    python benchmarks/autoattack_agreement.py --n 200 --eps 1,2,4,8 [--model M --data-dir D] [--out table.csv]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from multisheets.data.arrays import load_split
from multisheets.data.prepare import prepare
from multisheets.interventions.attacks import robust_predictions
from multisheets.models.checkpoint import load_model
from multisheets.models.inference import device_images
from multisheets.models.runtime import cpu_name, eval_mode, make_runtime
from multisheets.study.runs import expand_study
from multisheets.train.loop import train_batch

# 10 classes as CIFAR-10 (AutoAttack targets the 9 others), 16 px and width 8 so that it runs in minutes on a CPU
SYNTHETIC = {"num_classes": 10, "image_size": 16, "train_per_class": 300, "test_per_class": 100, "seed": 0}
MODEL = {"model": "cnn", "width": 8, "epochs": 8, "batch_size": 64, "lr": 0.05, "warmup_epochs": 0}


def train_small_cnn(work: Path, data_dir: Path | None, runtime, epochs: int, width: int) -> tuple[Path, Path]:
    """The small CNN trained for a few epochs, on `data_dir` or a procedural data set prepared in `work`."""
    if data_dir is None:
        data_dir = work / "data"
        prepare({"source": "synthetic", "path": "", "val_size": 300, "split_seed": 0, "synthetic": SYNTHETIC}, data_dir)
    model = work / "model.pt"
    runs = expand_study({"base": MODEL | {"epochs": epochs, "width": width}, "seeds": [0]})
    train_batch(runs, data_dir, [str(model)], [str(work / "train.json")], runtime, show_progress=False)
    return model, data_dir


def apgd_ce(model, images, labels, eps: float, seed: int, batch_size: int) -> torch.Tensor:
    """torchattacks' APGD-CE alone (100 steps, one restart), logits of its images."""
    import torchattacks

    attack = torchattacks.APGD(model, norm="Linf", eps=eps, steps=100, n_restarts=1, seed=seed, loss="ce")
    outputs = []
    with eval_mode(model), torch.random.fork_rng():
        for start in range(0, len(images), batch_size):
            adv = attack(images[start : start + batch_size], labels[start : start + batch_size])
            with torch.no_grad():
                outputs.append(model(adv).float())
    return torch.cat(outputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a checkpoint the workflow wrote (needs --data-dir)")
    parser.add_argument("--data-dir", type=Path, help="prepared data folder (results/data/<key>/)")
    parser.add_argument("--epochs", type=int, default=MODEL["epochs"], help="of the model trained here")
    parser.add_argument("--width", type=int, default=MODEL["width"], help="of the model trained here")
    parser.add_argument("--n", type=int, default=200, help="test images attacked (a seeded subset)")
    parser.add_argument("--eps", default="1,2,4,8", help="L-inf budgets in 1/255 units")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--out", type=Path, help="also write the table as CSV")
    args = parser.parse_args()
    if args.model and not args.data_dir:
        parser.error("--model needs --data-dir, the data it was trained on")
    if args.threads:
        torch.set_num_threads(args.threads)
    # fp32 everywhere: torchattacks' APGD-CE run alone knows no autocast, and the attacks differ only in themselves
    runtime = make_runtime({"device": args.device, "precision": "fp32"})
    with tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        if args.model:
            model_path, data_dir = args.model, args.data_dir
        else:
            model_path, data_dir = train_small_cnn(Path(work), args.data_dir, runtime, args.epochs, args.width)
        trained_s = time.perf_counter() - started
        model, checkpoint = load_model(model_path, runtime)
        test = load_split(data_dir, "test")
    n = min(args.n, len(test.labels))
    index = np.sort(np.random.default_rng(args.seed).choice(len(test.labels), n, replace=False))
    images = device_images(test.images[index], runtime).float().div(255)
    labels = torch.from_numpy(test.labels[index]).to(runtime.device)
    with torch.no_grad():
        clean = (model(images).argmax(1) == labels).float().mean().item()
    origin = str(model_path) if args.model else f"trained here in {trained_s:.0f} s"
    print(f"model: {checkpoint['model']} ({origin})")
    print(f"device: {runtime.device} ({cpu_name() if runtime.device.type == 'cpu' else torch.cuda.get_device_name()})")
    print(f"torch threads: {torch.get_num_threads()}; {n} test images; clean accuracy {clean:.3f}; {date.today()}")

    def pgd(steps: int):
        def run(eps: float) -> torch.Tensor:
            generator = torch.Generator(device=runtime.device).manual_seed(args.seed)
            kwargs = {"steps": steps, "step_size": 2.5 * eps / steps, "generator": generator}
            return robust_predictions(
                model, images, labels, attack="pgd_linf", batch_size=args.batch_size, eps=eps, **kwargs
            )

        return run

    attacks = {
        "fgsm": lambda eps: robust_predictions(
            model, images, labels, attack="fgsm", batch_size=args.batch_size, eps=eps
        ),
        "pgd_linf, 10 steps": pgd(10),
        "pgd_linf, 50 steps": pgd(50),
        "APGD-CE (torchattacks), 100 steps": lambda eps: apgd_ce(
            model, images, labels, eps, args.seed, args.batch_size
        ),
        "autoattack_linf (standard)": lambda eps: robust_predictions(
            model, images, labels, attack="autoattack_linf", batch_size=args.batch_size, eps=eps, seed=args.seed
        ),
    }
    rows = []
    for eps in (float(text) for text in args.eps.split(",")):
        for name, attack in attacks.items():
            # CPU seconds of this process besides wall seconds: on a shared machine the wall clock also counts the
            # other jobs' turns (with --threads 1 the CPU time is the attack's own work)
            started, cpu_started = time.perf_counter(), time.process_time()
            logits = attack(eps / 255)
            seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
            accuracy = (logits.argmax(1).to(labels.device) == labels).float().mean().item()
            row = {"eps": f"{eps:g}/255", "attack": name, "robust_accuracy": accuracy, "seconds": seconds}
            rows.append(row | {"cpu_seconds": cpu_seconds})
            print(
                f"  eps {eps:g}/255  {name:36s} {accuracy:.3f} {seconds:7.1f} s ({cpu_seconds:.1f} CPU s)", flush=True
            )
    table = pd.DataFrame(rows)
    wide = table.pivot(index="attack", columns="eps", values="robust_accuracy").loc[list(attacks)]
    print("\nrobust accuracy\n" + wide.to_markdown(floatfmt=".3f"))
    for column in ("seconds", "cpu_seconds"):
        seconds = table.pivot(index="attack", columns="eps", values=column).loc[list(attacks)]
        print(f"\n{column}\n" + seconds.to_markdown(floatfmt=".1f"))
    if args.out:
        table.assign(n=n, clean_accuracy=clean, device=str(runtime.device), date=str(date.today())).to_csv(
            args.out, index=False
        )


if __name__ == "__main__":
    main()
