"""Template routes: publish versions, roll back, diff, test, instantiate, upgrade instances."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from sqlalchemy import select

from auterity.automatrix import service as workflows
from auterity.automatrix.api import Reader, Writer, registry_of
from auterity.automatrix.documents import request_document
from auterity.automatrix.schemas import ValidationOut, WorkflowOut
from auterity.automatrix.templates import service
from auterity.automatrix.templates.checks import check_template, checked_template
from auterity.automatrix.templates.diff import template_diff
from auterity.automatrix.templates.document import TemplateDocument
from auterity.automatrix.templates.models import Template, TemplateVersion
from auterity.automatrix.templates.schemas import (
    InstanceOut,
    Instantiate,
    InstantiatedOut,
    Rollback,
    TemplateOut,
    TemplatePage,
    TemplateVersionOut,
    TestCaseOut,
    TestReport,
    UpgradePreview,
    UpgradeRequest,
)
from auterity.automatrix.templates.testing import run_tests
from auterity.core.errors import PreconditionRequired, ValidationFailed
from auterity.core.pagination import keyset_page
from auterity.identity.deps import TenantSession

templates = APIRouter(prefix="/api/templates", tags=["templates"])
instances = APIRouter(prefix="/api/workflows", tags=["templates"])

TEMPLATE_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {}, "application/yaml": {"schema": {"type": "string"}}},
    }
}
RequireTests = Annotated[
    bool, Query(description="Run the template's tests first and refuse to publish if one fails.")
]


def _out(template: Template, document: dict[str, Any] | None = None) -> TemplateOut:
    return TemplateOut(
        id=template.id,
        name=template.name,
        description=template.description,
        category=template.category,
        tags=list(template.tags or []),
        current_version=template.current_version,
        latest_version=template.latest_version,
        created_at=template.created_at,
        updated_at=template.updated_at,
        document=document,
    )


def _version_out(template: Template, row: TemplateVersion, full: bool) -> TemplateVersionOut:
    return TemplateVersionOut(
        version=row.version,
        current=row.version == template.current_version,
        tests_passed=row.tests_passed,
        created_at=row.created_at,
        created_by=row.created_by,
        document=row.document if full else None,
    )


async def _checked(request: Request) -> tuple[TemplateDocument, dict[str, Any], str | None]:
    raw, source = await request_document(request)
    return checked_template(raw, registry_of(request)), raw, source


async def _report(request: Request, document: TemplateDocument) -> TestReport:
    results = await run_tests(document, registry_of(request), request.app.state.runtime.settings)
    cases = [TestCaseOut(**result.as_dict()) for result in results]
    return TestReport(passed=all(case.passed for case in cases), cases=cases)


async def _gate(request: Request, document: TemplateDocument, require: bool) -> bool | None:
    """Run the tests when publishing requires them; a failing case refuses the publish."""
    if not require:
        return None
    report = await _report(request, document)
    failed = [case for case in report.cases if not case.passed]
    if failed:
        raise ValidationFailed(
            f"{len(failed)} template test(s) failed: "
            + "; ".join(f"{case.name}: {case.failures[0]}" for case in failed[:3]),
            extra={"tests": [case.model_dump() for case in report.cases]},
        )
    return True


@templates.post("/validate", response_model=ValidationOut, openapi_extra=TEMPLATE_BODY)
async def validate_template(request: Request, principal: Reader) -> ValidationOut:
    """Check a template document; answers every problem at once with pointers and hints."""
    raw, _ = await request_document(request)
    _, report = check_template(raw, registry_of(request))
    return ValidationOut(**report.as_dict())


@templates.post("", status_code=201, response_model=TemplateOut, openapi_extra=TEMPLATE_BODY)
async def create_template(
    request: Request,
    response: Response,
    principal: Writer,
    session: TenantSession,
    require_tests: RequireTests = False,
) -> TemplateOut:
    """Create a template (its version 1) from a JSON or YAML document."""
    document, raw, source = await _checked(request)
    passed = await _gate(request, document, require_tests)
    template, version = await service.create_template(
        session, document, raw, source, principal.user_id, passed
    )
    response.headers["Location"] = f"/api/templates/{template.id}"
    return _out(template, version.document)


@templates.get("", response_model=TemplatePage)
async def list_templates(
    principal: Reader,
    session: TenantSession,
    tag: str | None = None,
    category: str | None = None,
    q: Annotated[str | None, Query(description="Words in the name or description.")] = None,
    cursor: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TemplatePage:
    rows, next_cursor = await keyset_page(
        session, service.search(tag, category, q), Template.id, cursor, limit
    )
    return TemplatePage(items=[_out(row) for row in rows], next_cursor=next_cursor)


@templates.get("/{template_id}", response_model=TemplateOut)
async def get_template(
    template_id: uuid.UUID, principal: Reader, session: TenantSession
) -> TemplateOut:
    template = await service.get_template(session, template_id)
    version = await service.get_version(session, template)
    return _out(template, version.document)


@templates.get("/{template_id}/versions", response_model=list[TemplateVersionOut])
async def list_versions(
    template_id: uuid.UUID, principal: Reader, session: TenantSession
) -> list[TemplateVersionOut]:
    template = await service.get_template(session, template_id)
    rows = (
        await session.execute(
            select(TemplateVersion)
            .where(TemplateVersion.template_id == template.id)
            .order_by(TemplateVersion.version.desc())
        )
    ).scalars()
    return [_version_out(template, row, full=False) for row in rows]


@templates.get("/{template_id}/versions/{version}", response_model=TemplateVersionOut)
async def get_template_version(
    template_id: uuid.UUID, version: int, principal: Reader, session: TenantSession
) -> TemplateVersionOut:
    template = await service.get_template(session, template_id)
    return _version_out(template, await service.get_version(session, template, version), True)


@templates.post(
    "/{template_id}/versions",
    status_code=201,
    response_model=TemplateVersionOut,
    openapi_extra=TEMPLATE_BODY,
)
async def publish_version(
    template_id: uuid.UUID,
    request: Request,
    principal: Writer,
    session: TenantSession,
    require_tests: RequireTests = False,
) -> TemplateVersionOut:
    """Publish a new immutable version; it becomes the current one."""
    template = await service.get_template(session, template_id)
    document, raw, source = await _checked(request)
    passed = await _gate(request, document, require_tests)
    row = await service.publish(session, template, document, raw, source, principal.user_id, passed)
    return _version_out(template, row, full=True)


@templates.post("/{template_id}/rollback", response_model=TemplateOut)
async def rollback(
    template_id: uuid.UUID, body: Rollback, principal: Writer, session: TenantSession
) -> TemplateOut:
    """Make an earlier version current again. History is kept: no version changes."""
    template = await service.get_template(session, template_id)
    row = await service.rollback(session, template, body.version)
    return _out(template, row.document)


@templates.get("/{template_id}/diff")
async def diff(
    template_id: uuid.UUID,
    principal: Reader,
    session: TenantSession,
    from_: Annotated[int | None, Query(alias="from", ge=1)] = None,
    to: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    """What changed from one version to another: parameters, steps, outputs, metadata.
    By default, from the version before the current one to the current one."""
    template = await service.get_template(session, template_id)
    new = await service.get_version(session, template, to)
    old = await service.get_version(session, template, from_ or max(new.version - 1, 1))
    return {"from": old.version, "to": new.version, **template_diff(old.document, new.document)}


@templates.post("/{template_id}/versions/{version}/test", response_model=TestReport)
async def test_version(
    template_id: uuid.UUID,
    version: int,
    request: Request,
    principal: Writer,
    session: TenantSession,
) -> TestReport:
    """Run the version's test cases on the engine (in a scratch database) and report each."""
    template = await service.get_template(session, template_id)
    row = await service.get_version(session, template, version)
    return await _report(request, TemplateDocument.model_validate(row.document))


