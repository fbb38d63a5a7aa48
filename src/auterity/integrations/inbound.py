"""What every inbound provider webhook shares: the tenant its URL names, the tenant's
signing secret, and publishing what arrived as a platform event, once per provider id.

The URL names the tenant by its slug; the provider's signature, keyed by a secret only the
tenant and the provider hold, is what makes a delivery trusted. An unknown tenant and a
tenant without the secret answer the same 404, so the URL reveals nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from auterity.core.database import Database
from auterity.core.errors import NotFound
from auterity.events import EventBus, PlatformEvent
from auterity.identity.models import Tenant
from auterity.integrations.credentials import SecretReader
from auterity.secrets import SecretService

# Event ids derived from the provider's own id: a redelivered webhook publishes an event with
# the same id, so an event trigger starts its run once (its idempotency key is the event id).
_EVENT_NAMESPACE = uuid.UUID("6f0b1c1e-5d8a-4a43-9a38-0c7d7a0f3e51")


def no_webhook(kind: str) -> NotFound:
    return NotFound(f"No {kind} webhook is set up at this URL.")


async def tenant_by_slug(db: Database, slug: str, kind: str) -> uuid.UUID:
    async with db.session(readonly=True) as session:
        tenant_id = (
            await session.execute(select(Tenant.id).where(Tenant.slug == slug))
        ).scalar_one_or_none()
    if tenant_id is None:
        raise no_webhook(kind)
    return tenant_id


def tenant_secrets(secrets: SecretService, tenant_id: uuid.UUID, on_behalf_of: str) -> SecretReader:
    """Reads the tenant's secrets, each read audited as done `on_behalf_of` the webhook."""

    async def read(name: str) -> str | None:
        try:
            return await secrets.resolve_secret(tenant_id, name, on_behalf_of=on_behalf_of)
        except NotFound:
            return None

    return read


async def signing_secret(read: SecretReader, name: str, kind: str) -> str:
    value = await read(name)
    if not value:
        raise no_webhook(kind)
    return value


async def publish_once(
    bus: EventBus, tenant_id: uuid.UUID, type_: str, provider_id: str, data: dict[str, Any]
) -> PlatformEvent:
    event_id = uuid.uuid5(_EVENT_NAMESPACE, f"{tenant_id}:{type_}:{provider_id}")
    return await bus.publish(tenant_id, type_, data, id=event_id)
