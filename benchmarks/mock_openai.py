"""A minimal OpenAI chat-completions upstream on loopback, as cheap per request as Python allows.

`POST /v1/chat/completions` with `Authorization: Bearer ...` answers 200 with a fixed
`chat.completion` body (one choice, usage counts) as OpenAI does for a non-streaming request;
a missing key answers 401 and any other path 404, each with OpenAI's error body. It is a raw
asyncio protocol on uvloop (no framework, no JSON parsing of the request), so it is not the
bottleneck of the relay benchmark: its CPU per request is printed there. Keep-alive and
pipelined requests are served in order. Run alone:
`python benchmarks/mock_openai.py --port 9000` (prints `ready PORT` once listening).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import cast

import uvloop

MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024

COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench0000000000000000000000",
        "object": "chat.completion",
        "created": 1764000000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello! How can I help?"},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 12,
            "completion_tokens": 7,
            "total_tokens": 19,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
        "system_fingerprint": "fp_bench",
    },
    separators=(",", ":"),
).encode()


def _error(message: str, kind: str, code: str | None) -> bytes:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return json.dumps(body, separators=(",", ":")).encode()


def _response(status: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nopenai-processing-ms: 1\r\n"
        "x-request-id: req_bench\r\n\r\n"
    )
    return head.encode() + body


OK = _response("200 OK", COMPLETION)
UNAUTHORIZED = _response(
    "401 Unauthorized",
    _error("You didn't provide an API key.", "invalid_request_error", "invalid_api_key"),
)
NOT_FOUND = _response(
    "404 Not Found", _error("Unknown request URL.", "invalid_request_error", "unknown_url")
)
BAD_REQUEST = _response(
    "400 Bad Request", _error("Could not parse the request.", "invalid_request_error", None)
)


class Upstream(asyncio.Protocol):
    """One connection: parse request heads and bodies from the buffer, answer each in order."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self._fail()
                return
            answer, length, closes = self._answer(bytes(self.buffer[:end]))
            if answer is BAD_REQUEST or length > MAX_BODY:
                self._fail()
                return
            if len(self.buffer) < end + 4 + length:
                return  # the body is still arriving
            del self.buffer[: end + 4 + length]
            self.transport.write(answer)
            if closes:
                self.transport.close()
                self.transport = None

    @staticmethod
    def _answer(head: bytes) -> tuple[bytes, int, bool]:
        """(response, request body length, whether to close) for one request head."""
        lines = head.split(b"\r\n")
        request_line = lines[0].split(b" ")
        if len(request_line) != 3:
            return BAD_REQUEST, 0, True
        length, authorized, closes = 0, False, request_line[2] == b"HTTP/1.0"
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.lower()
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    return BAD_REQUEST, 0, True
            elif name == b"authorization":
                authorized = value.strip().startswith(b"Bearer ")
            elif name == b"connection":
                closes = value.strip().lower() == b"close"
            elif name == b"transfer-encoding":
                return BAD_REQUEST, 0, True  # clients here send Content-Length
        if request_line[0] != b"POST" or request_line[1].split(b"?")[0] != b"/v1/chat/completions":
            return NOT_FOUND, length, closes
        return (OK if authorized else UNAUTHORIZED), length, closes

    def _fail(self) -> None:
        if self.transport is not None:
            self.transport.write(BAD_REQUEST)
            self.transport.close()
            self.transport = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Upstream, host, port, backlog=4096)
    bound = server.sockets[0].getsockname()[1]
    print(f"ready {bound}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    args = parser.parse_args()
    try:
        uvloop.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
