"""Sphinx configuration: numpydoc API reference, sphinx-gallery examples, user guide.

Build with ``pip install ".[docs]" && sphinx-build -W -b html docs docs/_build/html``
(the gallery executes every example: about 2 minutes on 2 cores). Set
``SPARSEREC_DOCS_NO_GALLERY=1`` to build without running the examples.
"""

import os

import sparserec

project = "sparserec"
author = "The sparserec developers"
copyright = "2026, The sparserec developers"
release = sparserec.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
]
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
exclude_patterns = ["_build", "gen_modules", "**.ipynb_checkpoints"]
templates_path = ["_templates"]
html_static_path = []
html_theme = "pydata_sphinx_theme"
html_theme_options = {"navigation_depth": 2, "show_toc_level": 2}
html_title = f"sparserec {release}"

if not os.environ.get("SPARSEREC_DOCS_NO_GALLERY"):
    extensions.append("sphinx_gallery.gen_gallery")
    sphinx_gallery_conf = {
        "examples_dirs": "../gallery",
        "gallery_dirs": "auto_examples",
        "filename_pattern": r"/plot_",
        "download_all_examples": False,
        "remove_config_comments": True,
        "matplotlib_animations": False,
        "within_subsection_order": "FileNameSortKey",
    }
else:  # pages a previous full build left behind are not part of this one
    exclude_patterns += ["auto_examples", "sg_execution_times.rst"]
    # links into the gallery cannot resolve without it (the full build checks them)
    suppress_warnings = ["ref.doc"]


def _drop_gallery_from_toctree(app, docname, source):
    """Without the gallery, the front page's toctree must not name its index."""
    if docname == "index":
        source[0] = source[0].replace("   auto_examples/index\n", "")


def setup(app):
    if os.environ.get("SPARSEREC_DOCS_NO_GALLERY"):
        app.connect("source-read", _drop_gallery_from_toctree)
