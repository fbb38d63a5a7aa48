"""Routes under `/api/llm`: the platform's own LLM API, for callers that do not speak OpenAI.

Platform principals (a user's token or an API key) holding `relay:use`; every call goes
through the gateway's pipeline, so budgets, rate limits, caching and usage apply as on `/v1`.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from auterity.core.pagination import keyset_page
from auterity.identity.deps import TenantSession, require
from auterity.identity.permissions import Permission
from auterity.identity.principal import Principal
from auterity.relaycore.costs import format_usd
from auterity.relaycore.llm import conversations, turns
from auterity.relaycore.llm.calls import Reply
from auterity.relaycore.llm.completions import complete
from auterity.relaycore.llm.models import Conversation
from auterity.relaycore.llm.schemas import (
    CompletionCreate,
    CompletionOut,
    ConversationCreate,
    ConversationOut,
    ConversationPage,
    MessageCreate,
    TurnOut,
)
from auterity.relaycore.surface import gateway_of

router = APIRouter(prefix="/api/llm", tags=["llm"])
User = Annotated[Principal, require(Permission.RELAY_USE)]


def answer_headers(response: Response, reply: Reply) -> None:
    """The gateway's own headers (`x-auterity-*`, rate-limit standing), as `/v1` sends them."""
    response.headers.update(reply.headers)
    response.headers["x-auterity-model"] = reply.model
    response.headers["x-auterity-provider"] = reply.provider
    response.headers["x-auterity-route"] = reply.route
    response.headers["x-auterity-cost-usd"] = format_usd(reply.cost_micros)


@router.post("/completions", response_model=CompletionOut)
async def create_completion(
    body: CompletionCreate, principal: User, request: Request, response: Response
) -> CompletionOut:
    """Complete a prompt (or messages) on the model the routing hints pick, within max_cost."""
    out, reply = await complete(gateway_of(request), principal, body)
    answer_headers(response, reply)
    return out


@router.post("/conversations", status_code=201, response_model=ConversationOut)
async def create_conversation(
    body: ConversationCreate,
    principal: User,
    session: TenantSession,
    request: Request,
    response: Response,
) -> ConversationOut:
    """Start a conversation: its system prompt, routing hints and context strategy."""
    catalog = await gateway_of(request).catalog_for(principal.tenant_id)
    turns.check_routable(catalog, body.requested(), "/policy" if body.policy else "/model")
    if body.summary_model:
        turns.check_routable(catalog, body.summary_model, "/summary_model")
    row = await conversations.create_conversation(session, principal, body)
    response.headers["Location"] = f"/api/llm/conversations/{row.id}"
    return conversations.conversation_out(row)


@router.get("/conversations", response_model=ConversationPage)
async def list_conversations(
    principal: User,
    session: TenantSession,
    cursor: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ConversationPage:
    """This tenant's conversations, newest first; pass `next_cursor` back as `cursor`."""
    rows, next_cursor = await keyset_page(
        session, select(Conversation), Conversation.id, cursor, limit
    )
    return ConversationPage(
        items=[conversations.conversation_out(row) for row in rows], next_cursor=next_cursor
    )


@router.get("/conversations/{conversation_id}", response_model=ConversationOut)
async def get_conversation(
    conversation_id: uuid.UUID, principal: User, session: TenantSession
) -> ConversationOut:
    """The conversation with every message, including those out of the context window."""
    row = await conversations.get_conversation(session, conversation_id)
    messages = await conversations.messages_of(session, conversation_id)
    return conversations.conversation_out(row, messages)


@router.delete("/conversations/{conversation_id}", status_code=204)
async def delete_conversation(
    conversation_id: uuid.UUID, principal: User, session: TenantSession
) -> Response:
    await conversations.delete_conversation(session, conversation_id)
    return Response(status_code=204)


@router.post("/conversations/{conversation_id}/messages", status_code=201, response_model=TurnOut)
async def add_message(
    conversation_id: uuid.UUID,
    body: MessageCreate,
    principal: User,
    session: TenantSession,
    request: Request,
    response: Response,
) -> TurnOut:
    """Send a user message: the reply, what it cost, the window decision and the new totals."""
    turn, reply = await turns.add_turn(
        session, gateway_of(request), principal, conversation_id, body
    )
    answer_headers(response, reply)
    return turn
