"""The sandbox pool against real zygotes: results, logs, errors and every bad input, run
in bubblewrap and as a plain process (the fallback), each followed by a run that still works."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from auterity.automatrix.sandbox import CodeResult, CodeSandbox, Limits, SandboxFault
from auterity.automatrix.sandbox.launcher import bwrap_works
from auterity.core.settings import Settings
from tests.conftest import make_settings

LIMITS = Limits(cpu_seconds=1, wall_seconds=20, memory_bytes=256 * 2**20, output_bytes=64_000)


@pytest.fixture(params=["bwrap", "process"])
def sandbox_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "bwrap" and not bwrap_works():
        pytest.skip("bubblewrap is not installed (make test installs it)")
    settings = make_settings(tmp_path, code_sandbox=request.param, code_workers=2)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "secret_key").write_text("the-platform-secret-key")
    return settings


@pytest.fixture
async def sandbox(sandbox_settings: Settings) -> AsyncIterator[CodeSandbox]:
    box = CodeSandbox(sandbox_settings, LIMITS)
    try:
        yield box
    finally:
        await box.close()
        # Every bad input is followed by a run in the same pool that must still work.


async def run(
    box: CodeSandbox,
    code: str,
    network: bool = False,
    allowed: list[str] | None = None,
    **inputs: object,
) -> CodeResult:
    result = await box.run(code, dict(inputs), allowed_imports=allowed or [], network=network)
    after = await box.run("return 'still fine'", {}, allowed_imports=[], network=network)
    assert after.ok and after.value == "still fine", after
    return result


async def test_a_function_body_gets_its_inputs_and_returns_json(sandbox: CodeSandbox) -> None:
    result = await run(sandbox, "print('adding', a)\nreturn {'sum': a + inputs['b']}", a=2, b=3)
    assert result.ok and result.value == {"sum": 5}
    assert result.logs == "adding 2\n"


async def test_a_module_with_main_is_called_with_the_inputs(sandbox: CodeSandbox) -> None:
    code = (
        "import math\n\ndef helper(x):\n    return math.sqrt(x)\n\n"
        "def main(x):\n    return helper(x)\n"
    )
    result = await run(sandbox, code, x=16)
    assert result.ok and result.value == 4.0


async def test_an_exception_gives_the_users_traceback_with_their_line_numbers(
    sandbox: CodeSandbox,
) -> None:
    code = (
        "def main(n):\n    print('before')\n    return inner(n)\n\n"
        "def inner(n):\n    return 10 / n\n"
    )
    result = await run(sandbox, code, n=0)
    assert not result.ok and result.error is not None
    assert result.error["message"] == "ZeroDivisionError: division by zero (line 6)"
    assert result.error["traceback"].splitlines() == [
        "Traceback (most recent call last):",
        "  line 3, in main",
        "    return inner(n)",
        "  line 6, in inner",
        "    return 10 / n",
        "ZeroDivisionError: division by zero",
    ]
    assert result.logs == "before\n"


async def test_an_infinite_loop_is_killed_at_the_cpu_limit(sandbox: CodeSandbox) -> None:
    result = await run(sandbox, "while True:\n    pass")
    assert not result.ok and result.error is not None
    assert result.error["kind"] == "timeout"
    assert result.error["message"] == (
        "time limit exceeded: the code used more than 1 s of CPU time"
    )


async def test_a_sleeping_step_is_killed_at_the_wall_time_limit(sandbox: CodeSandbox) -> None:
    limits = Limits(
        cpu_seconds=5, wall_seconds=0.5, memory_bytes=LIMITS.memory_bytes, output_bytes=1000
    )
    result = await sandbox.run(
        "import time\ntime.sleep(30)", {}, allowed_imports=[], network=False, limits=limits
    )
    assert not result.ok and result.error is not None
    assert result.error["kind"] == "timeout"
    assert "longer than 0.5 s (wall time)" in result.error["message"]


async def test_a_memory_bomb_is_stopped_at_the_memory_limit(sandbox: CodeSandbox) -> None:
    result = await run(sandbox, "blocks = []\nwhile True:\n    blocks.append(bytearray(10**7))")
    assert not result.ok and result.error is not None
    assert result.error["message"] == "memory limit exceeded: the code used more than 256 MiB"


async def test_a_huge_return_value_is_refused_with_its_size(sandbox: CodeSandbox) -> None:
    result = await run(sandbox, "return 'x' * 100000")
    assert not result.ok and result.error is not None
    assert result.error["message"] == (
        "the return value is 100002 bytes as JSON, over the 64000-byte limit of code steps"
    )


async def test_huge_print_output_is_cut_at_the_limit(sandbox: CodeSandbox) -> None:
    result = await run(sandbox, "for _ in range(10000):\n    print('y' * 100)\nreturn 1")
    assert result.ok
    assert len(result.logs) < 64_200
    assert result.logs.endswith("more characters over the 64000 limit]")


async def test_a_non_json_return_value_names_its_type(sandbox: CodeSandbox) -> None:
    result = await run(sandbox, "return {'when': object()}")
    assert not result.ok and result.error is not None
    assert result.error["message"] == (
        "the return value is not JSON-serialisable: Object of type object is not JSON serializable"
    )
    nan = await run(sandbox, "return float('nan')")
    assert nan.error is not None and "not JSON-serialisable" in nan.error["message"]


async def test_platform_files_are_not_readable(
    sandbox: CodeSandbox, sandbox_settings: Settings
) -> None:
    for path in (
        sandbox_settings.data_dir / "secret_key",
        sandbox_settings.resolved_database_url.split(":///")[1],
    ):
        result = await run(sandbox, "return open(path).read()", path=str(path))
        assert not result.ok and result.error is not None, path
        assert result.error["message"].startswith(("FileNotFoundError", "Refused: reading")), (
            result.error
        )


async def test_the_environment_holds_no_settings_or_secrets(
    sandbox: CodeSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTERITY_SECRET_KEY", "do-not-leak")
    await sandbox.close()  # zygotes start again, from this environment
    result = await run(sandbox, "import os\nreturn dict(os.environ)")
    assert result.ok
    assert "do-not-leak" not in str(result.value)
    assert not [name for name in result.value if name.startswith("AUTERITY")]
    proc = await run(sandbox, "return open('/proc/1/environ').read()")
    assert not proc.ok


async def test_sockets_are_denied_without_the_network_policy(sandbox: CodeSandbox) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        direct = await run(sandbox, "import socket")
        assert direct.error is not None
        assert direct.error["message"] == (
            "ImportError: import of 'socket' is not allowed in code steps (line 1)"
        )
        code = "import urllib.request\nreturn urllib.request.urlopen(url, timeout=2).status"
        through = await run(sandbox, code, url=f"http://127.0.0.1:{port}/")
        assert not through.ok and through.error is not None
        assert "network" in through.error["message"] or "refused" in through.error["message"]
    finally:
        listener.close()


async def test_sockets_work_when_the_tenant_allows_the_network(
    sandbox: CodeSandbox, sandbox_settings: Settings
) -> None:
    result = await run(
        sandbox,
        "import socket\ns = socket.socket()\ns.close()\nreturn 'opened'",
        network=True,
    )
    assert result.ok and result.value == "opened"


async def test_imports_off_the_tenant_list_fail_clearly(sandbox: CodeSandbox) -> None:
    refused = await run(sandbox, "import yaml\nreturn 1")
    assert refused.error is not None
    assert refused.error["message"].startswith(
        "ImportError: import of 'yaml' is not allowed: it is not on this tenant's list of "
        "allowed packages (none)"
    )
    allowed = await run(sandbox, "import yaml\nreturn yaml.safe_load('a: 1')", allowed=["yaml"])
    assert allowed.ok and allowed.value == {"a": 1}
    assert (await run(sandbox, "import subprocess", allowed=["subprocess"])).error is not None


async def test_process_control_and_writes_outside_scratch_are_denied(sandbox: CodeSandbox) -> None:
    system = await run(sandbox, "import os\nos.system('true')")
    assert system.error is not None
    assert system.error["message"] == "Refused: os.system is not allowed in code steps (line 2)"
    fork = await run(sandbox, "import os\nos.fork()")
    assert fork.error is not None and "os.fork is not allowed" in fork.error["message"]
    scratch = await run(
        sandbox, "open('notes.txt', 'w').write('kept')\nreturn open('notes.txt').read()"
    )
    assert scratch.ok and scratch.value == "kept"
    outside = await run(sandbox, "open('/usr/evil', 'w')")
    assert not outside.ok


async def test_one_execution_cannot_leave_state_for_the_next(sandbox: CodeSandbox) -> None:
    await run(sandbox, "import json\njson.dumps = None\nopen('left.txt', 'w').write('x')")
    result = await run(sandbox, "import json, os\nreturn [json.dumps(1), os.listdir('.')]")
    assert result.value == ["1", []]


async def test_requests_beyond_the_pool_size_queue_and_a_dead_worker_is_replaced(
    sandbox_settings: Settings,
) -> None:
    box = CodeSandbox(sandbox_settings.model_copy(update={"code_workers": 1}), LIMITS)
    try:
        results = await asyncio.gather(
            *(
                box.run("return n * n", {"n": n}, allowed_imports=[], network=False)
                for n in range(5)
            )
        )
        assert [r.value for r in results] == [0, 1, 4, 9, 16]
        [zygote] = box._pools[False].all
        await zygote.kill()  # as if it died while idle (kill waits until it has)
        with pytest.raises(SandboxFault, match="worker ended"):
            await box.run("return 1", {}, allowed_imports=[], network=False)
        again = await box.run("return 2", {}, allowed_imports=[], network=False)
        assert again.ok and again.value == 2
    finally:
        await box.close()


async def test_the_zygotes_memory_and_native_code_are_out_of_reach(sandbox: CodeSandbox) -> None:
    parent = await run(sandbox, "import os\nreturn open(f'/proc/{os.getppid()}/mem', 'rb').read(1)")
    assert not parent.ok
    # The zygote loaded ctypes (for prctl), so its classes are reachable; using them is not.
    dlopen = await run(
        sandbox,
        "stack, found = [object], None\n"
        "while stack and found is None:\n"
        "    cls = stack.pop()\n"
        "    if cls.__name__ == 'CDLL':\n"
        "        found = cls\n"
        "    stack.extend(type.__subclasses__(cls) if cls is not type else [])\n"
        "assert found is not None\n"
        "found(None).system(b'true')\n",
    )
    assert dlopen.error is not None
    assert "ctypes.dlopen is not allowed in code steps" in dlopen.error["message"]
