"""Resolve one of the Makefile's environments from scratch and write its lock (``make lock``).

A lock is the ``pip freeze`` of a throw-away venv into which the environment's requirements
were installed as pip resolves them today: every package, dev tools and pip/setuptools
included, pinned with ``==``. The Makefile installs with the lock as a pip constraints file,
so a fresh clone gets exactly what the last green CI had, whatever PyPI released since.

Airflow publishes constraints files per release and Python version; pass one with
``--airflow-constraints`` (a path or URL, ``{release}`` and ``{python}`` filled in) and the
Airflow part is resolved within it. This project's machines reach no host but the package
registries, so the committed locks were resolved without them, under the pins the Makefile
names per release (docs/development.md, "Locked dependencies").

``--keep FILE`` resolves within an existing lock: what it pins stays, and only what it lacks (a
new extra's packages) is resolved today. ``make lock LOCK_KEEP=1`` does that for every lock, for
a change that adds a dependency without refreshing the others.

Usage: python scripts/lock.py --python python3.12 --out locks/airflow-2.11.0.txt
       --groups dev,e2e -- apache-airflow==2.11.0 ...
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Never pinned: the project itself (installed editable from the clone).
SELF = "airflow-provider-soda"


def run(*args: str) -> str:
    return subprocess.run(args, check=True, text=True, stdout=subprocess.PIPE).stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", required=True, help="the interpreter the environment runs on")
    parser.add_argument("--out", required=True, type=Path, help="the lock file to write")
    parser.add_argument("--extras", default="", help="the project's extras, comma-separated")
    parser.add_argument(
        "--groups", default="dev", help="the project's dependency groups (PEP 735), comma-separated"
    )
    parser.add_argument("--airflow-constraints", default="", help="Airflow's constraints file (path or URL)")
    parser.add_argument("--keep", default="", help="an existing lock whose pins stay (a constraints file)")
    parser.add_argument("packages", nargs="*", help="requirements beside the project (pins of a release)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="soda-lock-") as tmp:
        venv = Path(tmp) / "venv"
        run(args.python, "-m", "venv", str(venv))
        python = str(venv / "bin" / "python")
        version = run(python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])").strip()
        run(python, "-m", "pip", "install", "--quiet", "--upgrade", "pip", "setuptools", "wheel")
        install = [python, "-m", "pip", "install", "--quiet"]
        airflow_release = next(
            (p.split("==", 1)[1] for p in args.packages if p.startswith("apache-airflow==")), None
        )
        if args.airflow_constraints:
            if airflow_release is None:
                parser.error("--airflow-constraints needs an apache-airflow==<release> requirement")
            install += ["-c", args.airflow_constraints.format(release=airflow_release, python=version)]
        if args.keep:
            install += ["-c", args.keep]
        project = f"{ROOT}[{args.extras}]" if args.extras else str(ROOT)
        groups = [f"--group={ROOT / 'pyproject.toml'}:{group}" for group in args.groups.split(",") if group]
        run(*install, *args.packages, "-e", project, *groups)
        frozen = run(python, "-m", "pip", "freeze", "--all", "--exclude-editable")
        airflow = run(python, "-c", "import airflow; print(airflow.__version__)").strip()

    pins = sorted(
        (line for line in frozen.splitlines() if "==" in line and not line.lower().startswith(SELF)),
        key=str.lower,
    )
    header = [
        f"# Lock of {args.out.stem}: written by `make lock` (scripts/lock.py); do not edit by hand.",
        f"# Resolved {datetime.now(UTC):%Y-%m-%d} on Python {version} with Airflow {airflow}; "
        f"extras [{args.extras}], groups [{args.groups}]"
        + (f"; beside: {' '.join(args.packages)}" if args.packages else "")
        + ".",
        "# Airflow's constraints: "
        + (args.airflow_constraints or "not used (not reachable from this project's machines)")
        + "."
        + (" The pins of the previous lock were kept; only new packages were resolved." if args.keep else ""),
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(header + pins) + "\n")
    print(f"{args.out}: {len(pins)} packages, Airflow {airflow} on Python {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
