"""The sandbox's zygote: a warm interpreter that forks one fresh child per execution.

Started by `pool.py` inside bubblewrap (or as a plain process), with `python -I -B zygote.py
CONFIG`. Standard library only. Requests and answers are length-prefixed JSON on the pipes it
was started with; the child gets neither pipe, only its own result pipe, its limits, its
scratch directory, an import guard and an audit hook. A child that hangs, blows its memory or
crashes is killed and reported; the zygote and the next execution do not notice.
"""

from __future__ import annotations

import builtins
import gc
import importlib.util
import io
import json
import linecache
import os
import resource
import select
import shutil
import signal
import struct
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

HEADER = struct.Struct(">I")
# Warm imports the child would otherwise pay for on each execution.
import collections  # noqa: E402,F401
import datetime  # noqa: E402,F401
import decimal  # noqa: E402,F401
import functools  # noqa: E402,F401
import itertools  # noqa: E402,F401
import math  # noqa: E402,F401
import re  # noqa: E402,F401

_here = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("_auterity_usercode", _here / "usercode.py")
assert _spec is not None and _spec.loader is not None
usercode = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(usercode)

# Never importable from user code: process control, native code, limits and signals.
ALWAYS_BLOCKED = frozenset(
    {
        "_ctypes", "_posixsubprocess", "_multiprocessing", "_thread", "ctypes", "importlib",
        "multiprocessing", "posix", "pty", "resource", "signal", "subprocess", "sys",
    }
)  # fmt: skip
# Also blocked when the tenant's code may not use the network.
NETWORK_BLOCKED = frozenset({"_socket", "_ssl", "socket", "ssl"})
# Audit events refused outright (the hook fires inside C code too, whatever the import path).
DENIED_EVENTS = frozenset(
    {
        "ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata", "os.exec", "os.fork", "os.forkpty",
        "os.kill", "os.killpg", "os.posix_spawn", "os.spawn", "os.system", "pty.spawn",
        "resource.prlimit", "resource.setrlimit", "signal.pthread_kill", "subprocess.Popen",
        "sys.addaudithook", "_posixsubprocess.fork_exec",
    }
)  # fmt: skip
# Events whose first argument is a path the code changes: allowed in the scratch directory only.
WRITE_EVENTS = frozenset(
    {
        "os.chmod", "os.chown", "os.link", "os.mkdir", "os.remove", "os.rename", "os.rmdir",
        "os.symlink", "os.truncate", "os.utime", "shutil.rmtree", "shutil.move",
    }
)  # fmt: skip
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


class Refused(PermissionError):
    """What the code tried is not allowed in a code step."""


