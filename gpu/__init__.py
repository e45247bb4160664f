"""CUDA sources of sparserec (installed as ``sparserec._gpu``), compiled by CuPy at run time.

:func:`load_module` compiles one ``*.cu`` file of this folder with :class:`cupy.RawModule`
(once per file and set of template instantiations) and returns it. The GPU agreement
check (``check.py``) and benchmark (``bench.py``) are scripts, not part of the package API.
"""

from __future__ import annotations

import functools
from pathlib import Path

__all__ = ["load_module", "read_source"]


def read_source(filename: str) -> str:
    """The text of ``filename`` (e.g. ``"fwht.cu"``) shipped in this folder."""
    path = Path(__file__).with_name(filename)
    if path.suffix != ".cu" or not path.is_file():
        raise FileNotFoundError(f"no CUDA source {filename!r} in {path.parent}")
    return path.read_text(encoding="utf-8")


@functools.cache
def load_module(filename: str, name_expressions: tuple[str, ...]):
    """``cupy.RawModule`` of ``filename`` with the given template instantiations."""
    import cupy

    return cupy.RawModule(code=read_source(filename), options=("-std=c++14",),
                          name_expressions=name_expressions)
