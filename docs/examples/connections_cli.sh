#!/usr/bin/env bash
# The Soda Cloud connection added with Airflow's CLI (stored in the metadata database).
# tests/test_docs.py runs this file against a throw-away Airflow and reads each connection back.
set -euo pipefail

# [START connections_add]
# EU (the default region)
airflow connections add soda_cloud_default --conn-type soda_cloud \
  --conn-login KEY_ID --conn-password KEY_SECRET --conn-extra '{"region": "eu"}'
# US
airflow connections add soda_cloud_us --conn-type soda_cloud \
  --conn-login KEY_ID --conn-password KEY_SECRET --conn-extra '{"region": "us"}'
# A custom base URL (a proxy in front of Soda Cloud), which overrides the region
airflow connections add soda_cloud_proxy --conn-type soda_cloud \
  --conn-host https://soda-proxy.example.com --conn-login KEY_ID --conn-password KEY_SECRET
# [END connections_add]
