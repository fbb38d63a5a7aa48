"""One conversation turn: plan the window, summarise if asked, call the model, store it all.

No transaction stays open across a model call (SQLite would hold its write lock for
seconds): reads end before the summary call, the summary is committed before the reply
call (it was paid for, whatever happens next), and the turn is committed after.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from auterity.core.errors import FieldError, ValidationFailed
from auterity.identity.principal import Principal
from auterity.relaycore.catalog import Catalog, allowed
from auterity.relaycore.costs import format_usd
from auterity.relaycore.errors import ModelNotFound
from auterity.relaycore.gateway import RelayGateway
from auterity.relaycore.llm import conversations
from auterity.relaycore.llm.calls import Reply, chat, micros_of_usd
from auterity.relaycore.llm.models import Conversation, ConversationMessage
from auterity.relaycore.llm.schemas import MessageCreate, MessageOut, TurnOut, WindowOut
from auterity.relaycore.llm.window import Entry, Limit, Plan, Strategy, plan_window
from auterity.relaycore.routing import Needs, RouteDecision
from auterity.relaycore.routing.router import AUTO, POLICY_PREFIX
from auterity.relaycore.tokens import clip_text, count_messages, count_text

# Kept free for the reply when neither the turn nor the conversation sets max_tokens.
DEFAULT_REPLY_TOKENS = 1024
SUMMARY_ALIAS = "cheap"
SUMMARY_INSTRUCTIONS = (
    "You summarise conversations for an assistant that will continue them. Write a concise "
    "summary of the conversation below that keeps every fact, name, number, decision and "
    "open question a later reply may need. Write only the summary."
)


@dataclass
class Window:
    """The candidates' windows, and the room kept for the reply and a summary."""

    limits: list[Limit]
    reply_tokens: int
    summary_tokens: int

    @property
    def smallest(self) -> int:
        return min(limit.window for limit in self.limits)


