"""Every dotted path the docs and docstrings name can be imported, as a reader would copy it."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PATH = re.compile(r"\bairflow_provider_soda(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
SOURCES = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").rglob("*.md")),
    *sorted((ROOT / "airflow_provider_soda").rglob("*.py")),
]


def named_paths() -> list[tuple[str, str]]:
    found: dict[str, str] = {}
    for source in SOURCES:
        for match in PATH.finditer(source.read_text()):
            found.setdefault(match.group(0).rstrip("."), str(source.relative_to(ROOT)))
    return sorted(found.items())


def resolve(path: str) -> object:
    """Import the longest module prefix of ``path``, then read the rest as attributes."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            target = getattr(target, name)
        return target
    raise ModuleNotFoundError(path)


#: Modules that only Airflow 3's API server imports (the webhook receiver's FastAPI app).
API_SERVER_ONLY = ("airflow_provider_soda.webhooks.app",)


@pytest.mark.parametrize(("path", "where"), named_paths())
def test_a_named_path_can_be_imported(path: str, where: str) -> None:
    if path.startswith(API_SERVER_ONLY):
        pytest.importorskip(
            "fastapi", reason="the webhook receiver's app needs Airflow 3's API server (FastAPI)"
        )
    try:
        resolve(path)
    except (ImportError, AttributeError) as err:
        pytest.fail(f"{where} names {path}, which cannot be imported: {err}")


def test_the_scan_finds_paths() -> None:
    paths = dict(named_paths())
    assert "airflow_provider_soda.selection.IncidentSelection" in paths
    assert len(paths) > 50
