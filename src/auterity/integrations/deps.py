"""What the integration routes take from the app: the messaging bundle, the secret store and
the event bus (set up once by the app factory)."""

from __future__ import annotations

import uuid

from fastapi import Request

from auterity.events import EventBus
from auterity.integrations.credentials import SecretReader
from auterity.integrations.inbound import tenant_secrets
from auterity.integrations.messaging import Messaging
from auterity.secrets import SecretService


def messaging_of(request: Request) -> Messaging:
    messaging: Messaging = request.app.state.messaging
    return messaging


def secrets_of(request: Request) -> SecretService:
    secrets: SecretService = request.app.state.secrets
    return secrets


def events_of(request: Request) -> EventBus:
    events: EventBus = request.app.state.events
    return events


def caller_secrets(request: Request, tenant_id: uuid.UUID, label: str) -> SecretReader:
    """The tenant's secrets for a send the API caller asked for (audited under `label`)."""
    return tenant_secrets(secrets_of(request), tenant_id, f"api:{label}")
