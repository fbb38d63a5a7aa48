"""Auterity: workflows (AutoMatrix), an AI gateway (RelayCore), model management (NeuroWeaver)."""

__version__ = "0.1.0"

__all__ = ["__version__"]