def read_message(fd: int) -> Any:
    header = _read_exactly(fd, HEADER.size)
    if header is None:
        return None
    (size,) = HEADER.unpack(header)
    body = _read_exactly(fd, size)
    return None if body is None else json.loads(body)


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = os.read(fd, size - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


def write_message(fd: int, message: Any) -> None:
    body = json.dumps(message).encode()
    data = HEADER.pack(len(body)) + body
    while data:
        data = data[os.write(fd, data) :]


# -- the child -------------------------------------------------------------------------------


class BoundedText(io.TextIOBase):
    """`print` output, kept up to `limit` characters; the rest is counted, not kept."""

    def __init__(self, limit: int) -> None:
        self.limit, self.size, self.dropped = limit, 0, 0
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        room = self.limit - self.size
        kept = text[: max(room, 0)]
        if kept:
            self.parts.append(kept)
            self.size += len(kept)
        self.dropped += len(text) - len(kept)
        return len(text)

    def writable(self) -> bool:
        return True

    def value(self) -> str:
        text = "".join(self.parts)
        if self.dropped:
            text += f"\n[output cut: {self.dropped} more characters over the {self.limit} limit]"
        return text


def _inside(path: str, roots: list[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def guard(request: dict[str, Any], config: dict[str, Any], scratch: str) -> None:
    """Imports, audit hook: what the user's code may reach besides the namespaces and limits."""
    network = bool(config["network"])
    blocked = ALWAYS_BLOCKED | (frozenset() if network else NETWORK_BLOCKED)
    allowed = set(request.get("allowed_imports") or ())
    hidden = [os.path.realpath(p) for p in config.get("hidden", [])]
    stdlib = sys.stdlib_module_names
    original_import = builtins.__import__

    def checked_import(
        name: str,
        globals: dict[str, Any] | None = None,
        locals: Any = None,
        fromlist: Any = (),
        level: int = 0,
    ) -> Any:
        # Only imports written in the user's code are checked; a permitted module's own
        # imports are its business (what they could do is held by the audit hook and bwrap).
        if level == 0 and (globals is None or globals.get("__name__") == "__code__"):
            top = name.partition(".")[0]
            if top in blocked:
                raise ImportError(f"import of {top!r} is not allowed in code steps")
            if top not in stdlib and top not in allowed:
                listed = ", ".join(sorted(allowed)) or "none"
                raise ImportError(
                    f"import of {top!r} is not allowed: it is not on this tenant's list of "
                    f"allowed packages ({listed}); an admin adds it with PATCH /api/tenant/settings"
                )
        return original_import(name, globals, locals, fromlist, level)

    builtins.__import__ = checked_import  # type: ignore[assignment]
    for name in list(sys.modules):
        if name.partition(".")[0] in blocked - {"sys", "posix", "importlib", "_thread"}:
            del sys.modules[name]

    def audit(event: str, args: tuple[Any, ...]) -> None:
        if event in DENIED_EVENTS or event.startswith("ctypes."):
            raise Refused(f"{event} is not allowed in code steps")
        if event == "socket.__new__" and not network:
            raise Refused("network access is not allowed for this tenant's code steps")
        if event == "open":
            path, mode, flags = args
            if isinstance(path, int) or path is None:
                return
            real = os.path.realpath(os.fsdecode(path))
            if _inside(real, hidden) or _inside(real, ["/proc"]):
                raise Refused(f"reading {os.fsdecode(path)!r} is not allowed in code steps")
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & WRITE_FLAGS
            )
            if writing and not _inside(real, [scratch]):
                raise Refused(f"code steps may write only in their scratch directory ({scratch})")
        elif event in WRITE_EVENTS and args:
            target = args[0]
            if isinstance(target, str | bytes | os.PathLike):
                real = os.path.realpath(os.fsdecode(target))
                if not _inside(real, [scratch]):
                    raise Refused(f"{event} outside the scratch directory is not allowed")

    sys.addaudithook(audit)


def limit(request: dict[str, Any]) -> None:
    limits = request["limits"]
    cpu = int(limits["cpu_seconds"])
    memory = int(limits["memory_bytes"])
    # Hard = soft (+1 s for CPU: SIGXCPU first, SIGKILL if the code survives it).
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (memory, memory))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def user_traceback(error: BaseException, code: str) -> tuple[str, int | None]:
    """The traceback cut to the user's frames, with their line numbers; the last such line."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == "<code>"]
    lines = ["Traceback (most recent call last):"]
    for frame in frames:
        lines.append(f"  line {frame.lineno}, in {frame.name}")
        if frame.line:
            lines.append(f"    {frame.line.strip()}")
    lines.extend(line.rstrip("\n") for line in traceback.format_exception_only(type(error), error))
    return "\n".join(lines), (frames[-1].lineno if frames else None)


def execute(request: dict[str, Any], config: dict[str, Any], scratch: str) -> dict[str, Any]:
    output_limit = int(request["limits"]["output_bytes"])
    captured = BoundedText(output_limit)
    code = request["code"]
    inputs = request.get("inputs") or {}
    linecache.cache["<code>"] = (len(code), None, code.splitlines(True), "<code>")
    os.chdir(scratch)
    sys.stdout = sys.stderr = captured
    try:
        compiled, body = usercode.compile_code(code, inputs)
    except SyntaxError as error:
        return {
            "status": "error",
            "error": {
                "kind": "client_error",
                "message": f"syntax error at line {error.lineno}, column {error.offset}: "
                f"{error.msg}",
                "line": error.lineno,
                "column": error.offset,
            },
        }
    namespace: dict[str, Any] = {"__name__": "__code__", "__builtins__": builtins}
    try:
        limit(request)
        guard(request, config, scratch)
        exec(compiled, namespace)  # noqa: S102 - the user's code, inside the sandbox
        main = namespace["main"]
        if body:
            names = usercode.parameter_names(inputs)
            value = main(inputs, **{name: inputs[name] for name in names})
        else:
            value = main(**inputs)
        if hasattr(value, "__await__"):
            import asyncio

            value = asyncio.run(value)
    except MemoryError:
        return _memory_error(request, captured)
    except BaseException as error:  # the user's exception, SystemExit included, is the result
        text, line = user_traceback(error, code)
        return {
            "status": "error",
            "error": {
                "kind": "action_error",
                "message": "".join(traceback.format_exception_only(type(error), error)).strip()
                + (f" (line {line})" if line else ""),
                "traceback": text,
                "line": line,
            },
            "logs": captured.value(),
        }
    try:
        encoded = json.dumps(value, allow_nan=False)
    except MemoryError:
        return _memory_error(request, captured)
    except (TypeError, ValueError) as error:
        return {
            "status": "error",
            "error": {
                "kind": "client_error",
                "message": f"the return value is not JSON-serialisable: {error}",
                "type": type(value).__name__,
            },
            "logs": captured.value(),
        }
    if len(encoded) > output_limit:
        return {
            "status": "error",
            "error": {
                "kind": "client_error",
                "message": f"the return value is {len(encoded)} bytes as JSON, over the "
                f"{output_limit}-byte limit of code steps",
                "size": len(encoded),
            },
            "logs": captured.value(),
        }
    return {"status": "ok", "json": encoded, "logs": captured.value()}


def _memory_error(request: dict[str, Any], captured: BoundedText) -> dict[str, Any]:
    megabytes = int(request["limits"]["memory_bytes"]) // 2**20
    return {
        "status": "error",
        "error": {
            "kind": "action_error",
            "message": f"memory limit exceeded: the code used more than {megabytes} MiB",
            "limit": "memory",
        },
        "logs": captured.value(),
    }


def child(config: dict[str, Any], scratch: str, channels: tuple[int, int], result_fd: int) -> None:
    """A pre-forked child: waits for one request, reads it itself (saving a hop), lets go of
    the zygote's pipes, tells the zygote it started (its clock starts), runs, answers."""
    requests, answers = channels
    os.close(answers)
    request = read_message(requests)
    os.close(requests)
    if request is None:
        os._exit(EXIT_NO_REQUEST)
    write_message(result_fd, {"started": True, "limits": request["limits"]})
    try:
        answer = execute(request, config, scratch)
    except MemoryError:
        answer = _memory_error(request, BoundedText(0))
    try:
        write_message(result_fd, answer)
    except MemoryError:
        write_message(result_fd, _memory_error(request, BoundedText(0)))


# -- the zygote ------------------------------------------------------------------------------

EXIT_NO_REQUEST = 3


def prefork(config: dict[str, Any], channels: tuple[int, int]) -> tuple[int, int, str]:
    """(pid, result pipe, scratch directory) of a child waiting for the next request."""
    scratch = tempfile.mkdtemp(prefix="step-", dir=config["scratch"])
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_fd)
            child(config, scratch, channels, write_fd)
        finally:
            os._exit(0)
    os.close(write_fd)
    return pid, read_fd, scratch


