"""Test helpers for DAG authors: an offline Soda Cloud and a pytest fixture for it."""

from __future__ import annotations

from airflow_provider_soda.testing.emulator import (
    DEFAULT_API_KEY_ID,
    DEFAULT_API_KEY_SECRET,
    DEFAULT_TOKEN,
    DEMO_INCIDENT_ID,
    Fault,
    RecordedRequest,
    SodaCloudEmulator,
)

__all__ = [
    "DEFAULT_API_KEY_ID",
    "DEFAULT_API_KEY_SECRET",
    "DEFAULT_TOKEN",
    "DEMO_INCIDENT_ID",
    "Fault",
    "RecordedRequest",
    "SodaCloudEmulator",
]
