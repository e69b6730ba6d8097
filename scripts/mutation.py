"""``make mutation``: mutation testing of the provider's decisions, with mutmut.

mutmut changes one thing at a time in the functions below (a comparison, a constant, a boolean,
a return value) and runs the tests that executed that function; a mutant the tests do not catch
"survives". A decision whose small bug no test notices is a test missing. Each surviving mutant
must be listed, with the reason it may live, in ``tests/mutation-allowlist.txt`` (an equivalent
mutant, or a change that only alters a log line): any other survivor fails the run, and so does
an allowlisted mutant that no longer survives, no longer exists, or whose change no longer matches
its fingerprint (mutmut numbers mutants by position: an edit can give a listed name to another
mutant). The list must stay true.

The modules and the tests that judge them are in pyproject.toml's ``[tool.mutmut]``; the tests run
in one process, twice before any mutant (mutmut maps tests to functions, then checks they pass).

Usage: python scripts/mutation.py   (from the repository root; writes mutants/, git-ignored)
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALLOWLIST = ROOT / "tests" / "mutation-allowlist.txt"
MUTMUT = str(Path(sys.executable).with_name("mutmut"))

#: The decisions, as mutmut names their functions (``x_<function>``, ``xǁ<Class>ǁ<method>``).
DECISIONS = {
    "the rate-limit schedule": [
        "airflow_provider_soda.pacing.schedule.x_apply__*",
        "airflow_provider_soda.pacing.schedule.x__gc__*",
        "airflow_provider_soda.pacing.schedule.x__occupied_until__*",
    ],
    "the outcome table": ["airflow_provider_soda.scanning.x_scan_failure__*"],
    "selections": [
        "airflow_provider_soda.selection.xǁIncidentSelectionǁis_unfiltered__*",
        "airflow_provider_soda.selection.xǁIncidentSelectionǁqueries__*",
    ],
    "retry classification and Retry-After": [
        "airflow_provider_soda.hooks.retry.x_classify__*",
        "airflow_provider_soda.hooks.retry.x_parse_retry_after__*",
    ],
    "the notifier's status choice": [
        "airflow_provider_soda.notifications.incidents.x__is_failure__*",
        "airflow_provider_soda.notifications.incidents.xǁSodaCloudIncidentNotifierǁ_update_for__*",
    ],
    "verified resolution": [
        "airflow_provider_soda.operators._scan_task.x__verified_incidents__*",
        "airflow_provider_soda.operators._scan_task.x__not_passing__*",
    ],
    "the start-once rule": ["airflow_provider_soda.hooks.transport.x__never_sent__*"],
    "masking": [
        "airflow_provider_soda.hooks.transport.x__masked_settings__*",
        "airflow_provider_soda.hooks.transport.x__masked__*",
    ],
}
RESULT = re.compile(r"^\s*(\S+): (.+)$")


def allowlist() -> dict[str, tuple[str, str]]:
    """Mutant name -> (fingerprint of its change, why it may survive), from ``name @ fingerprint  # reason``."""
    allowed = {}
    for line in ALLOWLIST.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            entry, _, reason = line.partition("#")
            name, _, fingerprint = entry.partition("@")
            if not reason.strip() or not fingerprint.strip():
                raise SystemExit(f"{ALLOWLIST.name}: {name.strip()} needs '@ <fingerprint>  # <reason>'")
            allowed[name.strip()] = (fingerprint.strip(), reason.strip())
    return allowed


def change_of(name: str) -> tuple[str, str]:
    """(fingerprint, mutated lines) of a mutant. mutmut numbers mutants by position, so an edit to a
    function can give an allowlisted name to another mutant: the fingerprint of its diff tells."""
    shown = subprocess.run([MUTMUT, "show", name], cwd=ROOT, capture_output=True, text=True, check=True)
    lines = [
        line[1:].strip()
        for line in shown.stdout.splitlines()
        if line.startswith("+") and not line.startswith("+++")
    ]
    text = " / ".join(lines)
    return hashlib.sha1(text.encode()).hexdigest()[:10], text


def decision_of(name: str) -> str:
    from fnmatch import fnmatch

    return next((d for d, globs in DECISIONS.items() if any(fnmatch(name, g) for g in globs)), "?")


def main() -> int:
    globs = [g for group in DECISIONS.values() for g in group]
    started = time.monotonic()
    run = subprocess.run([MUTMUT, "run", *globs], cwd=ROOT, capture_output=True, text=True)
    if run.returncode != 0:
        print(run.stdout[-5000:], run.stderr[-5000:], sep="\n")
        print(f"mutation: mutmut run failed (exit {run.returncode})")
        return 1
    listed = subprocess.run(
        [MUTMUT, "results", "--all", "true"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    from fnmatch import fnmatch

    results = {
        m.group(1): m.group(2)
        for m in map(RESULT.match, listed.stdout.splitlines())
        if m and any(fnmatch(m.group(1), g) for g in globs)
    }
    allowed = allowlist()
    counts: dict[str, Counter[str]] = {d: Counter() for d in DECISIONS}
    for name, status in results.items():
        counts[decision_of(name)][status] += 1
    print(f"Mutation testing of the decisions ({time.monotonic() - started:.0f} s, mutmut):")
    for decision, counter in counts.items():
        parts = ", ".join(f"{n} {status}" for status, n in sorted(counter.items()))
        print(f"  {decision}: {sum(counter.values())} mutants: {parts}")
    living = {name for name, status in results.items() if status != "killed"}
    unexplained = sorted(living - set(allowed))
    stale = sorted(name for name in allowed if name in results and name not in living)
    gone = sorted(name for name in allowed if name not in results)
    changed = []
    for name in sorted(living & set(allowed)):
        fingerprint, text = change_of(name)
        if fingerprint != allowed[name][0]:
            changed.append(name)
            print(
                f"  CHANGED: {name} is now another mutant ({text}, fingerprint {fingerprint}): judge it anew"
            )
        else:
            print(f"  allowed to survive: {name}: {text} ({allowed[name][1]})")
    for name in unexplained:
        print(f"  SURVIVED: {name} ({results[name]}); see it with: mutmut show {name}")
    for name in stale:
        print(f"  caught now, remove from {ALLOWLIST.name}: {name}")
    for name in gone:
        print(f"  no such mutant any more, remove from {ALLOWLIST.name}: {name}")
    if not results:
        print("mutation: no mutant was run")
        return 1
    return 1 if unexplained or stale or gone or changed else 0


if __name__ == "__main__":
    sys.exit(main())
