# Connections for Soda Cloud as environment variables. tests/test_docs.py sources this file and
# reads each connection back through the hook, so these forms are known to work.

# [START connection_json_eu]
export AIRFLOW_CONN_SODA_CLOUD_DEFAULT='{"conn_type": "soda_cloud", "login": "KEY_ID", "password": "KEY_SECRET", "extra": {"region": "eu"}}'
# [END connection_json_eu]

# [START connection_uri_us]
export AIRFLOW_CONN_SODA_CLOUD_US='soda-cloud://KEY_ID:KEY_SECRET@/?region=us'
# [END connection_uri_us]

# [START connection_uri_custom_base_url]
export AIRFLOW_CONN_SODA_CLOUD_PROXY='soda-cloud://KEY_ID:KEY_SECRET@https%3A%2F%2Fsoda-proxy.example.com'
# [END connection_uri_custom_base_url]

# [START connection_json_webhooks]
# The same connection, also receiving Soda's webhooks: generate the token once (say, with
# `openssl rand -hex 32`) and paste it into Soda's webhook settings as well.
export AIRFLOW_CONN_SODA_CLOUD_WEBHOOKS='{"conn_type": "soda_cloud", "login": "KEY_ID", "password": "KEY_SECRET", "extra": {"region": "eu", "webhook_token": "2c0f7e4b8a9d4e61b3f5a7c9d1e3f5a7", "webhook_link_back": true}}'
# [END connection_json_webhooks]
