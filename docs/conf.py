"""Sphinx configuration of the provider's documentation (``make docs``; warnings are errors).

Pages are MyST Markdown. Code examples are never written into a page: each is a
``literalinclude`` of a marked region of a file the tests run (tests/test_docs.py checks it).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "docs" / "_ext"))
# autodoc imports the provider, which imports Airflow: give it a throwaway home, not ~/airflow.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="soda-provider-docs-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from airflow_provider_soda import __version__  # noqa: E402

project = "airflow-provider-soda"
author = "airflow-provider-soda developers"
copyright = "2026, airflow-provider-soda developers"
release = version = __version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.viewcode", "parameters"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "examples", "_ext"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_default_options = {"show-inheritance": True}
# pydantic models carry their own machinery; document what a user sets and reads.
autodoc_inherit_docstrings = False

html_theme = "alabaster"
html_title = f"airflow-provider-soda {release}"
html_theme_options = {
    "description": "Apache Airflow provider for Soda Cloud",
    "fixed_sidebar": True,
    "page_width": "1100px",
    "sidebar_width": "240px",
}
