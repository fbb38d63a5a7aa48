"""Storing conversations (no HTTP, no model calls): create, read, delete, add rows, totals."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.core.errors import Conflict
from auterity.core.lookup import one_or_404
from auterity.identity.principal import Principal
from auterity.relaycore.costs import format_usd
from auterity.relaycore.llm.models import Conversation, ConversationMessage
from auterity.relaycore.llm.schemas import (
    ConversationCreate,
    ConversationOut,
    MessageOut,
    Totals,
)


async def create_conversation(
    session: AsyncSession, principal: Principal, body: ConversationCreate
) -> Conversation:
    row = Conversation(
        tenant_id=principal.tenant_id,
        title=body.title,
        system_prompt=body.system,
        model=body.requested(),
        summary_model=body.summary_model,
        context_strategy=body.context_strategy,
        max_tokens=body.max_tokens,
        temperature=body.temperature,
        capabilities=sorted(body.needs),
        created_by_user_id=principal.user_id,
        created_by_api_key_id=principal.api_key_id,
    )
    session.add(row)
    await session.flush()
    return row


async def get_conversation(session: AsyncSession, conversation_id: uuid.UUID) -> Conversation:
    return await one_or_404(
        session,
        select(Conversation).where(Conversation.id == conversation_id),
        f"Conversation {conversation_id} does not exist.",
    )


async def messages_of(
    session: AsyncSession, conversation_id: uuid.UUID
) -> list[ConversationMessage]:
    found = await session.scalars(
        select(ConversationMessage)
        .where(ConversationMessage.conversation_id == conversation_id)
        .order_by(ConversationMessage.position)
    )
    return list(found)


async def delete_conversation(session: AsyncSession, conversation_id: uuid.UUID) -> None:
    await get_conversation(session, conversation_id)
    # Explicitly, not by the foreign key's cascade: SQLite enforces it only when asked to.
    await session.execute(
        delete(ConversationMessage).where(ConversationMessage.conversation_id == conversation_id)
    )
    await session.execute(delete(Conversation).where(Conversation.id == conversation_id))


async def add_messages(
    session: AsyncSession,
    conversation: Conversation,
    rows: list[ConversationMessage],
    *,
    input_tokens: int,
    output_tokens: int,
    cost_micros: int,
    summary_cost_micros: int = 0,
) -> None:
    """Store `rows` and add to the totals, in one commit; a concurrent turn gets 409."""
    session.add_all(rows)
    # Increments in SQL, so two turns at once cannot lose each other's costs.
    await session.execute(
        update(Conversation)
        .where(Conversation.id == conversation.id)
        .values(
            message_count=Conversation.message_count + len(rows),
            input_tokens=Conversation.input_tokens + input_tokens,
            output_tokens=Conversation.output_tokens + output_tokens,
            cost_micros=Conversation.cost_micros + cost_micros,
            summary_cost_micros=Conversation.summary_cost_micros + summary_cost_micros,
        )
        .execution_options(synchronize_session=False)
    )
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(
            "Another message was added to this conversation at the same time; send yours again."
        ) from None
    await session.refresh(conversation)


async def set_context(session: AsyncSession, ids: list[uuid.UUID], context: str) -> None:
    if ids:
        await session.execute(
            update(ConversationMessage)
            .where(ConversationMessage.id.in_(ids))
            .values(context=context)
            .execution_options(synchronize_session=False)
        )


def totals_of(row: Conversation) -> Totals:
    return Totals(
        messages=row.message_count,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        cost_micros=row.cost_micros,
        cost_usd=format_usd(row.cost_micros),
        summary_cost_micros=row.summary_cost_micros,
    )


def conversation_out(
    row: Conversation, messages: list[ConversationMessage] | None = None
) -> ConversationOut:
    return ConversationOut(
        id=row.id,
        title=row.title,
        system=row.system_prompt,
        model=row.model,
        summary_model=row.summary_model,
        context_strategy=row.context_strategy,
        max_tokens=row.max_tokens,
        temperature=row.temperature,
        needs=list(row.capabilities or []),
        totals=totals_of(row),
        created_at=row.created_at,
        updated_at=row.updated_at,
        messages=[MessageOut.model_validate(m) for m in messages] if messages is not None else None,
    )
