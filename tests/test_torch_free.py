"""Sheets and figures run without torch: their modules must not import it, even indirectly."""

import subprocess
import sys

import pytest

TORCH_FREE = ["multisheets.sheets", "multisheets.plots", "multisheets.logfile", "multisheets.intervention_names",
              "multisheets.arbitrariness", "multisheets.remedies", "multisheets.per_example",
              "multisheets.per_example_plots"]


@pytest.mark.parametrize("module", TORCH_FREE)
def test_module_does_not_import_torch(module):
    code = f"import sys, {module}; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0, f"{module} imports torch"
