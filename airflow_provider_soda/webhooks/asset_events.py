"""Asset events in Airflow's metadata database, at most once per delivery (runs on the API server).

Soda sends no delivery id and may send a delivery again, and the API server may run several
workers, on several machines, restarted at any time. The metadata database is what they all
share, so it is where a delivery is remembered: each event keeps the delivery's fingerprint in
its ``extra``, and the check for an earlier event and the new event are one transaction that
first locks the rows of the assets it touches (a no-op UPDATE: a row lock on PostgreSQL and
MySQL, the write lock on SQLite). Two workers handed the same delivery therefore queue on the
lock, and the second sees the first one's events. A delivery that fails half-way emits nothing,
so that Soda's retry can emit it all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_provider_soda.webhooks.events import Emission

#: The key of an event's ``extra`` that holds the delivery's fingerprint.
DELIVERY_KEY = "soda_delivery"


@dataclass
class Recorded:
    """What one delivery did: events created, and the URIs skipped as duplicate or unused."""

    created: dict[str, int] = field(default_factory=dict)  # uri -> asset id
    duplicates: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)


def record(emissions: Sequence[Emission], *, fingerprint: str, conn_id: str, window: float) -> Recorded:
    """Create the asset events of ``emissions`` that no DAG lacks and no earlier delivery made.

    Blocking (database I/O): the receiver calls it in a worker thread. ``window`` is how many
    seconds back an equal delivery counts as the same one.
    """
    from airflow.assets.manager import asset_manager
    from airflow.models.asset import AssetActive, AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import String, cast, select, update

    by_uri = {e.uri: e for e in emissions}
    done = Recorded()
    with create_session() as session:
        # Only assets some DAG declares (active ones): an event for anything else would start
        # nothing and only fill the table.
        models = session.scalars(
            select(AssetModel)
            .join(AssetActive, (AssetActive.name == AssetModel.name) & (AssetActive.uri == AssetModel.uri))
            .where(AssetModel.uri.in_(list(by_uri)))
            .order_by(AssetModel.id)
        ).all()
        found = {m.uri for m in models}
        done.unused = [uri for uri in by_uri if uri not in found]
        if not models:
            return done
        # Lock first (ids in order, so that two deliveries cannot deadlock), then look.
        session.execute(
            update(AssetModel)
            .where(AssetModel.id.in_([m.id for m in models]))
            .values(updated_at=AssetModel.updated_at)
            .execution_options(synchronize_session=False)
        )
        since = datetime.now(UTC) - timedelta(seconds=window)
        for model in models:
            earlier = session.scalars(
                select(AssetEvent.extra).where(
                    AssetEvent.asset_id == model.id,
                    AssetEvent.timestamp >= since,
                    cast(AssetEvent.extra, String).contains(fingerprint),
                )
            ).all()
            if any(_delivery_of(extra) == fingerprint for extra in earlier):
                done.duplicates.append(model.uri)
                continue
            extra = {
                "from_soda_webhook": True,
                "payload": by_uri[model.uri].payload,
                "connection": conn_id,
                DELIVERY_KEY: fingerprint,
            }
            event = asset_manager.register_asset_change(asset=model, extra=extra, session=session)
            if event is not None:
                done.created[model.uri] = model.id
    return done


def _delivery_of(extra: Any) -> Any:
    if isinstance(extra, str):  # some databases hand JSON back as text
        import json

        try:
            extra = json.loads(extra)
        except ValueError:
            return None
    return extra.get(DELIVERY_KEY) if isinstance(extra, dict) else None