@templates.post("/{template_id}/instantiate", status_code=201, response_model=InstantiatedOut)
async def instantiate(
    template_id: uuid.UUID,
    body: Instantiate,
    request: Request,
    response: Response,
    principal: Writer,
    session: TenantSession,
) -> InstantiatedOut:
    """Make a workflow from the template with these parameter values."""
    template = await service.get_template(session, template_id)
    workflow, version, instance = await service.instantiate(
        session,
        template,
        body.parameters,
        registry_of(request),
        version=body.version,
        name=body.name,
        created_by=principal.user_id,
    )
    response.headers["Location"] = f"/api/workflows/{workflow.id}"
    response.headers["ETag"] = workflows.etag(workflow.current_version)
    return InstantiatedOut(
        **WorkflowOut.from_row(workflow, version.spec).model_dump(),
        template=InstanceOut.model_validate(instance, from_attributes=True),
    )


@instances.get("/{workflow_id}/template", response_model=InstanceOut)
async def workflow_template(
    workflow_id: uuid.UUID, principal: Reader, session: TenantSession
) -> InstanceOut:
    """Which template version (and parameter values) this workflow was made from."""
    workflow = await workflows.get_workflow(session, workflow_id)
    instance = await service.instance_of(session, workflow)
    return InstanceOut.model_validate(instance, from_attributes=True)


@instances.get("/{workflow_id}/template/upgrade", response_model=UpgradePreview)
async def preview_upgrade(
    workflow_id: uuid.UUID,
    principal: Reader,
    session: TenantSession,
    to: Annotated[int | None, Query(ge=1)] = None,
) -> UpgradePreview:
    """The diff an upgrade to a newer template version would make, without making it."""
    workflow = await workflows.get_workflow(session, workflow_id)
    instance, target, _, changes = await service.upgrade_plan(session, workflow, to, None)
    return UpgradePreview(
        from_version=instance.template_version, to_version=target.version, diff=changes
    )


@instances.post("/{workflow_id}/template/upgrade", response_model=UpgradePreview)
async def apply_upgrade(
    workflow_id: uuid.UUID,
    body: UpgradeRequest,
    request: Request,
    response: Response,
    principal: Writer,
    session: TenantSession,
    if_match: Annotated[str | None, Header()] = None,
) -> UpgradePreview:
    """Save the workflow's next version from the newer template version. Send `If-Match`
    with the workflow's ETag; runs already started keep the version they started with."""
    workflow = await workflows.get_workflow(session, workflow_id)
    if if_match is None:
        raise PreconditionRequired(
            "Send If-Match with the workflow's ETag "
            f"(now {workflows.etag(workflow.current_version)}); preview the change with GET first."
        )
    before = (await service.instance_of(session, workflow)).template_version
    saved, instance, changes = await service.upgrade(
        session,
        workflow,
        if_match,
        body.to,
        body.parameters,
        registry_of(request),
        principal.user_id,
    )
    response.headers["ETag"] = workflows.etag(saved.version)
    return UpgradePreview(from_version=before, to_version=instance.template_version, diff=changes)


routers = (templates, instances)
