"""The Celery application both sides share: the engine sends step tasks, workers run them."""

from __future__ import annotations

from celery import Celery

from auterity.core.errors import SettingsError
from auterity.core.settings import Settings

STEP_TASK = "auterity.step"


def celery_app(settings: Settings) -> Celery:
    if not settings.redis_url:
        raise SettingsError("AUTERITY_EXECUTOR=celery needs AUTERITY_REDIS_URL (the broker).")
    visibility = settings.celery_visibility_timeout
    app = Celery("auterity", broker=settings.redis_url, set_as_current=False)
    app.conf.update(
        # Acknowledged only once the attempt ran: a worker killed mid-step leaves its task
        # to another worker (after the visibility timeout), which runs it with the same
        # idempotency key. One task at a time per slot, so no task waits behind a slow one.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,  # outcomes go back on the engine's reply list
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=settings.celery_queue,
        broker_transport_options={
            "visibility_timeout": visibility,
            # Look for abandoned tasks often enough for the timeout to mean what it says.
            "unacked_restore_interval": max(1.0, min(10.0, visibility / 2)),
            "unacked_restore_throttle": 1,
        },
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    return app
