"""``make demo``: run the example DAG end to end against the offline Soda Cloud emulator.

Run 1 makes the pipeline fail, so the incident must move to ``investigating``; run 2 lets it
succeed, so the incident must move to ``resolved`` with resolution notes. Exits non-zero if
either the DAG runs or the incident end in another state.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from airflow_provider_soda.testing.dag_test import configure_airflow_home, migrate_db, run_dag

ROOT = Path(__file__).resolve().parent.parent
DAG_ID = "example_soda_incident_lifecycle"


def main() -> int:
    configure_airflow_home(ROOT / ".airflow" / "demo", ROOT / "example_dags")
    print("Preparing a throwaway Airflow metadata DB in .airflow/demo ...", flush=True)
    migrate_db()

    from airflow_provider_soda.testing import DEMO_INCIDENT_ID, SodaCloudEmulator

    with SodaCloudEmulator() as emulator:
        os.environ["AIRFLOW_CONN_SODA_CLOUD_DEFAULT"] = emulator.airflow_connection()
        print(f"Soda Cloud emulator running at {emulator.url}", flush=True)
        before = emulator.incident(DEMO_INCIDENT_ID)
        print(f"Incident #{before['number']} {before['name']!r} starts as: {before['status']}\n", flush=True)

        runs = [
            (
                "pipeline fails",
                {"incident_id": DEMO_INCIDENT_ID, "fail_pipeline": True},
                "failed",
                "investigating",
            ),
            (
                "pipeline succeeds",
                {"incident_id": DEMO_INCIDENT_ID, "fail_pipeline": False},
                "success",
                "resolved",
            ),
        ]
        ok = True
        for label, conf, want_run, want_status in runs:
            print(f"=== Run: {label} (the traceback of a failing run is expected) ===", flush=True)
            dag_run = run_dag(DAG_ID, conf=conf)
            status = emulator.incident(DEMO_INCIDENT_ID)["status"]
            good = dag_run.state == want_run and status == want_status
            ok &= good
            print(
                f"--> DAG run {dag_run.run_id}: {dag_run.state} (expected {want_run}); "
                f"incident status: {status} (expected {want_status}) {'OK' if good else 'MISMATCH'}\n",
                flush=True,
            )

        print("Incident transitions recorded by the emulator:")
        previous = before["status"]
        for entry in emulator.history(DEMO_INCIDENT_ID):
            details = ", ".join(f"{k}={v!r}" for k, v in entry["changes"].items() if k != "status")
            print(f"  {entry['at']}  {previous} -> {entry['status']}  ({details})")
            previous = entry["status"]
        final = emulator.incident(DEMO_INCIDENT_ID)
        print("\nFinal incident state:")
        for key in ("number", "name", "status", "severity", "description", "resolutionNotes", "cloudUrl"):
            print(f"  {key}: {final.get(key)}")
    print("\nDemo " + ("passed." if ok else "FAILED: see MISMATCH above."))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
