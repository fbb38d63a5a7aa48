from __future__ import annotations

import subprocess
import sys

RUNTIMES = ("llama_cpp", "torch", "sentence_transformers", "transformers")


def test_the_app_and_the_local_package_import_no_model_runtime() -> None:
    # Start-up must stay fast: the runtimes (seconds to import) load on the first request.
    code = (
        "import sys, auterity.api, auterity.relaycore.local as local\n"
        "local.get_chat_model(); local.get_embedding_model()\n"
        f"print(sorted(name for name in {RUNTIMES!r} if name in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
