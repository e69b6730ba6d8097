"""``make dist``'s checks of the built wheel and sdist, beyond ``twine check``: what an index serves.

- The wheel holds every file of the package's source tree, data files included (``py.typed``,
  the API contract, the Lua script, the facet schema), and nothing of the repository's own
  (tests, benchmarks, the storm harness); its entry points are Airflow's provider and plugin hooks.
- The metadata publishes only the extras users install (``redis``, ``openlineage``): the
  repository's tools are PEP 735 dependency groups, which are never published.
- The long description (the README) renders anywhere: no link into the repository's files, which
  an index cannot resolve, and no Sphinx directive.
- The sdist holds the README, the changelog, the license and the build configuration, and leaves
  the test suite out on purpose: it needs the repository (Makefile, locks, example DAGs, docs);
  run it from a clone.
- With ``--release``, the metadata must name the project's URLs (docs/development.md, "Releasing").

Usage: python scripts/check_dist.py dist [--release]
"""

from __future__ import annotations

import argparse
import re
import sys
import tarfile
import tomllib
import zipfile
from email import message_from_string
from email.message import Message
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "airflow_provider_soda"
SDIST_MUST_HOLD = ("README.md", "CHANGELOG.md", "LICENSE", "pyproject.toml", f"{PACKAGE}/__init__.py")
NEVER_SHIPPED = re.compile(r"(^|/)(tests|bench|e2e|scripts|locks|docs)/|(^|/)storm\.py$")
PUBLIC_EXTRAS = {"redis", "openlineage"}
#: A Markdown link or image whose target is not absolute: it resolves on a code host only.
RELATIVE_LINK = re.compile(r"\]\((?!https?://|mailto:|#)([^)]+)\)")


def package_files() -> list[str]:
    """Every file of the package in the source tree, data files included: all of them must ship, so a
    new data file that pyproject's package-data globs miss fails here, not in a user's install."""
    root = ROOT / PACKAGE
    return sorted(
        f"{PACKAGE}/{path.relative_to(root).as_posix()}"
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    )


def metadata_of(wheel: zipfile.ZipFile) -> Message:
    (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    return message_from_string(wheel.read(name).decode())


def check_wheel(path: Path, version: str, *, release: bool) -> list[str]:
    problems: list[str] = []
    with zipfile.ZipFile(path) as wheel:
        names = wheel.namelist()
        meta = metadata_of(wheel)
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        entries = wheel.read(entry_points).decode()
    problems += [f"wheel lacks {name}" for name in package_files() if name not in names]
    problems += [
        f"wheel ships {name}, which is the repository's own" for name in names if NEVER_SHIPPED.search(name)
    ]
    if meta["Version"] != version:
        problems.append(f"wheel version {meta['Version']} is not pyproject's {version}")
    extras = set(meta.get_all("Provides-Extra") or [])
    if extras != PUBLIC_EXTRAS:
        problems.append(f"published extras are {sorted(extras)}, expected {sorted(PUBLIC_EXTRAS)}")
    for group in ("[apache_airflow_provider]", "[airflow.plugins]"):
        if group not in entries:
            problems.append(f"wheel has no {group} entry point")
    description = meta.get_payload()
    assert isinstance(description, str)
    if meta["Description-Content-Type"] != "text/markdown":
        problems.append("the long description is not declared as Markdown")
    for target in RELATIVE_LINK.findall(description):
        problems.append(f"the README links to {target!r}, which an index cannot resolve")
    if "{literalinclude}" in description or "{doc}" in description:
        problems.append("the README holds a Sphinx directive, which renders only in the docs site")
    urls = meta.get_all("Project-URL") or []
    if not urls:
        message = "no Project-URL: set [project.urls] before publishing (docs/development.md, Releasing)"
        if release:
            problems.append(message)
        else:
            print(f"note: {message}")
    return problems


def check_sdist(path: Path) -> list[str]:
    with tarfile.open(path) as sdist:
        top = sdist.getnames()[0].split("/", 1)[0]
        names = [n.split("/", 1)[1] for n in sdist.getnames() if "/" in n]
    problems = [f"sdist lacks {name}" for name in SDIST_MUST_HOLD if name not in names]
    problems += [
        f"sdist ships {name}; the suite runs from a clone" for name in names if name.startswith("tests/")
    ]
    if not top.startswith(f"{PACKAGE}-") and not top.startswith("airflow-provider-soda-"):
        problems.append(f"sdist's top folder is {top!r}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dist", type=Path)
    parser.add_argument("--release", action="store_true", help="also require what an upload needs")
    args = parser.parse_args()
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    wheels, sdists = sorted(args.dist.glob("*.whl")), sorted(args.dist.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        print(f"expected one wheel and one sdist in {args.dist}, found {wheels + sdists}", file=sys.stderr)
        return 1
    problems = check_wheel(wheels[0], version, release=args.release) + check_sdist(sdists[0])
    for problem in problems:
        print(f"dist: {problem}", file=sys.stderr)
    if not problems:
        print(f"dist: {wheels[0].name} and {sdists[0].name} are fine")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
