"""Which tenant the command line acts for on the local database (there is no login there)."""

from __future__ import annotations

from rich.console import Console
from sqlalchemy import func, or_, select

from auterity.core.database import Database
from auterity.core.errors import FieldError, ValidationFailed
from auterity.identity import audit
from auterity.identity.accounts import unique_slug
from auterity.identity.models import Tenant

FIRST_TENANT = "Local"
console = Console(stderr=True)


async def choose_tenant(db: Database, wanted: str | None) -> Tenant:
    """The tenant named by slug or name; else the only one; on an empty database, a new one."""
    async with db.session() as session:
        tenants = list(
            (await session.execute(select(Tenant).order_by(Tenant.created_at))).scalars()
        )
        if not tenants:
            # First use on a fresh machine: nothing to choose from, so make the place to work in.
            name = wanted or FIRST_TENANT
            tenant = Tenant(name=name, slug=await unique_slug(session, name))
            session.add(tenant)
            await session.flush()
            audit.record(
                session,
                "tenant.created",
                tenant_id=tenant.id,
                actor_label="cli",
                target_type="tenant",
                target_id=tenant.id,
            )
            console.print(
                f"No tenant existed yet: created tenant {tenant.slug!r} for local runs.",
                soft_wrap=True,
            )
            return tenant
        if wanted is not None:
            found = (
                await session.execute(
                    select(Tenant).where(
                        or_(Tenant.slug == wanted, func.lower(Tenant.name) == wanted.lower())
                    )
                )
            ).scalar_one_or_none()
            if found is None:
                raise ValidationFailed(
                    f"No tenant {wanted!r} in this database.",
                    errors=[FieldError("--tenant", "unknown tenant", _choices(tenants))],
                )
            return found
        if len(tenants) > 1:
            raise ValidationFailed(
                f"This database has {len(tenants)} tenants: say which with --tenant.",
                errors=[FieldError("--tenant", "required", _choices(tenants))],
            )
        return tenants[0]


def _choices(tenants: list[Tenant]) -> str:
    return "one of " + ", ".join(t.slug for t in tenants)
