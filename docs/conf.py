"""Sphinx configuration of the skmim documentation.

Build (from the repository root, warnings are errors)::

    python -m sphinx -W -b html docs docs/_build/html

Requirements: ``docs/requirements.txt``. The build needs no network: intersphinx
is not used (the CI machine reaches PyPI only), so cross-references to NumPy,
scikit-learn or torch are plain text.

The example gallery (``examples/plot_*.py``) is executed by sphinx-gallery.
This file sets ``SKMIM_DOCS_QUICK=1`` unless it is already set: every example
reads it and shrinks its sizes, so that the whole gallery runs in about one
minute on 2 CPU cores (measured: 47 s for the 7 examples, the whole build
57 s; allow up to three minutes on a busy machine). The default sizes take
from seconds to three minutes per example; ``SKMIM_DOCS_QUICK=0`` builds the
gallery with them. ``-D plot_gallery=0`` skips running the examples
altogether (pages without figures).
"""

import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # document the checkout, installed or not

# Quick gallery settings (see the module docstring), and one thread per torch /
# BLAS call: on a 2-core machine that is faster for the small fits of the
# examples. Set before torch is imported by autodoc or by an example.
os.environ.setdefault("SKMIM_DOCS_QUICK", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import skmim  # noqa: E402

# -- Project -----------------------------------------------------------------
project = "skmim"
author = "the skmim developers"
copyright = "the skmim developers"
release = skmim.__version__
version = ".".join(release.split(".")[:2])

# -- Extensions --------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",  # docs/benchmarks.md is Markdown
]
# No "sphinx.ext.intersphinx": it downloads inventories at build time.

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "Thumbs.db",
    ".DS_Store",
    "requirements.txt",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.json",
    "auto_examples/*.md5",
]
myst_heading_anchors = 3

# -- autodoc / autosummary / numpydoc ----------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"
numpydoc_show_class_members = False  # methods are listed by our class template
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# PR01/PR02 (parameters documented vs signature) are checked by
# tests/test_docstrings.py, not at build time.

# -- HTML --------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skmim {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_context = {"default_mode": "light"}
html_show_sourcelink = False

# -- sphinx-gallery ----------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",  # execute every plot_*.py
    "ignore_pattern": r"(__init__|conftest)\.py",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "reset_modules": ("matplotlib",),
    "min_reported_time": 1,
    "show_signature": False,
    # "Examples using X" on the API pages
    "doc_module": ("skmim",),
    "backreferences_dir": "gen_modules/backreferences",
}


# -- Inherited scikit-learn methods ------------------------------------------
# The API pages list every public method, those inherited from scikit-learn
# too (score, get_params, set_output, set_*_request, ...). Their docstrings
# point at labels and glossary terms of scikit-learn's own documentation,
# which do not exist here (and intersphinx is off): they are shown as text.
_SKLEARN_ROLE = re.compile(r":(?:ref|term):`([^`<]*?)\s*(?:<[^>`]*>)?`")


def _sklearn_refs_as_text(app, what, name, obj, options, lines):
    module = getattr(obj, "__module__", None) or ""
    if module.split(".")[0] != "sklearn":
        return
    lines[:] = [_SKLEARN_ROLE.sub(lambda m: m.group(1) or "", line) for line in lines]


def setup(app):
    app.connect("autodoc-process-docstring", _sklearn_refs_as_text)
