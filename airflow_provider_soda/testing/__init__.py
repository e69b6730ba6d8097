"""Test helpers for DAG authors: an offline Soda Cloud and a pytest fixture for it.

The names are loaded on first use (PEP 562), so that ``python -m
airflow_provider_soda.testing.emulator`` runs the emulator module once, as ``__main__``, rather
than after this package has imported it already (Python warns about that).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("airflow_provider_soda.testing.emulator"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
