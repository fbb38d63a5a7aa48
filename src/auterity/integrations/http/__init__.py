"""Outbound HTTP for integrations and workflow steps: the platform's SSRF-guarded client
factory (which lives in `core.outbound`, so identity uses the same one), widened per tenant
by the exceptions in its settings (`tenant_policies`).
"""

from auterity.core import outbound
from auterity.core.outbound import *  # noqa: F403
from auterity.integrations.http.tenants import tenant_policies

__all__ = ["tenant_policies"]
__all__ += outbound.__all__
