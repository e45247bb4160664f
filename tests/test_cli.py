import json
import subprocess
import sys
from pathlib import Path

import pytest

from sparserec import __version__
from sparserec.cli import FAMILY_DEMOS, main


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"sparserec {__version__}"


def test_info_lists_backends(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for word in ("numpy", "numba", "cupy", "backends", "solver families"):
        assert word in out


def test_entry_point_installed():
    script = Path(sys.executable).parent / "sparserec"
    for command in ([str(script)], [sys.executable, "-m", "sparserec.cli"]):
        out = subprocess.run([*command, "--version"], capture_output=True, text=True, check=True)
        assert __version__ in out.stdout


def test_demo_quick_writes_report(tmp_path, capsys):
    out = tmp_path / "report"
    code = main(["demo", "--quick", "--quiet", "--out", str(out)])
    results = json.loads((out / "results.json").read_text())
    assert set(results) == set(FAMILY_DEMOS)
    failed = {k: v for k, v in results.items() if v["status"] == "failed"}
    assert not failed and code == 0
    for family, res in results.items():
        if res["status"] == "ok":
            assert res["rows"] and "time (s)" in res["rows"][0], family
            assert (out / res["figure_file"]).stat().st_size > 1000
    assert (out / "index.html").exists()
    assert not list(out.glob("*.part"))


def test_demo_unknown_family(capsys):
    assert main(["demo", "--family", "nope", "--out", "unused"]) == 2
    assert "--family must be among" in capsys.readouterr().err
