"""How to create one resource of each kind a route can address, for the cross-tenant matrix.

Each entry maps a route template to a factory that creates the resource in the given tenant
and returns the path parameters (and, for writes, a valid body). A route with a path
parameter that has no entry here fails the matrix, so new routes cannot skip isolation tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.integration.identity.conftest import Account, add_member
from tests.integration.identity.saml.idp import SigningIdp


@dataclass
class Resource:
    params: dict[str, str]
    bodies: dict[str, Any] = field(default_factory=dict)  # method -> JSON body
    # Methods that create-or-replace by a name scoped to the caller's tenant (PUT /secrets/NAME):
    # another tenant writes its own resource, so the check is that the victim's is unchanged.
    upserts: set[str] = field(default_factory=set)


Factory = Callable[[httpx.AsyncClient, Account], Awaitable[Resource]]
FACTORIES: dict[str, Factory] = {}
# Routes with path parameters that do not address a tenant's resource, and why.
EXEMPT: dict[str, str] = {}


def resource(*templates: str) -> Callable[[Factory], Factory]:
    def register(factory: Factory) -> Factory:
        for template in templates:
            FACTORIES[template] = factory
        return factory

    return register


@resource("/api/api-keys/{key_id}")
async def api_key(client: httpx.AsyncClient, owner: Account) -> Resource:
    created = await client.post("/api/api-keys", json={"name": "victim"}, headers=owner.headers)
    return Resource({"key_id": created.json()["id"]})


@resource("/api/members/{user_id}")
async def member(client: httpx.AsyncClient, owner: Account) -> Resource:
    editor = await add_member(client, owner, "editor")
    return Resource({"user_id": editor.user_id}, {"PATCH": {"role": "viewer"}})


@resource("/api/roles/{role_id}")
async def role(client: httpx.AsyncClient, owner: Account) -> Resource:
    created = await client.post(
        "/api/roles",
        json={"name": "victim-role", "permissions": ["audit:read"]},
        headers=owner.headers,
    )
    return Resource({"role_id": created.json()["id"]})


@resource("/api/grants/{grant_id}")
async def grant(client: httpx.AsyncClient, owner: Account) -> Resource:
    created = await client.post(
        "/api/grants",
        json={
            "resource_type": "workflow",
            "resource_id": "wf",
            "role": "viewer",
            "permissions": ["workflow:run"],
        },
        headers=owner.headers,
    )
    return Resource({"grant_id": created.json()["id"]})


@resource("/api/auth/sso/providers/{provider_id}")
async def sso_provider(client: httpx.AsyncClient, owner: Account) -> Resource:
    created = await client.post(
        "/api/auth/sso/providers",
        json={
            "slug": f"victim-idp-{uuid.uuid4().hex[:8]}",
            "name": "Victim IdP",
            "issuer": "https://idp.example.com",
            "client_id": "victim-client",
            "client_secret": "victim-secret",
        },
        headers=owner.headers,
    )
    return Resource({"provider_id": created.json()["id"]}, {"PATCH": {"name": "taken over"}})


EXEMPT["/api/auth/sso/{tenant_slug}/{provider_slug}/login"] = (
    "public: starts a sign-in for the tenant named in the path; no principal, no tenant data"
)


@resource("/api/secrets/{name}")
async def secret(client: httpx.AsyncClient, owner: Account) -> Resource:
    await client.put(
        "/api/secrets/VICTIM_TOKEN", json={"value": "s3cret-value"}, headers=owner.headers
    )
    return Resource({"name": "VICTIM_TOKEN"}, {"PUT": {"value": "overwritten"}}, upserts={"PUT"})


_WORKFLOW = {"name": "victim", "steps": [{"id": "a", "uses": "delay", "with": {"seconds": 60}}]}


async def _workflow(client: httpx.AsyncClient, owner: Account) -> str:
    import uuid

    created = await client.post(
        "/api/workflows",
        json={**_WORKFLOW, "name": f"victim-{uuid.uuid4().hex[:6]}"},
        headers=owner.headers,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


@resource(
    "/api/workflows/{workflow_id}",
    "/api/workflows/{workflow_id}/versions",
    "/api/workflows/{workflow_id}/runs",
)
async def workflow(client: httpx.AsyncClient, owner: Account) -> Resource:
    workflow_id = await _workflow(client, owner)
    return Resource(
        {"workflow_id": workflow_id},
        {"PUT": {**_WORKFLOW, "name": "hijacked"}, "POST": {"inputs": {}}},
    )


_TEMPLATE = {
    "name": "victim",
    "parameters": {"type": "object", "properties": {"seconds": {"type": "integer", "default": 5}}},
    "workflow": {
        "name": "victim",
        "steps": [{"id": "a", "uses": "delay", "with": {"seconds": "{{ params.seconds }}"}}],
    },
}


async def _template(client: httpx.AsyncClient, owner: Account) -> dict[str, Any]:
    created = await client.post(
        "/api/templates",
        json={**_TEMPLATE, "name": f"victim-{uuid.uuid4().hex[:6]}"},
        headers=owner.headers,
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


@resource(
    "/api/templates/{template_id}",
    "/api/templates/{template_id}/versions",
    "/api/templates/{template_id}/versions/{version}",
    "/api/templates/{template_id}/versions/{version}/test",
    "/api/templates/{template_id}/diff",
    "/api/templates/{template_id}/instantiate",
)
async def template(client: httpx.AsyncClient, owner: Account) -> Resource:
    created = await _template(client, owner)
    return Resource({"template_id": created["id"], "version": "1"}, {"POST": {}})


@resource("/api/templates/{template_id}/rollback")
async def template_rollback(client: httpx.AsyncClient, owner: Account) -> Resource:
    created = await _template(client, owner)
    return Resource({"template_id": created["id"]}, {"POST": {"version": 1}})


@resource("/api/workflows/{workflow_id}/template", "/api/workflows/{workflow_id}/template/upgrade")
async def template_instance(client: httpx.AsyncClient, owner: Account) -> Resource:
    created = await _template(client, owner)
    made = await client.post(
        f"/api/templates/{created['id']}/instantiate",
        json={"name": f"victim-{uuid.uuid4().hex[:6]}"},
        headers=owner.headers,
    )
    assert made.status_code == 201, made.text
    return Resource({"workflow_id": made.json()["id"]}, {"POST": {}})


@resource(
    "/api/runs/{run_id}",
    "/api/runs/{run_id}/cancel",
    "/api/runs/{run_id}/events",
    "/api/runs/{run_id}/retry",
)
async def run(client: httpx.AsyncClient, owner: Account) -> Resource:
    workflow_id = await _workflow(client, owner)
    started = await client.post(
        f"/api/workflows/{workflow_id}/runs", json={}, headers=owner.headers
    )
    return Resource({"run_id": started.json()["id"]}, {"POST": {}})


@resource("/api/auth/policies/{policy_id}")
async def access_policy(client: httpx.AsyncClient, owner: Account) -> Resource:
    created = await client.post(
        "/api/auth/policies",
        json={
            "name": f"victim-{uuid.uuid4().hex[:8]}",
            "effect": "deny",
            "conditions": {"source_ips": ["192.0.2.0/24"]},
        },
        headers=owner.headers,
    )
    assert created.status_code == 201, created.text
    return Resource({"policy_id": created.json()["id"]}, {"PATCH": {"enabled": False}})


@resource("/api/auth/saml/providers/{name}")
async def saml_provider(client: httpx.AsyncClient, owner: Account) -> Resource:
    idp = SigningIdp.generate()
    name = f"victim-{uuid.uuid4().hex[:8]}"
    created = await client.post(
        "/api/auth/saml/providers",
        json={
            "name": name,
            "idp_entity_id": idp.entity_id,
            "sso_url": "https://idp.example.test/sso",
            "idp_x509_cert": idp.cert_pem,
        },
        headers=owner.headers,
    )
    assert created.status_code == 201, created.text
    return Resource({"name": name}, {"PATCH": {"enabled": False}})


for _saml_route in ("metadata", "login", "acs"):
    EXEMPT[f"/api/auth/saml/{{tenant_slug}}/{{name}}/{_saml_route}"] = (
        "public: the SAML endpoint an IdP or browser reaches for the tenant named in the path"
    )


@resource(
    "/api/runs/{run_id}/steps/{step_id}/approve",
    "/api/runs/{run_id}/steps/{step_id}/reject",
    "/api/runs/{run_id}/steps/{step_id}/output",
)
async def approval_step(client: httpx.AsyncClient, owner: Account) -> Resource:
    spec = {
        "name": f"victim-approval-{uuid.uuid4().hex[:6]}",
        "steps": [{"id": "ask", "uses": "approval", "with": {"message": "ok?"}}],
    }
    created = await client.post("/api/workflows", json=spec, headers=owner.headers)
    started = await client.post(
        f"/api/workflows/{created.json()['id']}/runs", json={}, headers=owner.headers
    )
    return Resource({"run_id": started.json()["id"], "step_id": "ask"}, {"POST": {}})


@resource(
    "/api/triggers/{trigger_id}",
    "/api/triggers/{trigger_id}/pause",
    "/api/triggers/{trigger_id}/resume",
    "/api/triggers/{trigger_id}/firings",
)
async def trigger(client: httpx.AsyncClient, owner: Account) -> Resource:
    workflow_id = await _workflow(client, owner)
    created = await client.post(
        "/api/triggers",
        json={"name": "victim", "kind": "cron", "workflow_id": workflow_id, "cron": "0 9 * * *"},
        headers=owner.headers,
    )
    assert created.status_code == 201, created.text
    return Resource({"trigger_id": created.json()["id"]}, {"PATCH": {"name": "hijacked"}})


EXEMPT["/api/hooks/{token}"] = (
    "the URL token is the credential and names the tenant's trigger; an unknown token is a "
    "404 whoever calls (tests/integration/automatrix/triggers/test_webhooks.py)"
)


@resource("/api/llm/conversations/{conversation_id}")
async def llm_conversation(client: httpx.AsyncClient, owner: Account) -> Resource:
    created = await client.post(
        "/api/llm/conversations",
        json={"title": "victim", "system": "victim's prompt"},
        headers=owner.headers,
    )
    assert created.status_code == 201, created.text
    return Resource({"conversation_id": created.json()["id"]})


@resource("/api/llm/conversations/{conversation_id}/messages")
async def llm_conversation_messages(client: httpx.AsyncClient, owner: Account) -> Resource:
    created = await llm_conversation(client, owner)
    return Resource(created.params, {"POST": {"content": "hello"}})


@resource("/api/relay/budgets/{budget_id}")
async def relay_budget(client: httpx.AsyncClient, owner: Account) -> Resource:
    created = await client.post(
        "/api/relay/budgets",
        json={"name": "victim", "scope": "tenant", "period": "month", "limit_micros": 1_000_000},
        headers=owner.headers,
    )
    return Resource({"budget_id": created.json()["id"]}, {"PATCH": {"limit_micros": 1}})


async def _vector_collection(client: httpx.AsyncClient, owner: Account) -> str:
    name = f"victim-{uuid.uuid4().hex[:8]}"
    created = await client.post(
        "/api/vectors/collections", json={"name": name, "dimensions": 2}, headers=owner.headers
    )
    assert created.status_code == 201, created.text
    upserted = await client.post(
        f"/api/vectors/collections/{name}/documents",
        json={"documents": [{"id": "doc-1", "vector": [1, 0], "text": "secret"}]},
        headers=owner.headers,
    )
    assert upserted.status_code == 200, upserted.text
    return name


@resource("/api/vectors/collections/{name}")
async def vector_collection(client: httpx.AsyncClient, owner: Account) -> Resource:
    return Resource({"name": await _vector_collection(client, owner)})


@resource("/api/vectors/collections/{name}/documents")
async def vector_documents(client: httpx.AsyncClient, owner: Account) -> Resource:
    body = {"documents": [{"id": "doc-1", "vector": [0, 1]}]}
    return Resource({"name": await _vector_collection(client, owner)}, {"POST": body})


@resource("/api/vectors/collections/{name}/query")
async def vector_query(client: httpx.AsyncClient, owner: Account) -> Resource:
    body = {"vector": [1, 0]}
    return Resource({"name": await _vector_collection(client, owner)}, {"POST": body})


@resource("/api/vectors/collections/{name}/documents/delete")
async def vector_delete(client: httpx.AsyncClient, owner: Account) -> Resource:
    body = {"ids": ["doc-1"]}
    return Resource({"name": await _vector_collection(client, owner)}, {"POST": body})


@resource("/api/vectors/collections/{name}/documents/{document_id}")
async def vector_document(client: httpx.AsyncClient, owner: Account) -> Resource:
    name = await _vector_collection(client, owner)
    return Resource({"name": name, "document_id": "doc-1"})


for _messaging_hook in (
    "/api/sms/inbound/{tenant_slug}",
    "/api/sms/status/{tenant_slug}",
    "/api/whatsapp/webhook/{tenant_slug}",
):
    EXEMPT[_messaging_hook] = (
        "public: a provider's webhook for the tenant named in the path, trusted only when the "
        "provider's signature under that tenant's own secret matches; an unknown tenant or one "
        "without the secret is a 404 whoever calls (tests/integration/integrations/)"
    )


@resource("/api/events/{event_id}", "/api/events/{event_id}/replay")
async def platform_event(client: httpx.AsyncClient, owner: Account) -> Resource:
    published = await client.post(
        "/api/events", json={"type": "victim.event", "data": {"x": 1}}, headers=owner.headers
    )
    assert published.status_code == 202, published.text
    return Resource({"event_id": published.json()["id"]})
