"""The Soda Cloud API surface this provider uses: regions, paths and documented rate limits.

One place for these facts so that the hook, the emulator and the tests agree; the test suite
checks them against the OpenAPI contract shipped in ``airflow_provider_soda/testing``.
"""

from __future__ import annotations

from dataclasses import dataclass

REGIONS: dict[str, str] = {
    "eu": "https://cloud.soda.io",
    "us": "https://cloud.us.soda.io",
}
DEFAULT_REGION = "eu"


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` calls in any sliding window of ``period`` seconds."""

    requests: int
    period: float


@dataclass(frozen=True)
class Endpoint:
    """One API operation.

    ``bucket`` names its rate limit (and the key in ``extra.rate_limits``); ``permission`` is what
    Soda Cloud asks of the key's user, for the hint of a 403.
    """

    bucket: str
    method: str
    path: str
    rate_limit: RateLimit
    permission: str = "this request needs a permission the user does not have"


_VIEW_DATASET = "listing needs the 'View dataset' permission on the datasets it reads"
UPDATE_INCIDENT = Endpoint(
    "update_incident",
    "POST",
    "/api/v1/incidents/{incident_id}",
    RateLimit(10, 60),
    "updating an incident needs the 'Manage incident' permission on its dataset",
)
TEST_LOGIN = Endpoint("test_login", "GET", "/api/v1/test-login", RateLimit(10, 10))
LIST_INCIDENTS = Endpoint("list_incidents", "GET", "/api/v1/incidents", RateLimit(60, 60), _VIEW_DATASET)
LIST_DATASETS = Endpoint("list_datasets", "GET", "/api/v1/datasets", RateLimit(10, 60), _VIEW_DATASET)

ENDPOINTS: dict[str, Endpoint] = {
    e.bucket: e for e in (UPDATE_INCIDENT, TEST_LOGIN, LIST_INCIDENTS, LIST_DATASETS)
}

TRACE_ID_HEADER = "X-Soda-Trace-Id"
#: The list endpoint takes at most this many incident ids per request, and pages of at most this size.
MAX_LIST_ITEMS = 1000
