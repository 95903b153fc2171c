"""Stages depend downwards only: sheets and figures run without torch, and training without evaluation.

Each import runs in a fresh interpreter, so `sys.modules` shows everything a module pulls in, even indirectly.
"""

import subprocess
import sys

import pytest

TORCH_FREE = [
    # what the workflow imports while it builds the DAG
    "multisheets.study",
    "multisheets.identity",
    "multisheets.preflight",
    "multisheets.model_cache",
    "multisheets.files",
    "multisheets.data",
    "multisheets.subgroups",
    # sheets and figures
    "multisheets.sheets",
    "multisheets.prediction_store",
    "multisheets.metrics_table",
    "multisheets.plots",
    "multisheets.logfile",
    "multisheets.intervention_names",
    "multisheets.arbitrariness",
    "multisheets.remedies",
    "multisheets.per_example",
    "multisheets.per_example_plots",
    "multisheets.selection",
    "multisheets.trust",
    "multisheets.measures",
    "multisheets.uncertainty",
]
# module -> modules of a later stage it must not import
NOT_UPWARDS = {
    "multisheets.train": ["multisheets.evaluate", "multisheets.interventions", "multisheets.attacks"],
    "multisheets.inference": ["multisheets.evaluate", "multisheets.interventions", "multisheets.train"],
    "multisheets.checkpoint": ["multisheets.evaluate", "multisheets.interventions", "multisheets.train"],
}


def imported_by(module: str, candidates: list[str]) -> list[str]:
    """Which of `candidates` are in sys.modules after importing `module` alone."""
    code = f"import sys, {module}; print(' '.join(name for name in {candidates!r} if name in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return result.stdout.split()


@pytest.mark.parametrize("module", TORCH_FREE)
def test_module_does_not_import_torch(module):
    assert imported_by(module, ["torch"]) == [], f"{module} imports torch"


@pytest.mark.parametrize("module", sorted(NOT_UPWARDS))
def test_module_does_not_import_a_later_stage(module):
    assert imported_by(module, NOT_UPWARDS[module]) == []
