"""The sandbox of `code.python` steps: a warm pool of zygotes inside bubblewrap."""

from auterity.automatrix.sandbox.launcher import SandboxUnavailable, isolation
from auterity.automatrix.sandbox.pool import CodeResult, CodeSandbox, Limits, SandboxFault

__all__ = ["CodeResult", "CodeSandbox", "Limits", "SandboxFault", "SandboxUnavailable", "isolation"]
