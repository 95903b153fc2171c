"""A trained model is kept under its identity, so that no run is ever trained twice.

The workflow names a run's files after its model key (training key and data key, see `identity`):
``results/runs/<run_id>/model-<training key>-<data key>.pt``, so a changed identity is simply a missing file.
Every finished model is also written to the *model cache* (``results/model_cache/<training key>-<data
fingerprint>.{pt,json}``), which Snakemake does not manage: when a job fails or is interrupted, Snakemake removes
the job's declared outputs, but the runs it finished stay in the cache and the rerun restores them (a hard link)
instead of training them again. The data fingerprint is the digest of the prepared arrays training reads (see
`data.prepare`), so a model is never restored onto other data, however the study describes it.

Torch-free: the workflow reads train logs while it plans jobs.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from multisheets.infra.digest import digest
from multisheets.infra.files import write_atomically, write_json
from multisheets.study.config import HYPERPARAMETER_DEFAULTS
from multisheets.study.runs import Run


def legacy_data_fingerprint(info: dict[str, Any]) -> str:
    """How cache entries were named before the data fingerprint digested the prepared arrays: from the source's
    checksum and the split. That identified the data for every source but `synthetic`, whose checksum named only
    its seed (and which the current checksum names completely, so an old synthetic entry never matches)."""
    return digest({key: info[key] for key in ("checksum", "classes", "sizes", "val_size", "split_seed")})


def write_train_log(path: str | Path, summary: dict[str, Any]) -> None:
    """A run's train log (JSON), written whole or not at all."""
    write_json(path, summary)


def _link(source: Path, target: Path) -> None:
    """A hard link (no copy of the weights); a copy where the filesystem does not allow links."""

    def write(temporary: Path) -> None:
        try:
            os.link(source, temporary)
        except OSError:
            shutil.copy2(source, temporary)

    write_atomically(target, write)


class ModelCache:
    """Finished models by (training key, data fingerprint), outside what Snakemake removes."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def entry(self, key: str, data: str) -> tuple[Path, Path]:
        stem = self.root / f"{key}-{data}"
        return stem.with_suffix(".pt"), stem.with_suffix(".json")

    def contains(self, key: str, data: str) -> bool:
        # The log is written after the model, so an entry with a log is complete.
        model, log = self.entry(key, data)
        return log.exists() and model.exists()

    def adopt_unkeyed(self, key: str, data: str, run: Run, data_checksum: str, run_dir: str | Path) -> bool:
        """Cache a model from before training keys (``model.pt`` + ``train_log.json`` in the run's folder) when
        its log shows it is this run on this data: a study started with an earlier version is not retrained."""
        model, log = Path(run_dir) / "model.pt", Path(run_dir) / "train_log.json"
        if not (model.exists() and log.exists()):
            return False
        summary = json.loads(log.read_text())
        same = (
            same_hyperparameters(summary.get("hyperparameters") or {}, run.hyperparameters)
            and summary.get("seeds") == run.seeds
            and summary.get("data_checksum") == data_checksum
        )
        if not same:
            return False
        cached_model, cached_log = self.entry(key, data)
        _link(model, cached_model)
        summary |= {"training_key": key, "data_fingerprint": data}
        write_train_log(cached_log, summary)
        return True

    def adopt_legacy(self, key: str, data: str, legacy: str) -> bool:
        """Name an entry cached under the legacy data fingerprint (`legacy_data_fingerprint`) after the current
        one: models trained by an earlier version are restored, not retrained."""
        model, log = self.entry(key, legacy)
        if legacy == data or not (log.exists() and model.exists()):
            return False
        cached_model, cached_log = self.entry(key, data)
        _link(model, cached_model)
        write_train_log(cached_log, json.loads(log.read_text()) | {"data_fingerprint": data})
        return True

    def restore(self, key: str, data: str, model_path: str | Path, log_path: str | Path, job: str) -> None:
        """Put a cached run at its declared paths; its log names the job that declared it now."""
        model, log = self.entry(key, data)
        _link(model, Path(model_path))
        summary = json.loads(log.read_text()) | {"job": job}
        write_train_log(log_path, summary)


def same_hyperparameters(logged: dict[str, Any], current: dict[str, Any]) -> bool:
    """Whether a train log's hyperparameters are a run's: a hyperparameter added after the log was written is
    missing from it, which is the same as the schema's default (an added hyperparameter's default trains as the
    code did before it existed)."""
    return logged == {
        name: value for name, value in current.items() if name in logged or value != HYPERPARAMETER_DEFAULTS[name]
    }
