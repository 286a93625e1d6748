"""Sphinx configuration of the pencils documentation.

Why Sphinx (and not MkDocs): the API reference is generated from the numpydoc
docstrings by autodoc/autosummary and rendered by the numpydoc extension, the
project's own docstring style; MyST-Parser reads the existing Markdown pages in
``docs/*.md`` unchanged; MyST-NB executes the example notebook and the gallery
pages at build time, so every figure and number shown is recomputed by the
installed library; a small local extension (``_ext/pencils_cli.py``) renders the
command-line reference from the argument parser itself. Build (warnings are
errors in CI)::

    sphinx-build -W --keep-going -b html docs docs/_build/html
"""

import re
import sys
from pathlib import Path

import pencils

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

project = "pencils"
author = "the pencils authors"
copyright = "2026, the pencils authors"
release = version = pencils.__version__

extensions = [
    "myst_nb",  # Markdown pages (MyST) and notebooks executed at build time
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",  # the docstring style of the whole code base
    "sphinx.ext.mathjax",
    "pencils_cli",  # the CLI reference, generated from pencils.cli.parser()
]

root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}

# MyST: the existing pages link to each other's sections (concepts.md#deterministic-matrices)
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath", "amsmath"]

# MyST-NB: execute every notebook page at every build (never from a stored output); a failing cell fails the build
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_timeout = 120
nb_execution_show_tb = True
nb_merge_streams = True

# autodoc / autosummary / numpydoc
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False



def _api_modules():
    """The modules of ``api.md`` must be those listed in the docstring of ``pencils`` (the public modules)."""
    listed = re.findall(r":mod:`(pencils\.[\w.]+)`", pencils.__doc__)
    text = (HERE / "api.md").read_text(encoding="utf-8")
    table = text.split(":toctree: api", 1)[1].split("```", 1)[0]
    documented = re.findall(r"^\s+(pencils[\w.]*)\s*$", table, flags=re.M)
    if sorted(listed) != sorted(documented):
        raise RuntimeError(f"docs/api.md documents {sorted(set(documented) - set(listed))} beyond and misses "
                           f"{sorted(set(listed) - set(documented))} of the modules listed in pencils/__init__.py")


_api_modules()

html_theme = "alabaster"
html_title = f"pencils {release}"
html_static_path = []
