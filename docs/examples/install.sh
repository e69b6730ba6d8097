#!/usr/bin/env bash
# Installing the provider next to Airflow. tests/test_docs.py checks this file's syntax, that the
# constraints URL has Airflow's form, and that the extras named here exist.
set -euo pipefail
AIRFLOW_VERSION=3.3.2
PYTHON_VERSION="$(python -c 'import sys; print(f"{sys.version_info.major}.{sys.version_info.minor}")')"

# [START install_with_constraints]
# Airflow and its pinned dependencies from Airflow's constraints file for your Airflow and Python,
# then the provider (until the first release is on PyPI: from a clone, or a wheel built from one)
pip install "apache-airflow==${AIRFLOW_VERSION}" \
  --constraint "https://raw.githubusercontent.com/apache/airflow/constraints-${AIRFLOW_VERSION}/constraints-${PYTHON_VERSION}.txt"
pip install ./airflow-provider-soda            # a clone of this repository
# with the extras you need (several machines sharing a rate limit; OpenLineage facets):
pip install "./airflow-provider-soda[redis,openlineage]"
# [END install_with_constraints]
