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
    Soda Cloud asks of the key's user, for the hint of a 403; ``subject`` is what the path's id
    names, for the hint of a 404; ``hints`` replace the generic hint of a status. A request that
    is not ``idempotent`` is never repeated once it may have reached Soda Cloud, and ``unsure``
    tells the reader what to check then.
    """

    bucket: str
    method: str
    path: str
    rate_limit: RateLimit
    permission: str = "this request needs a permission the user does not have"
    subject: str = "resource"
    idempotent: bool = True
    unsure: str = ""
    hints: tuple[tuple[int, str], ...] = ()


_VIEW_DATASET = "listing needs the 'View dataset' permission on the datasets it reads"
UPDATE_INCIDENT = Endpoint(
    "update_incident",
    "POST",
    "/api/v1/incidents/{incident_id}",
    RateLimit(10, 60),
    "updating an incident needs the 'Manage incident' permission on its dataset",
    subject="incident",
)
TEST_LOGIN = Endpoint("test_login", "GET", "/api/v1/test-login", RateLimit(10, 10))
LIST_INCIDENTS = Endpoint("list_incidents", "GET", "/api/v1/incidents", RateLimit(60, 60), _VIEW_DATASET)
# 10 / 60 s as Soda's 2025 document says; its v4 reference says 30 / 60 s. Where the two disagree
# the lower one is kept (a deployment may raise it with extra.rate_limits).
LIST_DATASETS = Endpoint("list_datasets", "GET", "/api/v1/datasets", RateLimit(10, 60), _VIEW_DATASET)
LIST_CHECKS = Endpoint(
    "list_checks",
    "GET",
    "/api/v1/checks",
    RateLimit(60, 60),
    "listing checks needs the 'View dataset' permission on their datasets",
)
_UNKNOWN_DEFINITION = (
    "Check the scan definition name: it is the smaller text under the scan's label on the Scans page "
    "of Soda Cloud (for example weekday_scan_schedule), not the label itself, and the scan definition "
    "must run on a Soda Agent (a Soda Library scan cannot be started remotely). Connection {conn} "
    "points at {base_url}."
)
#: Soda documents no permission for the scan endpoints ("any Soda Cloud user in your organization").
_ANY_USER = (
    "Soda Cloud documents no permission for this: any user of the organisation may {action}. A 403 "
    "means the API key's user is not a user of the organisation that owns the scan: check that "
    "connection {{conn}} holds a key of that organisation (now {{base_url}})."
)
TRIGGER_SCAN = Endpoint(
    "trigger_scan",
    "POST",
    "/api/v1/scans",
    RateLimit(10, 60),
    subject="scan definition",
    idempotent=False,
    unsure="A scan may have started: look at the scan definition's runs in Soda Cloud before running it again.",
    hints=(
        (400, _UNKNOWN_DEFINITION),
        (403, _ANY_USER.format(action="start a scan")),
        (404, _UNKNOWN_DEFINITION),
    ),
)
GET_SCAN = Endpoint(
    "get_scan",
    "GET",
    "/api/v1/scans/{scan_id}",
    RateLimit(60, 60),
    subject="scan",
    hints=((403, _ANY_USER.format(action="read a scan's status")),),
)
SCAN_LOGS = Endpoint(
    "scan_logs",
    "GET",
    "/api/v1/scans/{scan_id}/logs",
    RateLimit(60, 60),
    subject="scan",
    hints=((403, _ANY_USER.format(action="read a scan's logs")),),
)
CANCEL_SCAN = Endpoint(
    "cancel_scan",
    "DELETE",
    "/api/v1/scans/{scan_id}",
    RateLimit(10, 60),
    subject="scan",
    hints=((403, _ANY_USER.format(action="cancel a scan")),),
)

# -- Soda v4: data contracts verified on a Soda Runner (formerly Soda Agent) -----------------------
_MANAGE_CONTRACTS = "it needs the 'Manage contracts' permission on the contract's dataset"
_REFUSED_YAML = (
    "Soda Cloud refused the contract's YAML: it is not a valid Soda contract, or its 'dataset:' names "
    "another dataset than the contract's (or, on creation, the dataset already has a contract). Check "
    "the YAML with Soda's contract reference; connection {conn} points at {base_url}."
)
LIST_CONTRACTS = Endpoint(
    "list_contracts",
    "GET",
    "/api/v1/contracts",
    RateLimit(60, 60),
    "listing contracts needs the 'View dataset' permission on their datasets",
)
CREATE_CONTRACT = Endpoint(
    "create_contract",
    "POST",
    "/api/v1/contracts",
    RateLimit(100, 60),
    _MANAGE_CONTRACTS,
    subject="dataset",
    idempotent=False,
    unsure="The contract may have been created: look at the dataset's contract in Soda Cloud.",
    hints=((400, _REFUSED_YAML),),
)
GET_CONTRACT = Endpoint(
    "get_contract",
    "GET",
    "/api/v1/contracts/{contract_id}",
    RateLimit(1000, 60),
    "reading a contract needs the 'View dataset' permission on its dataset",
    subject="contract",
)
PUBLISH_CONTRACT = Endpoint(
    "publish_contract",
    "POST",
    "/api/v1/contracts/{contract_id}",
    RateLimit(100, 60),
    _MANAGE_CONTRACTS,
    subject="contract",
    hints=((400, _REFUSED_YAML),),
)
VERIFY_CONTRACT = Endpoint(
    "verify_contract",
    "POST",
    "/api/v1/contracts/{contract_id}/verify",
    RateLimit(10, 60),
    _MANAGE_CONTRACTS,
    subject="contract",
    idempotent=False,
    unsure="A verification may have started: look at the dataset's scans in Soda Cloud before verifying again.",
)
LIST_RUNNERS = Endpoint("list_runners", "GET", "/api/v1/runners", RateLimit(60, 60))
GET_RUNNER = Endpoint(
    "get_runner", "GET", "/api/v1/runners/{runner_id}", RateLimit(1000, 60), subject="Soda Runner"
)
GET_DATASET = Endpoint(
    "get_dataset",
    "GET",
    "/api/v1/datasets/{dataset_id}",
    RateLimit(1000, 60),
    "reading a dataset needs the 'View dataset' permission on it",
    subject="dataset",
)
GET_DATASET_BY_NAME = Endpoint(
    "get_dataset_by_name",
    "GET",
    "/api/v1/datasets/byDatasetQualifiedName/{qualified_name}",
    RateLimit(1000, 60),
    "reading a dataset needs the 'View dataset' permission on it",
    subject="dataset",
)
# Not an API path: the URL a webhook delivery offers (``incidentLinkCallbackUrl``), on the
# connection's own Soda Cloud host (hooks/incidents.py checks that). Soda documents no limit for
# it; the update endpoint's is assumed. Adding a link twice would show it twice: not idempotent.
INCIDENT_LINK = Endpoint(
    "incident_link",
    "POST",
    "{incident_link_callback_url}",
    RateLimit(10, 60),
    subject="incident link",
    idempotent=False,
    unsure="The link may have been added to the incident; look at its links in Soda Cloud.",
)
#: The webhook receiver's link-back path in the emulator (Soda's own callback paths are opaque).
EMULATOR_INCIDENT_LINK_PREFIX = "/integrations/webhook/incident-links/"

ENDPOINTS: dict[str, Endpoint] = {
    e.bucket: e
    for e in (
        UPDATE_INCIDENT,
        TEST_LOGIN,
        LIST_INCIDENTS,
        LIST_DATASETS,
        LIST_CHECKS,
        TRIGGER_SCAN,
        GET_SCAN,
        SCAN_LOGS,
        CANCEL_SCAN,
        LIST_CONTRACTS,
        CREATE_CONTRACT,
        GET_CONTRACT,
        PUBLISH_CONTRACT,
        VERIFY_CONTRACT,
        LIST_RUNNERS,
        GET_RUNNER,
        GET_DATASET,
        GET_DATASET_BY_NAME,
        INCIDENT_LINK,
    )
}

TRACE_ID_HEADER = "X-Soda-Trace-Id"
#: The scan id in the answer of ``POST /api/v1/scans``.
SCAN_ID_HEADER = "X-Soda-Scan-Id"
#: When Soda Cloud suggests polling a running scan again (an ISO 8601 instant); optional.
NEXT_POLL_HEADER = "X-Soda-Next-Poll-Time"
#: The list endpoint takes at most this many incident ids per request, and pages of at most this size.
MAX_LIST_ITEMS = 1000
