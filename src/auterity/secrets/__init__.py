"""Tenant secret store: encrypted local backend and a HashiCorp Vault backend."""
