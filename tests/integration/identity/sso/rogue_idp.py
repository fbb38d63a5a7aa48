"""A small, hostile OpenID Provider over real loopback HTTP, for ID tokens a real one won't mint.

It publishes one signing key and answers the token request with an ID token shaped by `mode`:
signed by another key under the published key id, unsigned (`alg: none`), for another
audience, expired, or signed by a newly rotated key (which must be accepted after a refetch).
Everything else about it is correct, so each case isolates one check of the relying party.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

CLIENT_ID = "rogue-client"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class RogueIdp:
    def __init__(self) -> None:
        self.published = RSAKey.generate_key(2048, parameters={"kid": "published"})
        self.impostor = RSAKey.generate_key(2048, parameters={"kid": "published"})
        self.rotated = RSAKey.generate_key(2048, parameters={"kid": "rotated"})
        self.mode = "valid"
        self.rotated_published = False
        self.nonces: dict[str, str] = {}
        self.hits: dict[str, int] = {}
        self.issuer = ""
        self._server: ThreadingHTTPServer | None = None

    def jwks(self) -> dict[str, Any]:
        keys = [self.published] + ([self.rotated] if self.rotated_published else [])
        return KeySet(keys).as_dict(private=False)  # type: ignore[arg-type]

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": "rogue-subject",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "email": "victim@example.com",
            "email_verified": True,
            "groups": ["admins"],
        }
        if self.mode == "wrong_audience":
            claims["aud"] = "another-client"
        if self.mode == "expired":
            claims["iat"], claims["exp"] = now - 7200, now - 3600
        if self.mode == "alg_none":
            header = {"alg": "none", "kid": "published"}
            return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."
        key = {"wrong_key": self.impostor, "rotated": self.rotated}.get(self.mode, self.published)
        if self.mode == "rotated":
            self.rotated_published = True
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)

    def start(self) -> None:
        rogue = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _json(self, body: dict[str, Any], status: int = 200) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                rogue.hits[url.path] = rogue.hits.get(url.path, 0) + 1
                if url.path == "/.well-known/openid-configuration":
                    self._json(
                        {
                            "issuer": rogue.issuer,
                            "authorization_endpoint": f"{rogue.issuer}/authorize",
                            "token_endpoint": f"{rogue.issuer}/token",
                            "jwks_uri": f"{rogue.issuer}/jwks",
                            "id_token_signing_alg_values_supported": ["RS256", "none"],
                        }
                    )
                elif url.path == "/jwks":
                    self._json(rogue.jwks())
                elif url.path == "/authorize":
                    query = {k: v[0] for k, v in parse_qs(url.query).items()}
                    code = f"code-{len(rogue.nonces)}"
                    rogue.nonces[code] = query["nonce"]
                    back = urlencode({"code": code, "state": query["state"]})
                    self.send_response(302)
                    self.send_header("Location", f"{query['redirect_uri']}?{back}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self._json({"error": "not_found"}, 404)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                rogue.hits[self.path] = rogue.hits.get(self.path, 0) + 1
                nonce = rogue.nonces.pop(form.get("code", ""), None)
                if nonce is None:
                    self._json({"error": "invalid_grant"}, 400)
                    return
                self._json(
                    {
                        "access_token": "rogue-access-token",
                        "token_type": "Bearer",
                        "expires_in": 300,
                        "id_token": rogue.id_token(nonce),
                    }
                )

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@pytest.fixture
def rogue_idp() -> Iterator[RogueIdp]:
    idp = RogueIdp()
    idp.start()
    try:
        yield idp
    finally:
        idp.stop()
