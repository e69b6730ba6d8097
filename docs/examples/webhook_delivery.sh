#!/usr/bin/env bash
# Send one delivery the way Soda Cloud does, to check the receiver before Soda is set up.
# tests/test_webhooks_receiver.py runs this against a real Airflow API server.
# AIRFLOW_URL: the Airflow API server; SODA_WEBHOOK_TOKEN: the connection's webhook_token.
set -euo pipefail

# [START webhook_test_delivery]
curl --fail-with-body --silent --show-error \
  -X POST "$AIRFLOW_URL/soda-cloud/webhooks/soda_cloud_default" \
  -H "Authorization: Bearer $SODA_WEBHOOK_TOKEN" \
  -H "Content-Type: application/json" \
  -d '{"event": "incidentCreated", "incident": {"id": "test-1", "number": 1, "title": "Test delivery",
       "severity": "critical", "status": "reported",
       "checkResults": [{"name": "row_count > 0", "outcome": "fail", "datasets": [{"id": "ds-orders"}]}]}}'
# Answer: {"event": "incidentCreated", "delivery": "...", "asset_events": 1, "duplicates": 0, "unused_assets": 1}
# [END webhook_test_delivery]