def supervise(pid: int, read_fd: int, scratch: str) -> dict[str, Any] | bool:
    """The answer of the child's execution; False when the server closed the request pipe,
    True when the child died before taking a request (nothing to answer: fork another).
    Limits are enforced from the moment the child says it has a request."""
    try:
        started = read_message(read_fd)
        if started is None:
            _, status, _ = os.wait4(pid, 0)
            return not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == EXIT_NO_REQUEST)
        return collect(pid, read_fd, started["limits"])
    finally:
        os.close(read_fd)
        shutil.rmtree(scratch, ignore_errors=True)


def collect(pid: int, read_fd: int, limits: dict[str, Any]) -> dict[str, Any]:
    wall = float(limits["wall_seconds"])
    most = int(limits["output_bytes"]) * 3 + 65536  # JSON escaping of result and logs
    started = time.monotonic()
    received = bytearray()
    killed_for: str | None = None
    try:
        while True:
            remaining = wall - (time.monotonic() - started)
            if remaining <= 0:
                killed_for = "wall"
                break
            ready, _, _ = select.select([read_fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(read_fd, 65536)
            if not chunk:
                break
            received += chunk
            if len(received) > most:
                killed_for = "output"
                break
    finally:
        if killed_for:
            os.kill(pid, signal.SIGKILL)
        _, status, usage = os.wait4(pid, 0)
    elapsed = time.monotonic() - started
    stats = {"cpu_seconds": usage.ru_utime + usage.ru_stime, "wall_seconds": elapsed}
    killed = {
        "wall": (
            "timeout",
            f"time limit exceeded: the code ran longer than {wall:g} s (wall time)",
            "wall_time",
        ),
        "output": (
            "client_error",
            f"output limit exceeded: the code produced more than {most} bytes",
            "output",
        ),
    }
    if killed_for in killed:
        kind, message, which = killed[killed_for]
        error = {"kind": kind, "message": message, "limit": which}
        return {"status": "error", "error": error, **stats}
    if os.WIFSIGNALED(status) or len(received) < HEADER.size:
        return {"status": "error", "error": _death(status, limits), **stats}
    (size,) = HEADER.unpack(received[: HEADER.size])
    answer: dict[str, Any] = json.loads(received[HEADER.size : HEADER.size + size])
    answer.update(stats)
    return answer


def _death(status: int, limits: dict[str, Any]) -> dict[str, Any]:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        if number in (signal.SIGXCPU, signal.SIGKILL):
            return {
                "kind": "timeout",
                "message": "time limit exceeded: the code used more than "
                f"{limits['cpu_seconds']} s of CPU time",
                "limit": "cpu_time",
            }
        name = signal.Signals(number).name
        return {
            "kind": "action_error",
            "message": f"the code's process died ({name}); a native extension may have "
            "crashed or run out of memory",
        }
    return {"kind": "action_error", "message": "the code's process ended without a result"}


def _not_dumpable() -> None:
    """Children run as the zygote's user: without this they could read its memory (recent
    answers of other executions) through /proc/PID/mem. Inherited by every child."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0


def main() -> None:
    config = json.loads(sys.argv[1])
    os.makedirs(config["scratch"], exist_ok=True)
    # The protocol moves off 0 and 1, which point at /dev/null, so stray writes of a
    # child to file descriptors 1 or 2 cannot corrupt it.
    channels = (os.dup(0), os.dup(1))
    answers = channels[1]
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    _not_dumpable()
    write_message(answers, {"ready": True, "pid": os.getpid()})
    # Everything imported so far is shared with the children copy-on-write: keep the
    # collector from touching (and so copying) those pages in each child.
    gc.freeze()
    while True:
        # The next child is forked before its request comes, so a request costs no fork.
        # The zygote never reads requests itself: the waiting child does.
        pid, read_fd, scratch = prefork(config, channels)
        try:
            answer = supervise(pid, read_fd, scratch)
        except Exception as error:  # the zygote survives its own faults; the step fails
            answer = {
                "status": "error",
                "error": {"kind": "server_error", "message": f"sandbox fault: {error!r}"},
            }
        if answer is False:
            return
        if answer is not True:
            write_message(answers, answer)


if __name__ == "__main__":
    main()
