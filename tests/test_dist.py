"""``make dist``: the wheel and sdist an index would serve pass ``twine check --strict`` and the
project's own checks (scripts/check_dist.py), and those checks catch a README that would not render."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.airflow_agnostic  # packaging, the same on every Airflow

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", "MANIFEST.in", "airflow_provider_soda")


def build(tmp_path: Path, *, readme: str | None = None, pyproject: str | None = None) -> Path:
    """Build wheel and sdist from a copy of the sources (the clone's own build/ stays untouched)."""
    pytest.importorskip("build", reason="make test installs the release group (build, twine)")
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, source / name)
    if readme is not None:
        (source / "README.md").write_text(readme)
    if pyproject is not None:
        (source / "pyproject.toml").write_text(pyproject)
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--quiet", "--outdir", str(dist), str(source)],
        check=True,
        capture_output=True,
    )
    return dist


def check(dist: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_dist.py"), str(dist), *args],
        capture_output=True,
        text=True,
    )


def test_the_built_dist_passes_twine_and_the_project_checks(tmp_path: Path) -> None:
    dist = build(tmp_path)

    twine = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.iterdir())],
        capture_output=True,
        text=True,
    )
    assert twine.returncode == 0, twine.stdout + twine.stderr
    result = check(dist)
    assert result.returncode == 0, result.stderr
    assert "are fine" in result.stdout
    # No index URL is decided yet: a release build must name the project's URLs first.
    assert check(dist, "--release").returncode == 1


def test_a_readme_that_would_not_render_on_an_index_fails(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text() + "\nSee [the connection](docs/connection.md).\n"

    result = check(build(tmp_path, readme=readme))

    assert result.returncode == 1
    assert "the README links to 'docs/connection.md', which an index cannot resolve" in result.stderr


def test_a_data_file_the_package_data_globs_miss_fails(tmp_path: Path) -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"pacing/*.lua", ' in pyproject

    result = check(build(tmp_path, pyproject=pyproject.replace('"pacing/*.lua", ', "")))

    assert result.returncode == 1
    assert "wheel lacks airflow_provider_soda/pacing/schedule.lua" in result.stderr
