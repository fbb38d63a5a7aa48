"""SAML 2.0 single sign-on: Auterity as a service provider for each tenant's identity providers."""
