"""Two small decisions of the hook's transport, on the exceptions requests raises.

- Whether a failed request surely never reached Soda Cloud (then even a request that is not
  idempotent, starting a scan, may be sent again): only when no connection was opened.
- What of a connection error's message goes into the provider's own error: its first line, at
  most 300 characters, through Airflow's secrets masker.
The paths around them (retries, the errors raised) run against the emulator in tests/test_hook.py.
"""

from __future__ import annotations

import uuid

import pytest
import requests
from urllib3.exceptions import NewConnectionError, ProtocolError

from airflow_provider_soda.hooks.transport import _masked, _never_sent


def refused() -> requests.ConnectionError:
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")  # type: ignore[arg-type]
    return requests.ConnectionError(type("MaxRetryError", (), {"reason": reason})())


@pytest.mark.parametrize(
    ("error", "never_sent"),
    [
        (requests.ConnectTimeout("connect timed out"), True),
        (refused(), True),
        (requests.ReadTimeout("read timed out"), False),
        (requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError())), False),
        (requests.ConnectionError(), False),  # nothing said: it may have arrived
        (requests.exceptions.ChunkedEncodingError("cut short"), False),
    ],
    ids=["connect timeout", "refused", "read timeout", "reset", "bare", "cut short"],
)
def test_only_a_connection_never_opened_proves_a_request_never_arrived(
    error: BaseException, never_sent: bool
) -> None:
    assert _never_sent(error) is never_sent


def masked(text: str) -> str:
    """``text`` as Airflow's masker shows it now (other tests of the worker may have registered
    short secrets, which Airflow 2 masks too)."""
    from airflow.providers.common.compat.sdk import redact

    return str(redact(text))


def test_a_connection_error_message_is_its_first_line_shortened() -> None:
    assert _masked(requests.ConnectionError("refused\ntraceback line")) == masked("refused")
    assert _masked(requests.ConnectionError("x" * 500)) == masked("x" * 300)
    assert _masked(requests.ConnectionError()) == ""


def test_a_connection_error_message_passes_the_secrets_masker() -> None:
    from airflow.providers.common.compat.sdk import mask_secret

    secret = uuid.uuid4().hex
    text = f"proxy said no to token={secret}"
    mask_secret(secret)
    result = _masked(requests.ConnectionError(text))
    assert secret not in result
    assert result == masked(text)
