"""`auterity up` as a user runs it: a real process, real HTTP over loopback."""

from __future__ import annotations

from pathlib import Path

import httpx


def test_up_serves_the_platform_on_the_embedded_default(server: str, tmp_path: Path) -> None:
    assert (tmp_path / "var" / "auterity.db").exists()
    assert (tmp_path / "var" / "secret_key").exists()
    with httpx.Client(base_url=server) as http:
        ready = http.get("/health/ready").json()
        assert ready["dependencies"]["database"]["revision"]
        assert http.get("/openapi.json").json()["info"]["title"] == "Auterity"
        assert http.get("/docs").status_code == 200
        assert "http_requests_total" in http.get("/metrics").text
        bad = http.post("/health/ready")
        assert bad.status_code == 405
        assert bad.headers["content-type"] == "application/problem+json"
        assert set(http.get("/api").json()["services"]) == {
            "automatrix",
            "relaycore",
            "neuroweaver",
        }
