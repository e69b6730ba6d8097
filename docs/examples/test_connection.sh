# Test the soda_cloud_default connection without the UI's button (broken on Airflow 3.3.1 and
# 3.3.2 for connections without a port). make e2e runs this file against a real Airflow.
# [START test_connection_commands]
airflow connections test soda_cloud_default   # prints "Connection success!" or the reason
# or through the REST API: sending only the id and type tests the connection as stored
curl --fail-with-body -X POST "$AIRFLOW_URL/api/v2/connections/test" \
     -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
     -d '{"connection_id": "soda_cloud_default", "conn_type": "soda_cloud"}'
# [END test_connection_commands]
