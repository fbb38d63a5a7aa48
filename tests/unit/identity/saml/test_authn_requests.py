"""AuthnRequest ids prove we issued them, for which provider, and until when."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from auterity.core.clock import FrozenClock, set_clock
from auterity.core.crypto import TokenHasher
from auterity.core.ids import new_id
from auterity.identity.saml.authn_requests import REQUEST_TTL, is_our_request, new_request_id

HASHER = TokenHasher("unit-test-secret")


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock()
    previous = set_clock(frozen)
    yield frozen
    set_clock(previous)


def test_issued_id_is_recognised_until_it_expires(clock: FrozenClock) -> None:
    provider = new_id()
    request_id = new_request_id(HASHER, provider)
    # An xsd:ID: an NCName, so no colons and a letter or underscore first.
    assert request_id.startswith("_") and ":" not in request_id
    assert is_our_request(HASHER, provider, request_id)
    clock.advance(REQUEST_TTL + timedelta(seconds=1))
    assert not is_our_request(HASHER, provider, request_id)


def test_id_is_bound_to_provider_key_and_content(clock: FrozenClock) -> None:
    provider = new_id()
    request_id = new_request_id(HASHER, provider)
    nonce, expires, mac = request_id[1:].split(".")
    assert not is_our_request(HASHER, new_id(), request_id)
    assert not is_our_request(TokenHasher("another-secret"), provider, request_id)
    later = str(int(expires) + 3600)
    assert not is_our_request(HASHER, provider, f"_{nonce}.{later}.{mac}")
    for junk in ["", "_", "_a.b", "ONELOGIN_123", f"{nonce}.{expires}.{mac}", "_a.x.b"]:
        assert not is_our_request(HASHER, provider, junk)