def window_for(catalog: Catalog, route: RouteDecision, max_tokens: int | None) -> Window:
    limits: dict[str, Limit] = {}
    caps = []
    for deployment in route.candidates:
        model = catalog.models[deployment.model]
        limits[deployment.model] = Limit(deployment.model, model.context_window, model.tokenizer)
        if model.max_output_tokens:
            caps.append(model.max_output_tokens)
    smallest = min(limit.window for limit in limits.values())
    reply = max_tokens or min([DEFAULT_REPLY_TOKENS, smallest // 4, *caps])
    return Window(list(limits.values()), max(1, reply), max(16, min(512, smallest // 8)))


def route_of(
    gateway: RelayGateway,
    principal: Principal,
    catalog: Catalog,
    requested: str | None,
    probe: list[dict[str, Any]],
    max_tokens: int | None,
    capabilities: frozenset[str],
) -> RouteDecision:
    """The candidates the gateway will try for this turn (sized by its fixed part only)."""
    needs = Needs(
        kind="chat",
        prompt_tokens=count_messages(probe),
        max_output_tokens=max_tokens,
        json_schema="json_schema" in capabilities,
        tools="tools" in capabilities,
        vision="vision" in capabilities,
        streaming="streaming" in capabilities,
    )
    try:
        return gateway.route_for(principal, catalog, requested, needs, {"messages": probe})
    except ModelNotFound as error:
        raise ValidationFailed(error.detail, errors=[FieldError("/model", error.detail)]) from None


def check_routable(catalog: Catalog, requested: str | None, pointer: str) -> None:
    """A model, alias or policy the catalog knows (whether it fits is decided per turn)."""
    if requested is None or requested == AUTO or requested in catalog.names():
        return
    policy = requested.removeprefix(POLICY_PREFIX)
    if requested.startswith(POLICY_PREFIX) and policy in catalog.policies:
        return
    what = (
        f"routing policy {policy!r}"
        if requested.startswith(POLICY_PREFIX)
        else (f"model {requested!r}")
    )
    raise ValidationFailed(
        f"There is no {what} in this tenant's catalog.",
        errors=[FieldError(pointer, f"unknown {what}", "GET /v1/models lists the names")],
    )


def history_of(rows: list[ConversationMessage]) -> list[Entry]:
    """The active messages, the summary (there is at most one active) first."""
    active = [row for row in rows if row.context == "active"]
    ordered = [r for r in active if r.role == "summary"] + [
        r for r in active if r.role != "summary"
    ]
    return [Entry(row.id, row.role, row.content, row.position) for row in ordered]


async def add_turn(
    session: AsyncSession,
    gateway: RelayGateway,
    principal: Principal,
    conversation_id: uuid.UUID,
    body: MessageCreate,
) -> tuple[TurnOut, Reply]:
    conversation = await conversations.get_conversation(session, conversation_id)
    rows = await conversations.messages_of(session, conversation_id)
    position = (rows[-1].position if rows else 0) + 1
    await session.commit()  # end the read before any model call

    catalog = await gateway.catalog_for(principal.tenant_id)
    requested = body.model or conversation.model
    max_tokens = body.max_tokens or conversation.max_tokens
    capabilities = frozenset(conversation.capabilities or ())
    system = conversation.system_prompt
    user = {"role": "user", "content": body.content}
    probe = ([{"role": "system", "content": system}] if system else []) + [user]
    route = route_of(gateway, principal, catalog, requested, probe, max_tokens, capabilities)
    window = window_for(catalog, route, max_tokens)
    strategy: Strategy = "drop" if conversation.context_strategy == "drop" else "summarize"
    plan = plan_window(
        system=system,
        history=history_of(rows),
        user=body.content,
        limits=window.limits,
        reply_tokens=window.reply_tokens,
        strategy=strategy,
        summary_tokens=window.summary_tokens,
    )
    summary: ConversationMessage | None = None
    if plan.fold:
        summary = await summarise(
            session, gateway, principal, catalog, conversation, plan, window, requested, position
        )
        position += 1

    messages = plan.messages(
        system,
        body.content,
        Entry(summary.id, "summary", summary.content, summary.position)
        if summary is not None
        else None,
    )
    request: dict[str, Any] = {"messages": messages, "max_tokens": window.reply_tokens}
    if requested:
        request["model"] = requested
    temperature = body.temperature if body.temperature is not None else conversation.temperature
    if temperature is not None:
        request["temperature"] = temperature
    reply = await chat(
        gateway,
        principal,
        request,
        max_cost_micros=micros_of_usd(body.max_cost_usd) if body.max_cost_usd else None,
        capabilities=capabilities,
    )

    tokenizer = tokenizer_of(catalog, reply.model, window)
    user_row = ConversationMessage(
        tenant_id=principal.tenant_id,
        conversation_id=conversation.id,
        position=position,
        role="user",
        content=body.content,
        tokens=count_text(body.content, tokenizer),
    )
    reply_row = answer_row(conversation, reply, "assistant", position + 1, tokenizer)
    await conversations.set_context(session, [e.id for e in plan.drop], "dropped")
    await conversations.add_messages(
        session,
        conversation,
        [user_row, reply_row],
        input_tokens=reply.usage.prompt_tokens,
        output_tokens=reply.usage.completion_tokens,
        cost_micros=reply.cost_micros,
    )
    turn_cost = reply.cost_micros + (summary.cost_micros if summary is not None else 0)
    out = TurnOut(
        user=MessageOut.model_validate(user_row),
        reply=MessageOut.model_validate(reply_row),
        summary=MessageOut.model_validate(summary) if summary is not None else None,
        window=WindowOut(
            strategy=strategy,
            model_window=window.smallest,
            reply_tokens=window.reply_tokens,
            prompt_tokens=count_messages(messages, tokenizer=tokenizer),
            included=sum(1 for entry in plan.keep if entry.role != "summary"),
            dropped=len(plan.drop),
            summarized=sum(1 for entry in plan.fold if entry.role != "summary"),
            summary_used=summary is not None or any(e.role == "summary" for e in plan.keep),
        ),
        route=reply.route,
        cost_micros=turn_cost,
        cost_usd=format_usd(turn_cost),
        conversation=conversations.conversation_out(conversation),
    )
    return out, reply


def tokenizer_of(catalog: Catalog, model: str, window: Window) -> str:
    spec = catalog.models.get(model)
    return spec.tokenizer if spec is not None else window.limits[0].tokenizer


def answer_row(
    conversation: Conversation, reply: Reply, role: str, position: int, tokenizer: str
) -> ConversationMessage:
    return ConversationMessage(
        tenant_id=conversation.tenant_id,
        conversation_id=conversation.id,
        position=position,
        role=role,
        content=reply.text,
        tokens=count_text(reply.text, tokenizer),
        model=reply.model,
        provider=reply.provider,
        input_tokens=reply.usage.prompt_tokens,
        output_tokens=reply.usage.completion_tokens,
        cost_micros=reply.cost_micros,
        request_id=reply.request_id[:64],
    )


def summary_model_of(
    principal: Principal, catalog: Catalog, conversation: Conversation, requested: str | None
) -> str | None:
    """Who writes the summary: the conversation's choice, else `cheap` where it may be used."""
    if conversation.summary_model:
        return conversation.summary_model
    if SUMMARY_ALIAS in catalog.aliases and allowed(SUMMARY_ALIAS, principal.allowed_models):
        return SUMMARY_ALIAS
    return requested


def transcript(entries: list[Entry]) -> str:
    labels = {"user": "User", "assistant": "Assistant", "summary": "Earlier summary"}
    return "\n\n".join(f"{labels.get(e.role, e.role)}: {e.content}" for e in entries)


async def summarise(
    session: AsyncSession,
    gateway: RelayGateway,
    principal: Principal,
    catalog: Catalog,
    conversation: Conversation,
    plan: Plan,
    window: Window,
    requested: str | None,
    position: int,
) -> ConversationMessage:
    """Fold `plan.fold` into one summary through the gateway; store and commit it."""
    model = summary_model_of(principal, catalog, conversation, requested)
    request: dict[str, Any] = {
        "messages": [
            {"role": "system", "content": SUMMARY_INSTRUCTIONS},
            {"role": "user", "content": transcript(plan.fold)},
        ],
        "max_tokens": window.summary_tokens,
        "temperature": 0,
    }
    if model:
        request["model"] = model
    reply = await chat(gateway, principal, request, model_field="/summary_model")
    # The room kept for it is a promise: a summary counted longer by some model is cut.
    text = reply.text
    for limit in window.limits:
        text = clip_text(text, window.summary_tokens, limit.tokenizer)
    clipped = dataclasses.replace(reply, text=text)
    row = answer_row(conversation, clipped, "summary", position, window.limits[0].tokenizer)
    positions = [e.position for e in plan.fold]
    row.folded = {"first": min(positions), "last": max(positions), "messages": len(positions)}
    await conversations.set_context(session, [e.id for e in plan.fold], "summarized")
    await conversations.add_messages(
        session,
        conversation,
        [row],
        input_tokens=reply.usage.prompt_tokens,
        output_tokens=reply.usage.completion_tokens,
        cost_micros=reply.cost_micros,
        summary_cost_micros=reply.cost_micros,
    )
    return row
