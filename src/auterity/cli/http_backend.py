"""Workflow commands against a server (`--server`): its HTTP API, and its run events (SSE).

Problem responses come back as the same error classes the local backend raises, so the
commands print and exit the same way whichever backend they use.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx

from auterity import __version__
from auterity.automatrix.models import FINISHED_RUN
from auterity.automatrix.schemas import RunOut, RunRetry, WorkflowOut
from auterity.core.errors import (
    AuterityError,
    BadRequest,
    Conflict,
    FieldError,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    RateLimited,
    ServiceUnavailable,
    Unauthenticated,
    ValidationFailed,
)

_ERRORS: dict[int, type[AuterityError]] = {
    400: BadRequest,
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    415: BadRequest,
    422: ValidationFailed,
    429: RateLimited,
}
# A dropped event stream is picked up again from the last event seen, this many times.
RECONNECTS = 5
PAGE = 200


async def raise_for_problem(response: httpx.Response) -> None:
    if response.is_success:
        return
    await response.aread()
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    errors = [
        FieldError(str(e.get("pointer", "")), str(e.get("message", "")), e.get("hint"))
        for e in problem.get("errors") or []
        if isinstance(e, dict)
    ]
    cls = _ERRORS.get(response.status_code, ServiceUnavailable)
    detail = problem.get("detail") or f"{response.status_code} {response.reason_phrase}"
    raise cls(f"{detail} ({response.request.method} {response.request.url.path})", errors=errors)


class HttpBackend:
    def __init__(self, server: str, token: str) -> None:
        self.server = server.rstrip("/")
        self.http = httpx.AsyncClient(
            base_url=self.server,
            headers={
                "Authorization": f"Bearer {token}",
                "User-Agent": f"auterity-cli/{__version__}",
            },
            timeout=httpx.Timeout(30.0, connect=5.0),
        )
        self._names: dict[uuid.UUID, str] = {}

    async def close(self) -> None:
        await self.http.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ServiceUnavailable(f"Cannot reach {self.server}: {exc}") from None
        await raise_for_problem(response)
        return response

    async def save_workflow(self, document: Any, source: str | None) -> tuple[WorkflowOut, bool]:
        body: dict[str, Any] = (
            {"content": source, "headers": {"content-type": "application/yaml"}}
            if source is not None
            else {"json": document}
        )
        try:
            created = await self._request("POST", "/api/workflows", **body)
            return WorkflowOut.model_validate(created.json()), True
        except Conflict:
            pass  # it exists: a new version, unless the document is the current one
        existing = await self._find_workflow(str(document.get("name")))
        current = await self._request("GET", f"/api/workflows/{existing}")
        if current.json().get("spec") == document:
            return WorkflowOut.model_validate(current.json()), False
        updated = await self._request(
            "PUT",
            f"/api/workflows/{existing}",
            **{**body, "headers": {**body.get("headers", {}), "If-Match": current.headers["etag"]}},
        )
        return WorkflowOut.model_validate(updated.json()), True

    async def deploy_module(self, name: str, source: str) -> str:
        response = await self._request(
            "POST", "/api/python-modules", json={"name": name, "source": source}
        )
        return str(response.json()["ref"])

    async def _find_workflow(self, name: str) -> str:
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": PAGE, **({"cursor": cursor} if cursor else {})}
            page = (await self._request("GET", "/api/workflows", params=params)).json()
            for item in page["items"]:
                if item["name"] == name:
                    return str(item["id"])
            cursor = page.get("next_cursor")
            if not cursor:
                raise NotFound(f"The server has no workflow named {name!r}.")

    async def start_run(self, workflow_id: uuid.UUID, inputs: dict[str, Any]) -> RunOut:
        response = await self._request(
            "POST", f"/api/workflows/{workflow_id}/runs", json={"inputs": inputs}
        )
        return RunOut.model_validate(response.json())

    async def retry_run(self, run_id: uuid.UUID, body: RunRetry) -> RunOut:
        response = await self._request(
            "POST",
            f"/api/runs/{run_id}/retry",
            json=body.model_dump(by_alias=True, exclude_unset=True),
        )
        return RunOut.model_validate(response.json())

    async def get_run(self, run_id: uuid.UUID) -> RunOut:
        return RunOut.model_validate((await self._request("GET", f"/api/runs/{run_id}")).json())

    async def list_runs(
        self, *, status: str | None, workflow_id: uuid.UUID | None, limit: int
    ) -> list[RunOut]:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        if workflow_id:
            params["workflow_id"] = str(workflow_id)
        page = (await self._request("GET", "/api/runs", params=params)).json()
        return [RunOut.model_validate(item) for item in page["items"]]

    async def workflow_name(self, workflow_id: uuid.UUID) -> str:
        if workflow_id not in self._names:
            body = (await self._request("GET", f"/api/workflows/{workflow_id}")).json()
            self._names[workflow_id] = str(body["name"])
        return self._names[workflow_id]

    async def cancel_run(self, run_id: uuid.UUID) -> RunOut:
        run = RunOut.model_validate(
            (await self._request("POST", f"/api/runs/{run_id}/cancel")).json()
        )
        async for snapshot in self.follow(run_id):
            run = snapshot
        return run

    async def follow(self, run_id: uuid.UUID) -> AsyncIterator[RunOut]:
        snapshot = await self.get_run(run_id)
        yield snapshot
        seen, dropped = 0, 0
        while snapshot.status not in FINISHED_RUN:
            try:
                async for seq in self._event_stream(run_id, seen):
                    seen, dropped = seq, 0
                    snapshot = await self.get_run(run_id)
                    yield snapshot
                    if snapshot.status in FINISHED_RUN:
                        return
                # The server ends the stream once the run has ended.
                snapshot = await self.get_run(run_id)
                yield snapshot
            except (httpx.TransportError, ServiceUnavailable) as exc:
                dropped += 1
                if dropped > RECONNECTS:
                    raise ServiceUnavailable(
                        f"Lost the event stream of run {run_id} from {self.server}: {exc}"
                    ) from None
                await asyncio.sleep(min(0.5 * 2**dropped, 5.0))

    async def _event_stream(self, run_id: uuid.UUID, after: int) -> AsyncIterator[int]:
        """The sequence numbers of the run's events after `after`, as they happen."""
        async with self.http.stream(
            "GET",
            f"/api/runs/{run_id}/events",
            headers={"Last-Event-ID": str(after), "Accept": "text/event-stream"},
            timeout=httpx.Timeout(30.0, connect=5.0, read=60.0),
        ) as response:
            await raise_for_problem(response)
            fields: dict[str, str] = {}
            async for line in response.aiter_lines():
                if line:
                    if not line.startswith(":"):  # comments are keep-alives
                        name, _, value = line.partition(":")
                        fields[name] = value.removeprefix(" ")
                    continue
                if "data" in fields:
                    yield int(fields.get("id") or json.loads(fields["data"])["seq"])
                fields = {}
