"""The warm pool: pre-started zygotes, one pool per network mode, that run `code.python`.

A request takes an idle zygote (starting one if fewer than `code_workers` run), which forks a
fresh child for it, so an execution costs a fork, not an interpreter start, and no execution
sees another's state. A zygote that stops answering is killed and replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import struct
from dataclasses import dataclass
from typing import Any

from auterity.automatrix.sandbox.launcher import Launch, command
from auterity.core.logging import get_logger
from auterity.core.settings import Settings

HEADER = struct.Struct(">I")
START_TIMEOUT = 30.0
log = get_logger(__name__)


class SandboxFault(Exception):
    """The sandbox itself failed (not the user's code): the step fails as a server error."""


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int
    wall_seconds: float
    memory_bytes: int
    output_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            settings.code_cpu_seconds,
            settings.code_wall_seconds,
            settings.code_memory_mb * 2**20,
            settings.code_output_bytes,
        )


@dataclass
class CodeResult:
    ok: bool
    value: Any = None
    error: dict[str, Any] | None = None
    logs: str = ""
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0


class Zygote:
    def __init__(self, process: asyncio.subprocess.Process, launch: Launch) -> None:
        self.process, self.launch = process, launch

    @classmethod
    async def start(cls, launch: Launch) -> Zygote:
        process = await asyncio.create_subprocess_exec(
            *launch.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=launch.env,
            limit=2**20,
        )
        zygote = cls(process, launch)
        try:
            async with asyncio.timeout(START_TIMEOUT):
                ready = await zygote._receive()
        except (TimeoutError, SandboxFault) as exc:
            stderr = await zygote.kill()
            raise SandboxFault(f"the code sandbox did not start: {exc} {stderr}".strip()) from None
        if not ready.get("ready"):
            await zygote.kill()
            raise SandboxFault("the code sandbox did not start")
        return zygote

    async def call(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self.process.stdin is not None
        if self.process.returncode is not None:
            raise SandboxFault(f"the code sandbox's worker ended (exit {self.process.returncode})")
        body = json.dumps(request).encode()
        async with asyncio.timeout(timeout):
            try:
                self.process.stdin.write(HEADER.pack(len(body)) + body)
                await self.process.stdin.drain()
            except ConnectionError as exc:  # it died since its last answer
                raise SandboxFault(f"the code sandbox's worker ended ({exc!r})") from None
            return await self._receive()

    async def _receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        try:
            header = await self.process.stdout.readexactly(HEADER.size)
            (size,) = HEADER.unpack(header)
            answer: dict[str, Any] = json.loads(await self.process.stdout.readexactly(size))
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise SandboxFault(f"the code sandbox's worker ended ({exc})") from None
        return answer

    async def kill(self) -> str:
        """Stop the zygote; what it wrote to stderr (why it failed to start, if it did)."""
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        stderr = b""
        with contextlib.suppress(Exception):
            _, stderr = await asyncio.wait_for(self.process.communicate(), 5)
        if self.launch.scratch:
            shutil.rmtree(self.launch.scratch, ignore_errors=True)
        return stderr.decode(errors="replace")[-2000:]


class _Pool:
    """At most `size` executions at once; each takes an idle zygote or starts one."""

    def __init__(self, settings: Settings, network: bool, size: int) -> None:
        self.settings, self.network = settings, network
        self.slots = asyncio.Semaphore(size)
        self.idle: list[Zygote] = []
        self.all: set[Zygote] = set()

    async def acquire(self) -> Zygote:
        await self.slots.acquire()
        if self.idle:
            return self.idle.pop()
        try:
            zygote = await Zygote.start(command(self.settings, self.network))
        except BaseException:
            self.slots.release()
            raise
        self.all.add(zygote)
        return zygote

    def release(self, zygote: Zygote) -> None:
        self.idle.append(zygote)
        self.slots.release()

    async def discard(self, zygote: Zygote) -> None:
        self.all.discard(zygote)
        self.slots.release()
        await zygote.kill()

    async def close(self) -> None:
        for zygote in list(self.all):
            await zygote.kill()
        self.all.clear()
        self.idle.clear()


class CodeSandbox:
    """Runs untrusted Python in the warm pool; shared by every code step of the process."""

    def __init__(self, settings: Settings, limits: Limits | None = None) -> None:
        self.settings = settings
        self.limits = limits or Limits.from_settings(settings)
        self._pools: dict[bool, _Pool] = {}

    async def run(
        self,
        code: str,
        inputs: dict[str, Any],
        *,
        allowed_imports: list[str],
        network: bool,
        limits: Limits | None = None,
    ) -> CodeResult:
        limits = limits or self.limits
        pool = self._pools.get(network)
        if pool is None:
            pool = self._pools[network] = _Pool(self.settings, network, self.settings.code_workers)
        request = {
            "code": code,
            "inputs": inputs,
            "allowed_imports": allowed_imports,
            "limits": {
                "cpu_seconds": limits.cpu_seconds,
                "wall_seconds": limits.wall_seconds,
                "memory_bytes": limits.memory_bytes,
                "output_bytes": limits.output_bytes,
            },
        }
        zygote = await pool.acquire()
        try:
            # The zygote enforces the wall limit; this outer one catches a stuck zygote.
            answer = await zygote.call(request, limits.wall_seconds + 10)
        except BaseException as exc:  # cancelled or broken mid-call: its state is unknown
            await pool.discard(zygote)
            if isinstance(exc, TimeoutError):
                raise SandboxFault("the code sandbox's worker stopped answering") from None
            raise
        pool.release(zygote)
        result = CodeResult(
            ok=answer.get("status") == "ok",
            logs=str(answer.get("logs") or ""),
            cpu_seconds=float(answer.get("cpu_seconds", 0.0)),
            wall_seconds=float(answer.get("wall_seconds", 0.0)),
        )
        if result.ok:
            result.value = json.loads(answer["json"])
        else:
            result.error = dict(answer.get("error") or {})
        return result

    async def close(self) -> None:
        for pool in self._pools.values():
            await pool.close()
        self._pools.clear()
