"""``make demo`` shows an expected failure as one line with its message; tracebacks stay for surprises."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo_script", ROOT / "scripts" / "demo.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


OUTPUT = """\
2026-12-06T15:22:21Z [error    ] Task failed with exception     [task] loc=task_runner.py:1676
Traceback (most recent call last):
  File "/x/task_runner.py", line 1579, in _run_task_and_map_outcome
    result = _execute_task(context=context, ti=ti, log=log)
             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/x/example.py", line 39, in load_orders
    raise RuntimeError("orders source returned no rows")
RuntimeError: orders source returned no rows
/x/starlette/routing.py:12: StarletteDeprecationWarning: on_startup is deprecated
  warnings.warn(
2026-12-06T15:22:24Z [warning  ] Incident #1 stays as it is: check 'Row count' is fail in this scan.
"""


def test_an_expected_failure_reads_as_one_line_with_its_message() -> None:
    shown = demo().without_tracebacks(OUTPUT.splitlines())

    assert shown == [
        "2026-12-06T15:22:21Z [error    ] Task failed with exception     [task] loc=task_runner.py:1676",
        "    (expected) RuntimeError: orders source returned no rows",
        "2026-12-06T15:22:24Z [warning  ] Incident #1 stays as it is: check 'Row count' is fail in this scan.",
    ]


def test_the_output_of_a_run_is_captured_at_the_file_descriptors() -> None:
    with demo().captured_output() as lines:
        os.write(1, b"to stdout\n")  # as Airflow's log and a task's subprocesses write
        os.write(2, b"to stderr\n")
    assert lines == ["to stdout", "to stderr"]
