"""pyproject.toml declares every third-party package that sparserec imports."""

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parent.parent


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        specs += extra
    return {re.split(r"[\[<>=!~ ;]", s, maxsplit=1)[0].lower().replace("_", "-")
            for s in specs}


def _imported() -> dict[str, str]:
    """Top-level module imported -> first file importing it (outside the stdlib)."""
    found = {}
    for path in sorted((ROOT / "sparserec").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "sparserec":
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def test_every_import_is_declared():
    declared = _declared()
    owners = importlib.metadata.packages_distributions()
    missing = {}
    for module, where in _imported().items():
        if module == "cupy":  # one of several wheels (cupy-cuda12x in the gpu extra)
            assert any(d.startswith("cupy") for d in declared)
            continue
        dists = {d.lower().replace("_", "-") for d in owners.get(module, [])}
        if not dists:  # not installed here: nothing to map it to
            continue
        if not dists & declared:
            missing[module] = (sorted(dists), where)
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"
