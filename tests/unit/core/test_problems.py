from __future__ import annotations

from auterity.core.errors import FieldError, NotFound, Unauthenticated, ValidationFailed
from auterity.core.problems import PROBLEM_TYPE_BASE, pointer_for, problem_body


def test_pointer_for_body_fields_and_parameters() -> None:
    assert pointer_for(("body", "steps", 0, "id")) == "/steps/0/id"
    assert pointer_for(("query", "limit")) == "/query/limit"
    assert pointer_for(("body", "a/b", "c~d")) == "/a~1b/c~0d"


def test_problem_body_has_rfc9457_members() -> None:
    body = problem_body(NotFound("Workflow 7 does not exist."), "/api/workflows/7")
    assert body == {
        "type": PROBLEM_TYPE_BASE + "not-found",
        "title": "Not found",
        "status": 404,
        "detail": "Workflow 7 does not exist.",
        "instance": "/api/workflows/7",
    }


def test_validation_errors_are_listed_with_pointers() -> None:
    error = ValidationFailed(
        "bad", errors=[FieldError("/name", "Field required.", hint="add a name")]
    )
    assert problem_body(error, None)["errors"] == [
        {"pointer": "/name", "message": "Field required.", "hint": "add a name"}
    ]


def test_unauthenticated_carries_www_authenticate() -> None:
    assert Unauthenticated().headers["WWW-Authenticate"].startswith("Bearer")
