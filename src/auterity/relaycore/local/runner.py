"""llama.cpp under the local chat model: load the GGUF, format the prompt, decode tokens.

Synchronous on purpose: callers run it in a worker thread. A llama context holds one
sequence's state and is not thread-safe, so one lock admits one generation at a time.
"""

from __future__ import annotations

import codecs
import json
import threading
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import llama_cpp
from llama_cpp import Llama
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

from auterity.core.errors import FieldError, ValidationFailed
from auterity.relaycore.local.request import ChatParams
from auterity.relaycore.local.stops import StopScanner

# llama-cpp-python's own chat defaults: a mild repetition penalty keeps a 135M model from
# looping; OpenAI has no such parameter, so it is fixed here.
_REPEAT_PENALTY = 1.1
_TOP_K = 40
_MIN_P = 0.05


@dataclass(frozen=True, slots=True)
class Prepared:
    """A request made ready for decoding: its prompt tokens, length budget and grammar."""

    prompt_tokens: list[int]
    max_tokens: int
    grammar: LlamaGrammar | None


@dataclass(frozen=True, slots=True)
class Generated:
    """How one choice ended: why, and how many tokens it generated."""

    finish_reason: str
    completion_tokens: int


class LlamaRunner:
    """One loaded GGUF model; `generate` decodes one choice, one caller at a time."""

    def __init__(self, path: Path, *, context_tokens: int, threads: int) -> None:
        self._llama = Llama(
            model_path=str(path),
            n_ctx=context_tokens,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )
        self._vocab = llama_cpp.llama_model_get_vocab(self._llama.model)
        self._lock = threading.Lock()
        eos = self._llama.token_eos()
        bos = self._llama.token_bos()
        # The GGUF carries the model's own chat template (ChatML for SmolLM2).
        self._formatter = Jinja2ChatFormatter(
            template=str(self._llama.metadata["tokenizer.chat_template"]),
            eos_token=self._token_text(eos),
            bos_token=self._token_text(bos),
            stop_token_ids=[eos],
        )

    @property
    def context_tokens(self) -> int:
        return self._llama.n_ctx()

    def _token_text(self, token: int) -> str:
        return "" if token < 0 else self._llama.detokenize([token], special=True).decode()

    def prepare(self, params: ChatParams, default_max_tokens: int) -> Prepared:
        """Tokenize the prompt and build the grammar; refuse what cannot fit or parse."""
        formatted = self._formatter(messages=params.messages)  # type: ignore[arg-type]
        with self._lock:
            tokens = self._llama.tokenize(
                formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True
            )
        room = self.context_tokens - len(tokens)
        if room < 1:
            raise ValidationFailed(
                f"The messages are {len(tokens)} tokens; this model's context window is "
                f"{self.context_tokens} tokens.",
                errors=[FieldError("/messages", "Too long for the context window.")],
                extra={"code": "context_length_exceeded"},
            )
        wanted = params.max_tokens or default_max_tokens
        return Prepared(tokens, min(wanted, room), _grammar_for(params))

    def generate(
        self,
        prepared: Prepared,
        params: ChatParams,
        seed: int,
        emit: Callable[[str], None],
        cancelled: threading.Event,
    ) -> Generated:
        """Decode one choice, calling `emit` with each settled piece of text."""
        scanner = StopScanner(params.stop)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        finish_reason = "length"
        produced = 0
        with self._lock:
            self._llama.set_seed(_llama_seed(seed))
            tokens = self._llama.generate(
                prepared.prompt_tokens,
                top_k=_TOP_K,
                top_p=params.top_p,
                min_p=_MIN_P,
                temp=params.temperature,
                repeat_penalty=_REPEAT_PENALTY,
                frequency_penalty=params.frequency_penalty,
                presence_penalty=params.presence_penalty,
                grammar=prepared.grammar,
            )
            with closing(tokens):
                for token in tokens:
                    if cancelled.is_set():
                        break
                    if llama_cpp.llama_vocab_is_eog(self._vocab, token):
                        finish_reason = "stop"
                        break
                    produced += 1
                    # SmolLM2's tokenizer is byte-level BPE: a token's bytes stand alone,
                    # and the incremental decoder joins characters split across tokens.
                    piece = scanner.feed(decoder.decode(self._llama.detokenize([token])))
                    if piece:
                        emit(piece)
                    if scanner.stopped:
                        finish_reason = "stop"
                        break
                    if produced >= prepared.max_tokens:
                        break
        tail = scanner.feed(decoder.decode(b"", final=True))
        tail += scanner.flush()
        if tail:
            emit(tail)
        if scanner.stopped:
            finish_reason = "stop"
        return Generated(finish_reason, produced)


def _llama_seed(seed: int) -> int:
    # llama.cpp seeds are 32-bit, and its all-ones value means "pick one at random".
    masked = seed & 0xFFFF_FFFF
    return masked - 1 if masked == llama_cpp.LLAMA_DEFAULT_SEED else masked


def _grammar_for(params: ChatParams) -> LlamaGrammar | None:
    if params.json_schema is not None:
        try:
            return LlamaGrammar.from_json_schema(json.dumps(params.json_schema), verbose=False)
        except Exception as exc:  # the converter raises bare assertions on unknown shapes
            raise ValidationFailed(
                f"The JSON schema cannot be enforced: {exc}",
                errors=[FieldError("/response_format/json_schema/schema", f"Unsupported: {exc}")],
            ) from None
    if params.json_mode:
        return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
    return None
