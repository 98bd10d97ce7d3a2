"""Turn a registry's error answer into one of our errors, with its `errors` body shown."""

from __future__ import annotations

import httpx

from builder.errors import AuthError, NotFoundError, RegistryError
from builder.log import redact

NOT_FOUND_CODES = frozenset({"MANIFEST_UNKNOWN", "BLOB_UNKNOWN", "NAME_UNKNOWN", "BLOB_UPLOAD_UNKNOWN"})


def error_codes(response: httpx.Response) -> tuple[tuple[str, str], ...]:
    """(code, message) pairs of a distribution error body; empty if there is none."""
    try:
        body = response.json()
    except (ValueError, httpx.ResponseNotRead):
        return ()
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return ()
    return tuple(
        (str(e.get("code", "UNKNOWN")), str(e.get("message", "")))
        for e in errors
        if isinstance(e, dict)
    )


def registry_error(
    response: httpx.Response, what: str, *, scopes: tuple[str, ...], credential_source: str
) -> RegistryError:
    status = response.status_code
    codes = error_codes(response)
    detail = "; ".join(f"{code}: {message}" if message else code for code, message in codes)
    suffix = f": {detail}" if detail else ""
    host = response.request.url.netloc.decode()
    if status in (401, 403):
        verdict = "unauthorized" if status == 401 else "denied"
        return AuthError(
            redact(
                f"{what}: {verdict} by {host} (status {status}, credentials: {credential_source}, "
                f"scope asked: {' '.join(scopes) or '(none)'}){suffix}"
            ),
            hint="check the login for this registry and that it may do what the scope asks",
            status=status,
            codes=tuple(code for code, _ in codes),
        )
    if status == 404 or any(code in NOT_FOUND_CODES for code, _ in codes):
        return NotFoundError(
            redact(f"{what}: not found on {host}{suffix}"), status=status, codes=tuple(c for c, _ in codes)
        )
    reason = response.reason_phrase or "error"
    return RegistryError(
        redact(f"{what}: {host} answered {status} {reason}{suffix}"),
        status=status,
        codes=tuple(code for code, _ in codes),
    )
