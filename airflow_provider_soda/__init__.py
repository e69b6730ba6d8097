"""Apache Airflow provider for Soda Cloud."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.7.0"
