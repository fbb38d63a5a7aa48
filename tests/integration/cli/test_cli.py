from __future__ import annotations

import pytest
from typer.testing import CliRunner

from auterity import __version__
from auterity.cli.main import app
from auterity.core.settings import get_settings

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0 and result.stdout.strip() == __version__


def test_db_upgrade_then_current_then_doctor() -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    current = runner.invoke(app, ["db", "current"])
    assert current.exit_code == 0 and "at head" in current.output
    doctor = runner.invoke(app, ["doctor"])
    assert doctor.exit_code == 0, doctor.output
    assert "database" in doctor.output and "at head" in doctor.output
    assert "xmlsec 1." in doctor.output
    assert "local models" in doctor.output


def test_doctor_fails_before_migrations() -> None:
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert "auterity db upgrade" in result.output


def test_doctor_reports_invalid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTERITY_LOG_LEVEL", "loud")
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert "AUTERITY_LOG_LEVEL" in result.output


def test_serve_refuses_unknown_service() -> None:
    result = runner.invoke(app, ["serve", "billing"])
    assert result.exit_code == 2
    assert "automatrix" in result.output


def test_users_create_makes_a_tenant_and_owner_who_can_log_in() -> None:
    import asyncio

    from auterity.core.database import Database
    from auterity.identity.accounts import find_user, memberships_of
    from auterity.identity.passwords import verify_password

    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(
        app,
        ["users", "create", "--email", "Boss@Example.com", "--tenant", "Acme", "--role", "owner"],
        input="a long enough passphrase\na long enough passphrase\n",
    )
    assert result.exit_code == 0, result.output
    assert "acme" in result.output

    async def check() -> tuple[bool, str]:
        db = Database(get_settings())
        try:
            async with db.session(readonly=True) as session:
                user = await find_user(session, "boss@example.com")
                assert user is not None
                memberships = await memberships_of(session, user.id)
                return verify_password("a long enough passphrase", user.password_hash), memberships[
                    0
                ][0].role
        finally:
            await db.dispose()

    assert asyncio.run(check()) == (True, "owner")
    weak = runner.invoke(
        app, ["users", "create", "--email", "w@example.com", "--tenant", "W", "--password", "short"]
    )
    assert weak.exit_code == 1 and "/password" in weak.output
