"""Translation between OpenAI's and Anthropic's chat formats: requests, answers and streams."""

from auterity.relaycore.translate.requests import (
    JSON_TOOL,
    anthropic_to_openai,
    openai_to_anthropic,
)
from auterity.relaycore.translate.responses import (
    anthropic_to_openai_response,
    openai_to_anthropic_response,
)
from auterity.relaycore.translate.streams import AnthropicToOpenAIStream, OpenAIToAnthropicStream

__all__ = [
    "JSON_TOOL",
    "AnthropicToOpenAIStream",
    "OpenAIToAnthropicStream",
    "anthropic_to_openai",
    "anthropic_to_openai_response",
    "openai_to_anthropic",
    "openai_to_anthropic_response",
]
