"""The example gallery: every script runs and draws, and every family is covered.

Running all scripts takes several minutes, so those tests are marked ``slow``:
``pytest -m slow tests/test_gallery.py``. The layout checks are fast and always run.
"""

import ast
import runpy
from pathlib import Path

import matplotlib
import pytest

GALLERY = Path(__file__).resolve().parent.parent / "gallery"
SCRIPTS = sorted(GALLERY.glob("plot_*.py"))

# family prefix -> (quick start, reproduction of the figure the issue names for the paper)
REQUIRED = {
    "sbl": ("plot_sbl_quickstart.py", "plot_sbl_irs_nmse_vs_snr.py"),
    "bcd": ("plot_bcd_quickstart.py", "plot_bcd_rules.py"),
    "dictionary": ("plot_dictionary_quickstart.py", "plot_dictionary_recovery_vs_samples.py"),
    "wht": ("plot_wht_quickstart.py", "plot_wht_phase_transition.py"),
    "selfcal": ("plot_selfcal_quickstart.py", "plot_selfcal_phase_transition.py"),
    "deconv": ("plot_deconv_quickstart.py", "plot_deconv_multiband.py"),
    "pipeline": ("plot_pipeline_fits.py", "plot_pipeline_gridsearch.py"),
}


@pytest.mark.parametrize("family", sorted(REQUIRED))
def test_every_family_has_its_examples(family):
    names = {p.name for p in SCRIPTS}
    missing = [name for name in REQUIRED[family] if name not in names]
    assert not missing, f"gallery lacks {missing}"


def test_every_script_has_a_gallery_title():
    assert (GALLERY / "README.txt").is_file()
    for path in SCRIPTS:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        assert doc, f"{path.name} has no module docstring"
        title, underline = doc.splitlines()[:2]
        assert set(underline) == {"="} and len(underline) >= len(title), \
            f"{path.name}: the docstring must start with a title underlined by '='"


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_script_runs_and_draws(script, tmp_path, monkeypatch):
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.close("all")
    monkeypatch.chdir(tmp_path)  # whatever a script writes lands in a throwaway folder
    monkeypatch.setattr("sys.argv", [str(script)])
    runpy.run_path(str(script), run_name="__main__")
    assert plt.get_fignums(), f"{script.name} drew no figure"
