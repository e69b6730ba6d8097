"""What every Soda Cloud operator shares: the connection, the hook's limits and the retry policy."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException, BaseOperator

from airflow_provider_soda.exceptions import SodaCloudError, SodaCloudValidationError
from airflow_provider_soda.hooks import DEFAULT_CONN_ID
from airflow_provider_soda.hooks.retry import RetryLimits
from airflow_provider_soda.retry_policy import RETRY_POLICIES_SUPPORTED, default_retry_policy

if TYPE_CHECKING:
    from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook

#: One stateless policy object serves every operator (None on Airflow < 3.3).
DEFAULT_RETRY_POLICY = default_retry_policy()


class SodaCloudBaseOperator(BaseOperator):
    """Base of this provider's operators: a lazily built hook and Soda-aware retries.

    :param soda_cloud_conn_id: Airflow connection of type ``soda_cloud`` (templated).
    :param hook_params: the hook's retry limits to change, by
        :class:`~airflow_provider_soda.hooks.retry.RetryLimits` field, e.g.
        ``{"max_transient_retries": 5, "backoff_cap": 60}``.
    :param retry_policy: Airflow 3.3+ task retry policy; by default
        :class:`~airflow_provider_soda.retry_policy.SodaCloudRetryPolicy` (``None`` switches it off).
    """

    template_fields: Sequence[str] = ("soda_cloud_conn_id",)

    def __init__(
        self,
        *,
        soda_cloud_conn_id: str = DEFAULT_CONN_ID,
        hook_params: dict[str, Any] | None = None,
        retry_policy: Any = DEFAULT_RETRY_POLICY,
        **kwargs: Any,
    ) -> None:
        # retry_policy is in this signature, with the policy as its default, so that Airflow's own
        # machinery applies it: default_args override it, partial() (mapping) picks it up, and an
        # explicit None switches it off. Airflow < 3.3 has no retry_policy, so none is passed there.
        if retry_policy is not None and not RETRY_POLICIES_SUPPORTED:
            _warn_no_retry_policies()
            retry_policy = None
        if retry_policy is not None or DEFAULT_RETRY_POLICY is not None:
            kwargs["retry_policy"] = retry_policy
        super().__init__(**kwargs)
        self.soda_cloud_conn_id = soda_cloud_conn_id
        self.hook_params = hook_params or {}
        RetryLimits().updated(self.hook_params)  # an unknown key fails at parse time, not at run time

    def retry_limits(self) -> RetryLimits:
        """Return the hook's retry limits for this task (a deferrable task tightens them: it waits elsewhere)."""
        return RetryLimits().updated(self.hook_params)

    @cached_property
    def hook(self) -> SodaCloudHook:
        from airflow_provider_soda.hooks.soda_cloud import SodaCloudHook  # not at DAG-parse time

        return SodaCloudHook(soda_cloud_conn_id=self.soda_cloud_conn_id, retry_limits=self.retry_limits())


@cache
def _warn_no_retry_policies() -> None:
    """Say once per process that a retry_policy was dropped (a DAG written for 3.3 still parses)."""
    logging.getLogger(__name__).warning(
        "retry_policy is ignored: task retry policies need Airflow 3.3+. Tasks of this provider retry "
        "after their retry_delay instead (Soda Cloud's Retry-After still paces the hook's own retries)."
    )


@contextmanager
def fail_fast() -> Iterator[None]:
    """Fail the task without retries on a Soda Cloud error that retrying cannot fix (401, 404, bad input).

    Airflow 3.3's retry policy does the same; this keeps it so on every release.
    """
    try:
        yield
    except SodaCloudError as err:
        if err.retryable:
            raise
        raise AirflowFailException(str(err)) from err


def verify_dataset_ids(hook: SodaCloudHook, dataset_ids: Sequence[str], *, matched: int = 0) -> None:
    """Refuse dataset ids that Soda Cloud does not list, so that a typo cannot pass as "no incident".

    An unknown dataset has no incidents, so a sensor, a gate or a bulk update on it would succeed
    without doing anything. Operators call this when the result would pass on such an empty
    answer; each takes ``verify_dataset_ids=False`` for users who mean an id Soda does not list
    (yet). ``matched`` incidents of a single dataset id prove it: nothing is read then.
    """
    if not dataset_ids or (len(dataset_ids) == 1 and matched):
        return
    unknown = hook.unknown_dataset_ids(dataset_ids)
    if unknown:
        raise SodaCloudValidationError(
            f"Soda Cloud at {hook.base_url} lists no dataset {', '.join(repr(i) for i in unknown)} for the API "
            f"key's user (connection {hook.soda_cloud_conn_id!r}), so no incident could ever match. Check the "
            "id (it is in the dataset page's URL in Soda Cloud), the connection's region, and that the user "
            "has 'View dataset' on it; pass verify_dataset_ids=False if the id is meant to be unknown."
        )
