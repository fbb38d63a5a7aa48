"""How a zygote is started: inside bubblewrap (namespaces) or as a plain limited process.

With bwrap the zygote sees only the Python installation, the virtualenv and the package
paths (read-only), a private /tmp, /dev and /proc, no network unless the tenant allows it,
no environment and an unprivileged user; the data directory, database file and secret key
are not mounted at all. Without bwrap it is a separate process with an empty environment,
rlimits and the zygote's audit hook, which is not a security boundary (see docs/CODE_STEPS.md).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from auterity.core.logging import get_logger
from auterity.core.settings import Settings

ZYGOTE = Path(__file__).with_name("zygote.py")
SANDBOX_ROOT = "/tmp"  # noqa: S108 - a private tmpfs inside bwrap
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp"}  # noqa: S108
log = get_logger(__name__)


class SandboxUnavailable(Exception):
    """The configured isolation cannot be provided on this machine."""


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: dict[str, str]
    isolation: str  # "bwrap" | "process"
    scratch: str | None = None  # a host directory to remove when the zygote ends


@lru_cache(maxsize=1)
def bwrap_works() -> bool:
    """Whether bubblewrap is installed and can create the namespaces here (containers may
    forbid them)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False
    probe = [bwrap, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=10).returncode == 0  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        return False


def isolation(settings: Settings) -> str:
    if settings.code_sandbox == "process":
        return "process"
    if bwrap_works():
        return "bwrap"
    if settings.code_sandbox == "bwrap":
        raise SandboxUnavailable(
            "code steps need bubblewrap (AUTERITY_CODE_SANDBOX=bwrap) but `bwrap` is missing "
            "or cannot create namespaces here; install the `bubblewrap` package"
        )
    return "process"


def hidden_paths(settings: Settings) -> list[str]:
    """Platform files code must never read: the data directory (secret key, local secret
    store, artifacts) and the SQLite database file."""
    paths = [settings.data_dir.resolve()]
    url = settings.resolved_database_url
    if url.startswith("sqlite") and ":///" in url:
        paths.append(Path(url.split(":///", 1)[1]).resolve())
    return [str(p) for p in paths]


def _mounts() -> list[Path]:
    """The read-only paths Python needs: its installation, the virtualenv, package paths."""
    wanted = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent}
    wanted |= {Path(p) for p in sys.path if p and Path(p).is_dir()}
    wanted.add(ZYGOTE.parent)
    resolved = sorted({p.resolve() for p in wanted if p.exists()}, key=lambda p: len(p.parts))
    roots: list[Path] = []
    for path in resolved:
        if path == Path("/") or any(path.is_relative_to(r) for r in roots):
            continue
        roots.append(path)
    return roots


def command(settings: Settings, network: bool) -> Launch:
    kind = isolation(settings)
    hidden = hidden_paths(settings)
    if kind == "process":
        scratch = tempfile.mkdtemp(prefix="auterity-code-")
        config = {"network": network, "hidden": hidden, "scratch": scratch}
        argv = [sys.executable, "-I", "-B", str(ZYGOTE), json.dumps(config)]
        return Launch(argv, {**ENV, "HOME": scratch}, kind, scratch)
    config = {"network": network, "hidden": hidden, "scratch": f"{SANDBOX_ROOT}/scratch"}
    bwrap = shutil.which("bwrap")
    assert bwrap is not None
    argv = [bwrap, "--ro-bind", "/usr", "/usr", "--ro-bind-try", "/etc", "/etc"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        path = Path(top)
        if path.is_symlink():
            argv += ["--symlink", str(path.readlink()), top]
        elif path.is_dir():
            argv += ["--ro-bind", top, top]
    # The private /tmp first: a Python or virtualenv that lives under /tmp (a CI clone) is
    # bound back on top of it below, instead of being hidden by it.
    argv += ["--tmpfs", SANDBOX_ROOT, "--dev", "/dev", "--proc", "/proc"]
    roots = _mounts()
    for root in roots:
        if not root.is_relative_to("/usr"):
            argv += ["--ro-bind", str(root), str(root)]
    for secret in hidden:  # in case a mounted root contains them
        place = Path(secret)
        if any(place.is_relative_to(r) for r in [*roots, Path("/usr"), Path("/etc")]):
            argv += ["--tmpfs", secret] if place.is_dir() else ["--ro-bind", "/dev/null", secret]
    argv += [
        "--unshare-all", *(["--share-net"] if network else []),
        "--uid", "65534", "--gid", "65534", "--cap-drop", "ALL",
        "--die-with-parent", "--new-session", "--clearenv", "--chdir", SANDBOX_ROOT,
    ]  # fmt: skip
    for name, value in ENV.items():
        argv += ["--setenv", name, value]
    argv += [sys.executable, "-I", "-B", str(ZYGOTE), json.dumps(config)]
    return Launch(argv, {}, kind)
