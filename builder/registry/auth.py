"""Challenge-response auth for one registry: Basic, or Bearer tokens cached per scope.

The registry's `WWW-Authenticate` challenge (learned from any 401) says which scheme to use;
a Bearer token is fetched from its realm for the scopes a request needs (anonymously when we
have no login), cached until shortly before it expires, and dropped when the registry
answers 401 to it so the next attempt fetches a fresh one.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from dataclasses import dataclass

import httpx

from builder.errors import AuthError, RegistryError
from builder.log import register_secret
from builder.registry.options import Credential

_PARAM_RE = re.compile(r'([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')
DEFAULT_TOKEN_LIFETIME = 60.0
CLIENT_ID = "multiarch"


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "basic" or "bearer"
    realm: str = ""
    service: str = ""


def parse_challenge(header: str) -> Challenge | None:
    scheme, _, rest = header.strip().partition(" ")
    params = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3) for m in _PARAM_RE.finditer(rest)}
    scheme = scheme.lower()
    if scheme not in ("basic", "bearer"):
        return None
    return Challenge(scheme, params.get("realm", ""), params.get("service", ""))


@dataclass(frozen=True)
class _Token:
    value: str
    refresh_at: float


class Authenticator:
    """Thread-safe Authorization headers for one registry host."""

    def __init__(self, host: str, credential: Credential | None, http: httpx.Client) -> None:
        self.host = host
        self.credential = credential
        self._http = http
        self._lock = threading.Lock()
        self._challenge: Challenge | None = None
        self._tokens: dict[tuple[str, ...], _Token] = {}

    @property
    def credential_source(self) -> str:
        return self.credential.source if self.credential else "no credentials (anonymous)"

    def learn(self, response: httpx.Response) -> bool:
        """Record the challenge of a 401; True if it is one we can answer."""
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if challenge is None:
            return False
        with self._lock:
            self._challenge = challenge
        return True

    def header(self, scopes: tuple[str, ...]) -> str | None:
        """The Authorization value for a request needing `scopes` (None: send none)."""
        challenge = self._challenge
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            cred = self.credential
            if cred is None or cred.password is None:
                return None
            return "Basic " + base64.b64encode(f"{cred.username or ''}:{cred.password}".encode()).decode()
        key = tuple(sorted(scopes))
        with self._lock:
            token = self._tokens.get(key)
        if token is None or time.monotonic() >= token.refresh_at:
            token = self._fetch_token(challenge, key)
            with self._lock:
                self._tokens[key] = token
        return f"Bearer {token.value}"

    def forget(self, scopes: tuple[str, ...]) -> None:
        """Drop the cached token for `scopes` (the registry rejected it)."""
        with self._lock:
            self._tokens.pop(tuple(sorted(scopes)), None)

    def _fetch_token(self, challenge: Challenge, scopes: tuple[str, ...]) -> _Token:
        if not challenge.realm:
            raise AuthError(f"registry {self.host} sent a Bearer challenge without a realm")
        cred = self.credential
        try:
            if cred is not None and cred.identity_token:
                response = self._http.post(
                    challenge.realm,
                    data={
                        "grant_type": "refresh_token",
                        "refresh_token": cred.identity_token,
                        "service": challenge.service,
                        "scope": " ".join(scopes),
                        "client_id": CLIENT_ID,
                    },
                )
            else:
                params = {"service": [challenge.service], "scope": list(scopes)}
                auth = (cred.username or "", cred.password) if cred and cred.password else None
                response = self._http.get(challenge.realm, params=params, auth=auth)
        except httpx.HTTPError as err:
            raise RegistryError(f"cannot get a token for {self.host} from {challenge.realm}: {err}") from None
        if response.status_code in (401, 403):
            raise AuthError(
                f"the token service of {self.host} rejected the login from {self.credential_source} "
                f"(status {response.status_code}, scope {' '.join(scopes) or '(none)'})",
                hint="check the username and password for this registry",
                status=response.status_code,
            )
        if response.status_code != 200:
            raise RegistryError(
                f"the token service of {self.host} answered {response.status_code} "
                f"for scope {' '.join(scopes) or '(none)'}",
                status=response.status_code,
            )
        try:
            body = response.json()
            value = body.get("token") or body.get("access_token")
            lifetime = float(body.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
        except (ValueError, AttributeError, TypeError):
            value = None
        if not value:
            raise RegistryError(f"the token service of {self.host} answered without a token")
        register_secret(value)
        # Renew before the end so a long request does not start with a dying token.
        return _Token(value, time.monotonic() + lifetime * 0.8)
