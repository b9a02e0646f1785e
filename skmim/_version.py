"""The version of skmim: the one place it is written (pyproject.toml reads it)."""

__version__ = "0.2.0.dev0"

# where the documentation lives (the HTML repr's links to the API pages)
DOCS_URL = "https://skmim.readthedocs.io/en/latest"
