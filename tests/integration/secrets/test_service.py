"""The service around any backend: name rules, and an audit event for every access."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from auterity.core.database import Database
from auterity.core.errors import ValidationFailed
from auterity.identity.models import AuditEvent
from auterity.identity.principal import Principal
from auterity.secrets import SecretNotFound, SecretService, check_name

Tenants = tuple[uuid.UUID, uuid.UUID]


def principal_of(tenant_id: uuid.UUID) -> Principal:
    return Principal(
        kind="user",
        tenant_id=tenant_id,
        permissions=frozenset({"secret:read", "secret:write"}),
        label="alice@example.com",
        user_id=uuid.uuid4(),
    )


async def audit_events(db: Database, tenant_id: uuid.UUID) -> list[AuditEvent]:
    async with db.session(readonly=True) as session:
        query = select(AuditEvent).where(AuditEvent.tenant_id == tenant_id)
        return list((await session.execute(query.order_by(AuditEvent.id))).scalars())


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("twilio_token", "TWILIO_TOKEN"),
        ("Twilio-Token", "TWILIO_TOKEN"),
        ("2FA_SEED", "S_2FA_SEED"),
        ("api key (prod)", "API_KEY_PROD"),
        ("", None),
        ("A" * 101, "A" * 100),
    ],
)
def test_invalid_names_are_refused_with_a_suggestion(name: str, suggestion: str | None) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_name(name)
    (error,) = caught.value.errors
    assert error.pointer == "/path/name"
    assert "upper-case letter" in error.message
    assert error.hint is not None
    if suggestion:
        assert repr(suggestion) in error.hint


@pytest.mark.parametrize("name", ["A", "TWILIO_TOKEN", "OPENAI_KEY_2", "X" * 100])
def test_valid_names_pass(name: str) -> None:
    assert check_name(name) == name


async def test_every_access_is_audited_and_no_event_holds_the_value(
    secrets: SecretService, tenants: Tenants, db: Database
) -> None:
    alice = principal_of(tenants[0])
    await secrets.write(alice, "STRIPE_KEY", "sk_live_do_not_leak")
    await secrets.reveal(alice, "STRIPE_KEY")
    await secrets.reveal(alice, "STRIPE_KEY", 1)
    with pytest.raises(SecretNotFound):
        await secrets.reveal(alice, "MISSING")
    await secrets.list(alice)
    await secrets.delete(alice, "STRIPE_KEY")

    events = await audit_events(db, tenants[0])
    assert [(e.action, e.outcome, e.target_id) for e in events] == [
        ("secret.written", "success", "STRIPE_KEY"),
        ("secret.read", "success", "STRIPE_KEY"),
        ("secret.read", "success", "STRIPE_KEY"),
        ("secret.read", "failure", "MISSING"),
        ("secret.deleted", "success", "STRIPE_KEY"),
    ]
    assert all(e.actor_user_id == alice.user_id for e in events)
    assert events[0].details["version"] == 1
    assert events[0].details["backend"] == secrets.backend.kind
    assert "sk_live_do_not_leak" not in repr([(e.details, e.target_id) for e in events])


async def test_resolve_secret_gives_the_current_value_and_audits_who_asked(
    secrets: SecretService, tenants: Tenants, db: Database
) -> None:
    alice = principal_of(tenants[0])
    await secrets.write(alice, "WHATSAPP_TOKEN", "wa-1")
    await secrets.write(alice, "WHATSAPP_TOKEN", "wa-2")

    value = await secrets.resolve_secret(
        tenants[0], "WHATSAPP_TOKEN", on_behalf_of="workflow-run:42"
    )

    assert value == "wa-2"
    last = (await audit_events(db, tenants[0]))[-1]
    assert (last.action, last.actor_label, last.details["version"]) == (
        "secret.read",
        "workflow-run:42",
        2,
    )
    with pytest.raises(SecretNotFound):
        await secrets.resolve_secret(tenants[1], "WHATSAPP_TOKEN")
    with pytest.raises(ValidationFailed):
        await secrets.resolve_secret(tenants[0], "whatsapp.token")
