"""Templates as the API and CLI use them: publish, roll back, diff, instantiate, upgrade."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from auterity.automatrix import service as workflows
from auterity.automatrix.actions.registry import ActionRegistry
from auterity.automatrix.models import Workflow, WorkflowVersion
from auterity.automatrix.templates.diff import workflow_diff
from auterity.automatrix.templates.document import TemplateDocument
from auterity.automatrix.templates.models import Template, TemplateInstance, TemplateVersion
from auterity.automatrix.templates.params import fill, resolve_values
from auterity.core.errors import BadRequest, Conflict, NotFound
from auterity.core.lookup import one_or_404


def _tag_index(tags: list[str]) -> str:
    return "," + ",".join(sorted({t.strip().lower() for t in tags if t.strip()})) + ","


def _describe(template: Template, document: TemplateDocument) -> None:
    template.name = document.name
    template.description = document.description
    template.category = document.category
    template.tags = document.tags
    template.tag_index = _tag_index(document.tags)


async def create_template(
    session: AsyncSession,
    document: TemplateDocument,
    raw: dict[str, Any],
    source: str | None,
    created_by: uuid.UUID | None,
    tests_passed: bool | None,
) -> tuple[Template, TemplateVersion]:
    clash = await session.execute(select(Template.id).where(Template.name == document.name))
    if clash.first():
        raise Conflict(
            f"A template named {document.name!r} already exists; publish a new version of it."
        )
    template = Template(current_version=1, latest_version=1, created_by=created_by)
    _describe(template, document)
    session.add(template)
    await session.flush()
    version = TemplateVersion(
        template_id=template.id,
        version=1,
        document=raw,
        source=source,
        tests_passed=tests_passed,
        created_by=created_by,
    )
    session.add(version)
    await session.flush()
    return template, version


async def publish(
    session: AsyncSession,
    template: Template,
    document: TemplateDocument,
    raw: dict[str, Any],
    source: str | None,
    created_by: uuid.UUID | None,
    tests_passed: bool | None,
) -> TemplateVersion:
    """A new immutable version, which becomes the current one."""
    if document.name != template.name:
        clash = await session.execute(
            select(Template.id).where(Template.name == document.name, Template.id != template.id)
        )
        if clash.first():
            raise Conflict(f"A template named {document.name!r} already exists.")
    number = template.latest_version + 1
    version = TemplateVersion(
        template_id=template.id,
        version=number,
        document=raw,
        source=source,
        tests_passed=tests_passed,
        created_by=created_by,
    )
    session.add(version)
    template.latest_version = template.current_version = number
    _describe(template, document)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict("Another version was published at the same time; try again.") from None
    return version


async def rollback(session: AsyncSession, template: Template, version: int) -> TemplateVersion:
    """Make an earlier version current again; no version is changed or removed."""
    row = await get_version(session, template, version)
    template.current_version = version
    _describe(template, TemplateDocument.model_validate(row.document))
    await session.flush()
    return row


async def get_template(session: AsyncSession, template_id: uuid.UUID) -> Template:
    return await one_or_404(
        session,
        select(Template).where(Template.id == template_id),
        f"Template {template_id} does not exist.",
    )


async def get_version(
    session: AsyncSession, template: Template, version: int | None = None
) -> TemplateVersion:
    wanted = template.current_version if version is None else version
    return await one_or_404(
        session,
        select(TemplateVersion).where(
            TemplateVersion.template_id == template.id, TemplateVersion.version == wanted
        ),
        f"Template {template.id} has no version {wanted} "
        f"(versions 1 to {template.latest_version}).",
    )


def search(tag: str | None, category: str | None, q: str | None) -> Select[tuple[Template]]:
    query = select(Template)
    if tag:
        query = query.where(Template.tag_index.contains(f",{tag.strip().lower()},"))
    if category:
        query = query.where(Template.category == category)
    if q:
        pattern = f"%{q.strip().lower()}%"
        query = query.where(Template.name.ilike(pattern) | Template.description.ilike(pattern))
    return query


def filled_workflow(version: TemplateVersion, parameters: dict[str, Any]) -> dict[str, Any]:
    document = TemplateDocument.model_validate(version.document)
    values = resolve_values(document.parameters, parameters)
    filled: dict[str, Any] = fill(document.parameters, document.workflow, values)
    return filled


async def instantiate(
    session: AsyncSession,
    template: Template,
    parameters: dict[str, Any],
    registry: ActionRegistry,
    *,
    version: int | None,
    name: str | None,
    created_by: uuid.UUID | None,
) -> tuple[Workflow, WorkflowVersion, TemplateInstance]:
    row = await get_version(session, template, version)
    document = TemplateDocument.model_validate(row.document)
    values = resolve_values(document.parameters, parameters)
    filled = fill(document.parameters, document.workflow, values)
    if name is not None:
        filled["name"] = name
    spec = workflows.checked_spec(filled, registry)
    workflow, saved = await workflows.create_workflow(session, spec, filled, None, created_by)
    instance = TemplateInstance(
        workflow_id=workflow.id,
        template_id=template.id,
        template_version=row.version,
        parameters=values,
    )
    session.add(instance)
    await session.flush()
    return workflow, saved, instance


async def instance_of(session: AsyncSession, workflow: Workflow) -> TemplateInstance:
    row = (
        await session.execute(
            select(TemplateInstance).where(TemplateInstance.workflow_id == workflow.id)
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"Workflow {workflow.id} was not made from a template.")
    return row


async def upgrade_plan(
    session: AsyncSession,
    workflow: Workflow,
    to: int | None,
    parameters: dict[str, Any] | None,
) -> tuple[TemplateInstance, TemplateVersion, dict[str, Any], dict[str, Any]]:
    """The instance, the target version, the new spec and its diff from the current one."""
    instance = await instance_of(session, workflow)
    template = await get_template(session, instance.template_id)
    target = await get_version(session, template, to)
    if target.version == instance.template_version and parameters is None:
        raise BadRequest(
            f"The workflow already uses version {target.version} of the template.",
        )
    current = await workflows.get_version(session, workflow)
    values = {**instance.parameters, **(parameters or {})}
    new_spec = filled_workflow(target, values)
    new_spec["name"] = workflow.name  # an upgrade keeps the workflow's own name
    return instance, target, new_spec, workflow_diff(current.spec, new_spec)


async def upgrade(
    session: AsyncSession,
    workflow: Workflow,
    if_match: str,
    to: int | None,
    parameters: dict[str, Any] | None,
    registry: ActionRegistry,
    created_by: uuid.UUID | None,
) -> tuple[WorkflowVersion, TemplateInstance, dict[str, Any]]:
    """Save the workflow's next version from the newer template version (runs already
    started keep theirs: versions are immutable and runs are pinned to one)."""
    instance, target, new_spec, diff = await upgrade_plan(session, workflow, to, parameters)
    spec = workflows.checked_spec(new_spec, registry)
    saved = await workflows.update_workflow(
        session, workflow, if_match, spec, new_spec, None, created_by
    )
    instance.template_version = target.version
    instance.parameters = {**instance.parameters, **(parameters or {})}
    await session.flush()
    return saved, instance, diff
