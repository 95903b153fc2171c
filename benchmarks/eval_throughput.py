#!/usr/bin/env python
"""Evaluation throughput: seconds per model for each intervention family, as the workflow's evaluate jobs run them.

Each family's data is loaded once (timed apart: a job pays it once for all its runs), then every model is
evaluated and its logits and metrics written, exactly as `multisheets.evaluate.evaluate_runs` does. Models come
from --models (a folder searched for model.pt and model-<key>.pt, e.g. results/runs or train_throughput.py's
--work) or are trained here with the fast preset. Corrupted test sets are generated here first (timed apart: a
study generates them once).
"""

import argparse
import logging
import sys
import tempfile
import time
from datetime import date
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from multisheets.data.arrays import load_split
from multisheets.interventions.evaluate import evaluate_model, load_family
from multisheets.interventions.families import corrupted_split
from multisheets.models.runtime import cpu_name, make_runtime

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_throughput import DEFAULT_DATA, FAST_SMOKE, fast_base, peak_mib, resolve_data, timed

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "src" / "multisheets" / "study" / "config.schema.yaml"
FAMILIES = ("clean", "corruption", "adversarial", "privacy")
SMOKE = {
    "corruption": {"types": ["gaussian_noise", "fog"], "severities": [1, 3]},
    "adversarial": {"n": 50, "steps": 2, "linf_eps": [2], "l2_eps": [0.25]},
    "privacy": {"n": 100},
}


def family_settings(family: str, smoke: bool, batch_size: int) -> dict:
    """The schema's defaults for one family (what a study gets when it sets nothing), plus the eval batch size."""
    schema = yaml.safe_load(SCHEMA.read_text())["properties"]["interventions"]["properties"]
    properties = schema.get(family, {}).get("properties", {})
    settings = {key: spec["default"] for key, spec in properties.items() if "default" in spec}
    settings |= {"batch_size": batch_size}  # as rules/common.smk's family_settings does
    return settings | (SMOKE.get(family, {}) if smoke else {})


def train_models(data_dir: Path, out: Path, n: int, runtime, smoke: bool) -> list[Path]:
    from multisheets.study.runs import expand_study
    from multisheets.train.loop import train_batch

    runs = expand_study({"base": fast_base(FAST_SMOKE if smoke else None), "seeds": list(range(n))})
    paths = [out / run.run_id / "model.pt" for run in runs]
    train_batch(
        runs,
        data_dir,
        [str(p) for p in paths],
        [str(p.with_suffix(".json")) for p in paths],
        runtime,
        show_progress=False,
    )
    return paths


def bench_family(family: str, args, data_dir: Path, models: list[Path], work: Path, runtime, name: str) -> dict:
    device = runtime.device.type
    settings = family_settings(family, args.smoke, args.batch_size)
    inputs, prepare_seconds = None, 0.0
    if family == "corruption":
        test, inputs = load_split(data_dir, "test"), []
        started = time.perf_counter()
        for corruption in settings["types"]:
            path = work / "corruptions" / f"{corruption}.npy"
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, corrupted_split(corruption, test, "test", settings["seed"], None, None))
            inputs.append(str(path))
        prepare_seconds = time.perf_counter() - started
    load_seconds, loaded_family = timed(device, partial(load_family, family, data_dir, runtime, settings, inputs))
    per_model = []
    for index, model in enumerate(models):
        out = work / "eval" / f"m{index}"
        evaluate = partial(
            evaluate_model,
            loaded_family,
            family,
            str(model),
            str(out / f"{family}.npz"),
            str(out / f"{family}.csv"),
            runtime,
        )
        per_model.append(timed(device, evaluate)[0])
    # the first model pays one-off costs (cuDNN autotuning, lazy initialisation): report it apart
    steady = per_model[1:] or per_model
    result = {
        "family": family,
        "device": name,
        "interventions": len(loaded_family.shapes()),
        "images": sum(loaded_family.shapes().values()),
        "prepare_s": prepare_seconds,
        "load_s": load_seconds,
        "first_model_s": per_model[0],
        "s_per_model": float(np.mean(steady)),
        "models": len(models),
        "peak_gpu_mib": peak_mib(device),  # while evaluating the last model, the family's data loaded
    }
    del loaded_family  # free the device before the next family loads
    if device == "cuda":
        torch.cuda.empty_cache()
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--data", help=f"prepared data dir, ImageFolder folder/archive, or 'synthetic' (default {DEFAULT_DATA})")
    add(
        "--models",
        help="folder searched for model.pt and model-<key>.pt files (default: train --train-models fast models here)",
    )
    add("--train-models", type=int, default=2, help="fast-preset models to train when --models is not given")
    add("--max-models", type=int, default=4, help="evaluate at most this many models (default 4)")
    add("--families", default=",".join(FAMILIES), help=f"comma-separated (default {','.join(FAMILIES)})")
    add("--batch-size", type=int, default=1024, help="evaluate.batch_size (default 1024, the schema's)")
    add("--val-size", type=int, default=5000)
    add("--device", choices=["auto", "cpu", "cuda"], default="auto")
    add("--work", help="keep prepared data, corrupted sets and outputs here (default: a temporary directory)")
    add("--out", help="write the table as CSV here")
    add("--smoke", action="store_true", help="synthetic data, 2 corruption types, n = 50 attacked examples")
    args = parser.parse_args(argv)
    args.data = args.data or ("synthetic" if args.smoke else str(DEFAULT_DATA))
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    name = torch.cuda.get_device_name() if device == "cuda" else f"{cpu_name()} ({torch.get_num_threads()} threads)"
    runtime = make_runtime({"device": device})
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        data_dir = resolve_data(args.data, work, args.val_size)
        models = (
            sorted(Path(args.models).rglob("model*.pt"))
            if args.models
            else train_models(data_dir, work / "models", args.train_models, runtime, args.smoke)
        )
        models = models[: args.max_models]
        if not models:
            parser.error(f"no model.pt or model-<key>.pt under {args.models}")
        rows = [bench_family(family, args, data_dir, models, work, runtime, name) for family in families]
    table = pd.DataFrame(rows)
    table["date"], table["torch"], table["data"] = date.today().isoformat(), torch.__version__, args.data
    print(table.drop(columns=["date", "torch", "data"]).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(
        f"all families: {table['s_per_model'].sum():.2f} s per model (steady state), "
        f"{table['load_s'].sum():.1f} s of loading per job"
    )
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
