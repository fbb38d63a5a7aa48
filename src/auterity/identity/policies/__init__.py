"""Zero-trust access policies: per-tenant rules that allow, deny or ask for MFA step-up.

Policies are data (`access_policies`), managed under `/api/auth/policies` and enforced on
every authenticated request by the principal dependency (`enforcement.PolicyEnforcer`).
"""
