"""Running one attempt of one step (or one for_each item): render, validate, call, check output."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

from auterity.automatrix.actions.base import ActionContext, ActionError, Suspend
from auterity.automatrix.actions.registry import ActionRegistry
from auterity.automatrix.context import redact
from auterity.automatrix.expressions import ExpressionError, references, render_value
from auterity.automatrix.spec import RetryPolicy, StepSpec
from auterity.integrations.errors import IntegrationError


@dataclass
class Outcome:
    status: str  # succeeded | failed | waiting
    output: Any = None
    error: dict[str, Any] | None = None
    params: Any = None  # rendered, redacted parameters (what the step ran with)
    logs: list[str] = field(default_factory=list)
    resume_at: datetime | None = None
    kind: str | None = None
    timeout_error: dict[str, Any] | None = None


def secret_names(step: StepSpec) -> set[str]:
    """The secrets a step's parameters and for_each refer to (resolved where it runs)."""
    return {
        r.name
        for r in references(step.templated) | references(step.for_each or "")
        if r.root == "secrets" and r.name
    }


async def run_attempt(
    step: StepSpec,
    registry: ActionRegistry,
    context: dict[str, Any],
    action_context: ActionContext,
    secrets: dict[str, str],
) -> Outcome:
    action_cls = registry.get(step.uses)
    if action_cls is None:
        return _failure(
            ActionError(f"action {step.uses!r} is not installed", kind="client_error"), None
        )
    try:
        rendered = {**step.with_, **render_value(step.templated, context)}
    except (ExpressionError, ActionError) as exc:
        error = (
            exc
            if isinstance(exc, ActionError)
            else ActionError(f"expression {exc.expression!r}: {exc}", kind="client_error")
        )
        return _failure(error, None)
    shown = redact(rendered, secrets)
    try:
        params = action_cls.Input.model_validate(rendered)
    except ValidationError as exc:
        problems = "; ".join(
            f"/{'/'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_input=False)
        )
        return _failure(
            ActionError(f"invalid parameters for {step.uses}: {problems}", kind="client_error"),
            shown,
        )
    action = action_cls()
    try:
        if step.timeout is not None:
            async with asyncio.timeout(step.timeout):
                result = await action.run(action_context, params)
        else:
            result = await action.run(action_context, params)
    except TimeoutError:
        return _failure(
            ActionError(f"timed out after {step.timeout:g}s", kind="timeout"),
            shown,
            action_context,
            _hidden(secrets, action_context),
        )
    except ActionError as exc:
        return _failure(exc, shown, action_context, _hidden(secrets, action_context))
    except IntegrationError as exc:  # a provider's refusal: its kind decides the retry
        failure = ActionError.from_integration(exc)
        return _failure(failure, shown, action_context, _hidden(secrets, action_context))
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # an action's bug must fail the step, not the engine
        return _failure(
            ActionError(f"{type(exc).__name__}: {exc}", kind="action_error"),
            shown,
            action_context,
            _hidden(secrets, action_context),
        )
    hidden = _hidden(secrets, action_context)
    if isinstance(result, Suspend):
        return Outcome(
            "waiting",
            output=redact(result.output, hidden),
            params=shown,
            logs=redact(action_context.logs, hidden),
            resume_at=result.resume_at,
            timeout_error=result.timeout_error,
        )
    output = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
    return Outcome(
        "succeeded",
        output=redact(output, hidden),
        params=shown,
        logs=redact(action_context.logs, hidden),
    )


def _hidden(secrets: dict[str, str], ctx: ActionContext) -> dict[str, str]:
    """The secrets to redact: those the parameters named and those the action read."""
    return {**secrets, **ctx.revealed} if ctx.revealed else secrets


def _failure(
    error: ActionError,
    params: Any,
    ctx: ActionContext | None = None,
    secrets: dict[str, str] | None = None,
) -> Outcome:
    # An error message or log line may quote what the action was given (a URL, a server's
    # answer echoing a header): secrets are redacted from failures as from successes.
    return Outcome(
        "failed",
        error=redact(error.as_dict(), secrets or {}),
        params=params,
        logs=redact(ctx.logs, secrets or {}) if ctx else [],
        kind=error.kind,
    )


def should_retry(policy: RetryPolicy, attempt: int, kind: str | None) -> bool:
    if attempt >= policy.max_attempts:
        return False
    return "any" in policy.retry_on or (kind is not None and kind in policy.retry_on)


def retry_delay(
    policy: RetryPolicy,
    attempt: int,
    rng: random.Random | None = None,
    *,
    error: dict[str, Any] | None = None,
) -> timedelta:
    """Exponential backoff for the wait after `attempt` failed; full jitter when enabled.

    Never shorter than the wait the failed call asked for (`retry_after` in the error's
    details, such as an HTTP Retry-After), up to the policy's longest wait."""
    backoff = policy.backoff
    ceiling = min(backoff.max, backoff.initial * backoff.factor ** (attempt - 1))
    seconds = (rng or random).uniform(0, ceiling) if policy.jitter else ceiling
    asked = ((error or {}).get("details") or {}).get("retry_after")
    if isinstance(asked, int | float) and asked > 0:
        seconds = max(seconds, min(float(asked), backoff.max))
    return timedelta(seconds=seconds)
