"""Permissions and the built-in roles; a custom role is a named set of these strings."""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    WORKFLOW_READ = "workflow:read"
    WORKFLOW_WRITE = "workflow:write"
    WORKFLOW_RUN = "workflow:run"
    RELAY_USE = "relay:use"
    RELAY_ADMIN = "relay:admin"
    MODEL_READ = "model:read"
    MODEL_TRAIN = "model:train"
    MODEL_DEPLOY = "model:deploy"
    SECRET_READ = "secret:read"  # noqa: S105 - a permission name
    SECRET_WRITE = "secret:write"  # noqa: S105
    AUDIT_READ = "audit:read"
    EVENT_READ = "event:read"  # platform events, their deliveries and dead letters
    EVENT_REPLAY = "event:replay"  # re-queue dead deliveries
    MEMBER_READ = "member:read"
    MEMBER_ADMIN = "member:admin"
    APIKEY_ADMIN = "apikey:admin"
    POLICY_ADMIN = "policy:admin"
    BILLING_READ = "billing:read"
    TENANT_ADMIN = "tenant:admin"


ALL_PERMISSIONS: frozenset[str] = frozenset(p.value for p in Permission)

_READ = {
    Permission.WORKFLOW_READ,
    Permission.MODEL_READ,
    Permission.MEMBER_READ,
}
_EDIT = _READ | {
    Permission.WORKFLOW_WRITE,
    Permission.WORKFLOW_RUN,
    Permission.RELAY_USE,
    Permission.MODEL_TRAIN,
    Permission.SECRET_READ,
    Permission.EVENT_READ,
}

BUILTIN_ROLES: dict[str, frozenset[str]] = {
    "owner": ALL_PERMISSIONS,
    "admin": ALL_PERMISSIONS - {Permission.TENANT_ADMIN},
    "editor": frozenset(p.value for p in _EDIT),
    "viewer": frozenset(p.value for p in _READ),
    "billing": frozenset({Permission.BILLING_READ.value, Permission.MEMBER_READ.value}),
}

# Who may hand out a role: nobody grants more than they hold, and only owners make owners.
ROLE_RANK = {"viewer": 1, "billing": 1, "editor": 2, "admin": 3, "owner": 4}


def unknown_permissions(permissions: set[str] | frozenset[str]) -> list[str]:
    return sorted(set(permissions) - ALL_PERMISSIONS)
