"""OperationOutcome: the body of every error under /fhir (FHIR R4 §3.1.0.4, RESTful API)."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.operationoutcome import OperationOutcome

#: The issue type (IssueType value set) of an HTTP status.
ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    410: "deleted",
    412: "conflict",
    413: "too-costly",
    415: "not-supported",
    422: "processing",
    429: "throttled",
}


def issue_code(status: int, code: str | None = None) -> str:
    """The IssueType for ``status`` (``code``: the service's error code, which refines it)."""
    if code in ("slot_taken", "stale_plan"):
        return "conflict"
    if status >= 500:
        return "exception"
    return ISSUE_CODES.get(status, "processing")


def operation_outcome(
    message: str, *, status: int, code: str | None = None, expression: list[str] | None = None
) -> dict[str, Any]:
    """A validated OperationOutcome's JSON: one issue, ``error`` (``fatal`` for a 5xx), the
    message as its text and the service's error ``code`` (``slot_taken``...) as its details'
    code, so a client can act on it as on the REST API's ``code``."""
    issue: dict[str, Any] = {
        "severity": "fatal" if status >= 500 else "error",
        "code": issue_code(status, code),
        "diagnostics": message,
    }
    if code:
        issue["details"] = {
            "coding": [{"system": "urn:dispatch:error-code", "code": code}],
            "text": message,
        }
    if expression:
        issue["expression"] = expression
    model = OperationOutcome.model_validate({"resourceType": "OperationOutcome", "issue": [issue]})
    body: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return body
