"""DESIGN.md's four layers, checked on the source (imports read with ``ast``).

core (base, backend, operators, metrics, datasets, _config, _version, utils) imports no
family, service or application module; a family imports only core; the services (io,
plotting) import only core; the application (cli, distributed, imaging, demos) may import
anything. No module of the library selects a matplotlib backend.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "sparserec"
CORE = {"base", "backend", "operators", "metrics", "datasets", "_config", "_version", "utils"}
FAMILIES = {"sbl", "bcd", "dictionary", "wht", "selfcal", "deconv"}
SERVICES = {"io", "plotting"}
APPLICATION = {"cli", "distributed", "imaging", "demos"}


def _layer(top: str) -> str:
    for name, members in (("core", CORE), ("family", FAMILIES), ("service", SERVICES),
                          ("application", APPLICATION)):
        if top in members:
            return name
    return "package"  # sparserec/__init__.py: the lazy entry point


def _imported_tops(path: Path):
    """The top-level sparserec module of every import in ``path``."""
    package = path.relative_to(ROOT.parent).with_suffix("").parts
    if package[-1] == "__init__":
        package = package[:-1]
    else:
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                parts = [*base, *(node.module.split(".") if node.module else [])]
            else:
                parts = (node.module or "").split(".")
            if parts[0] != "sparserec":
                continue
            if len(parts) == 1:  # from sparserec import x / from . import x
                yield from (alias.name for alias in node.names)
            else:
                yield parts[1]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "sparserec" and len(parts) > 1:
                    yield parts[1]


ALLOWED = {"core": {"core"}, "family": {"core"}, "service": {"core"},
           "application": {"core", "family", "service", "application"},
           "package": {"core", "family", "service", "application"}}
SOURCES = sorted(p for p in ROOT.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(ROOT)) for p in SOURCES])
def test_imports_follow_the_layers(path):
    own = path.relative_to(ROOT).parts[0].removesuffix(".py")
    layer = _layer(own)
    bad = []
    for top in _imported_tops(path):
        if top in ("__version__",) or top == own:
            continue
        target = _layer(top)
        if target not in ALLOWED[layer] or (layer == "family" and top in FAMILIES):
            bad.append(top)
    assert not bad, f"{own} ({layer}) imports {sorted(set(bad))}"


def test_no_module_selects_a_matplotlib_backend():
    offenders = [str(p.relative_to(ROOT)) for p in SOURCES
                 if "matplotlib.use(" in p.read_text(encoding="utf-8")]
    assert not offenders
