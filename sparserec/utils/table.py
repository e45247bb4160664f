"""Aligned text tables for the command line and the benchmarks."""

from __future__ import annotations

__all__ = ["format_table", "format_value"]


def format_value(value) -> str:
    """Floats to 4 significant digits (scientific below 1e-3), anything else by ``str``.

    Examples
    --------
    >>> from sparserec.utils.table import format_value
    >>> format_value(3.14159), format_value(2.5e-05), format_value("lsqr")
    ('3.142', '2.50e-05', 'lsqr')
    """
    if isinstance(value, float):
        return f"{value:.4g}" if (abs(value) >= 1e-3 or value == 0) else f"{value:.2e}"
    return str(value)


def format_table(rows, columns=None, *, indent: int = 0) -> str:
    """Rows (dicts) as an aligned text table with a header rule.

    Parameters
    ----------
    rows : sequence of dict
        One dict per row; a missing key is an empty cell.
    columns : sequence of str, optional
        The columns, in order (default: every key, in first-seen order).
    indent : int
        Spaces before every line.

    Examples
    --------
    >>> from sparserec.utils.table import format_table
    >>> print(format_table([{"method": "lsqr", "time (s)": 0.31},
    ...                     {"method": "als", "time (s)": 1.9}]))
    method  time (s)
    ------  --------
    lsqr    0.31
    als     1.9
    """
    if columns is None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[format_value(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    pad = " " * indent
    return "\n".join(pad + line.rstrip() for line in lines)
