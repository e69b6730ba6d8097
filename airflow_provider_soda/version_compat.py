"""The running Airflow's release line, for the few places where behaviour (not an import) differs.

Imports of what moved between releases go through ``airflow.providers.common.compat``; this module
only answers "which line is this?", as each official provider's own ``version_compat`` does
(they keep a copy each rather than importing another provider's).
"""

from __future__ import annotations


def get_base_airflow_version_tuple() -> tuple[int, int, int]:
    """Major, minor and micro of the installed Airflow, without pre-release or local parts.

    Read from the distribution's metadata, so that asking costs no import of Airflow.
    """
    from importlib.metadata import version as distribution_version

    from packaging.version import Version

    version = Version(distribution_version("apache-airflow"))
    return version.major, version.minor, version.micro


AIRFLOW_V_3_0_PLUS: bool = get_base_airflow_version_tuple() >= (3, 0, 0)
AIRFLOW_V_3_1_PLUS: bool = get_base_airflow_version_tuple() >= (3, 1, 0)
AIRFLOW_V_3_2_PLUS: bool = get_base_airflow_version_tuple() >= (3, 2, 0)
AIRFLOW_V_3_3_PLUS: bool = get_base_airflow_version_tuple() >= (3, 3, 0)

__all__ = ["AIRFLOW_V_3_0_PLUS", "AIRFLOW_V_3_1_PLUS", "AIRFLOW_V_3_2_PLUS", "AIRFLOW_V_3_3_PLUS"]
