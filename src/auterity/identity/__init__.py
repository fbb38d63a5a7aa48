"""Identity: tenants, users, roles, tokens, API keys, MFA, SSO, RBAC and the audit log."""
