"""Single sign-on: tenants log their people in through their own identity provider (OIDC).

`models` holds the tables, `discovery` the provider metadata and keys, `oidc` the protocol,
`provisioning` who the person becomes here, `service` the login flow, `api` the routes.
"""
