"""Run the Examples section of every module's docstrings (numpydoc style)."""

import doctest
import importlib
import pkgutil

import pytest

import sparserec

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(sparserec.__path__, "sparserec.")
    if not m.name.startswith(("sparserec._gpu", "sparserec._data"))
    and m.name.rsplit(".", 1)[-1] not in ("__main__",)
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             verbose=False)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
