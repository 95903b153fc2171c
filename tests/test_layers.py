"""The library's rooms and the stairs between them: every package imports only the packages below it, and the
packages the workflow builds its DAG with, or that summarise a study, never import torch.

The rules are per package, so a new module is held to its package's rules without anyone listing it. Imports are
read from the code (every `import` and `from ... import`, also inside functions); torch-freedom is checked by
importing each module alone in a fresh interpreter, so what a module pulls in indirectly counts too.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "multisheets"

# package -> what it may import ("pkg" for a whole package, "pkg.module" for one module of it), bottom first.
MAY_IMPORT = {
    "infra": set(),
    "study": {"infra"},
    "measures": {"infra"},
    "data": {"infra"},
    "models": {"infra", "study"},
    "train": {"infra", "study", "data", "models"},  # never evaluation
    "interventions": {"infra", "study", "data", "models", "measures"},
    "sheets": {"infra", "study", "measures", "interventions.names", "interventions.registry"},
    "figures": {"infra", "sheets", "interventions.names", "interventions.registry"},
    "plan": {
        *("infra", "study", "data", "sheets.selection"),
        *("interventions.names", "interventions.registry", "models.architectures"),
    },
}
# What must run without torch: the workflow's DAG (plan and what it reads), the data stage, and every summary.
TORCH_FREE = [
    *("infra", "study", "measures", "data", "sheets", "figures", "plan"),
    *("interventions.names", "interventions.registry", "models.architectures"),
]


def modules(package: str) -> list[str]:
    folder = PACKAGE / package
    if folder.is_file() or (PACKAGE / f"{package.replace('.', '/')}.py").is_file():
        return [f"multisheets.{package}"]
    return sorted(
        "multisheets." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__")
        for path in folder.rglob("*.py")
    )


def imported(module: str) -> set[str]:
    """The multisheets modules a module imports, as dotted names without the `multisheets.` prefix."""
    path = PACKAGE / (module.removeprefix("multisheets.").replace(".", "/"))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:  # relative: within its own package
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("multisheets."):
            names.add(node.module.removeprefix("multisheets."))
        elif isinstance(node, ast.ImportFrom) and node.module == "multisheets":
            names |= {alias.name for alias in node.names if alias.name != "__version__"}
        elif isinstance(node, ast.Import):
            names |= {
                alias.name.removeprefix("multisheets.") for alias in node.names if alias.name.startswith("multisheets.")
            }
    return names


def allowed(package: str, target: str) -> bool:
    own = target.split(".")[0]
    return (
        own == package
        or own in MAY_IMPORT[package]
        or any(target == rule or target.startswith(rule + ".") for rule in MAY_IMPORT[package])
    )


def test_every_package_has_its_rules():
    packages = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").exists()}
    assert packages == set(MAY_IMPORT), "give a new package its line in MAY_IMPORT"
    top_level = [path.name for path in PACKAGE.glob("*.py") if path.name != "__init__.py"]
    assert top_level == [], f"modules belong in a package: {top_level}"


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_a_package_imports_only_the_packages_below_it(package):
    upward = {
        module: sorted(target for target in imported(module) if not allowed(package, target))
        for module in modules(package)
    }
    assert {module: targets for module, targets in upward.items() if targets} == {}


def test_the_rules_are_a_staircase():
    """No two packages may import each other, even through others: the rules themselves have no cycle."""
    below = {package: {rule.split(".")[0] for rule in rules} for package, rules in MAY_IMPORT.items()}
    for package in below:
        seen, todo = set(), list(below[package])
        while todo:
            nxt = todo.pop()
            if nxt not in seen:
                seen.add(nxt)
                todo += below[nxt]
        assert package not in seen, f"{package} can reach itself"


def imports_torch(module: str) -> bool:
    code = f"import sys, {module}; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return result.stdout.strip() == "True"


@pytest.mark.parametrize("module", [module for package in TORCH_FREE for module in modules(package)])
def test_module_does_not_import_torch(module):
    assert not imports_torch(module), f"{module} imports torch"
