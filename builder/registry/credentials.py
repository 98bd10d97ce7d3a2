"""Where a registry login comes from: explicit options, Docker's config.json (auths,
credHelpers, credsStore) or GitLab CI's predefined variables, in that order.

Every secret learned here is registered for redaction; a Credential's `source` names where
it came from so auth errors can say so without showing the value.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from builder.errors import AuthError
from builder.log import register_secret
from builder.registry.options import Credential, RegistryOptions

DOCKER_HUB = "docker.io"
DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
# The key Docker itself writes for Docker Hub in config.json and asks credential helpers for.
DOCKER_HUB_SERVER_URL = "https://index.docker.io/v1/"
KANIKO_CONFIG = Path("/kaniko/.docker/config.json")
HELPER_TIMEOUT = 30


def canonical_host(host: str) -> str:
    """`docker.io` for every Docker Hub alias, else the host[:port] as given (lowercase)."""
    host = host.lower()
    return DOCKER_HUB if host in DOCKER_HUB_ALIASES else host


def config_key_host(key: str) -> str:
    """The host named by a config.json `auths` key (`https://host/v1/`, `host`, ...)."""
    bare = key.split("://", 1)[-1]
    return canonical_host(bare.split("/", 1)[0])


def docker_config_path(options: RegistryOptions, env: Mapping[str, str]) -> Path | None:
    """The config.json in use: explicit option, $DOCKER_CONFIG, ~/.docker, /kaniko/.docker."""
    candidates: list[Path] = []
    if options.docker_config is not None:
        explicit = options.docker_config
        candidates.append(explicit / "config.json" if explicit.is_dir() else explicit)
    if env.get("DOCKER_CONFIG"):
        candidates.append(Path(env["DOCKER_CONFIG"]) / "config.json")
    if env.get("HOME"):
        candidates.append(Path(env["HOME"]) / ".docker" / "config.json")
    candidates.append(KANIKO_CONFIG)
    return next((path for path in candidates if path.is_file()), None)


def find_credential(
    host: str, options: RegistryOptions, env: Mapping[str, str] | None = None
) -> Credential | None:
    env = os.environ if env is None else env
    host = canonical_host(host)
    explicit = {canonical_host(h): c for h, c in options.credentials.items()}.get(host)
    if explicit is not None:
        return _registered(explicit)
    path = docker_config_path(options, env)
    if path is not None:
        found = _from_docker_config(host, path, env)
        if found is not None:
            return _registered(found)
    found = _from_gitlab_variables(host, env)
    return _registered(found) if found is not None else None


def _registered(credential: Credential) -> Credential:
    register_secret(credential.password)
    register_secret(credential.identity_token)
    return credential


def _from_docker_config(host: str, path: Path, env: Mapping[str, str]) -> Credential | None:
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise AuthError(f"cannot read Docker config {path}: {err}") from None
    if not isinstance(config, dict):
        raise AuthError(f"Docker config {path} is not a JSON object")
    helper = (config.get("credHelpers") or {}).get(_helper_key(host, config.get("credHelpers") or {}))
    if helper:
        return _from_helper(helper, host, path, env)
    auths = config.get("auths") or {}
    for key, entry in auths.items():
        if config_key_host(key) == host and isinstance(entry, dict):
            found = _from_auth_entry(entry, f"{path} (auths entry {key!r})")
            if found is not None:
                return found
    store = config.get("credsStore")
    if store:
        return _from_helper(store, host, path, env)
    return None


def _helper_key(host: str, helpers: Mapping[str, str]) -> str:
    return next((key for key in helpers if config_key_host(key) == host), host)


def _from_auth_entry(entry: Mapping[str, object], source: str) -> Credential | None:
    username, password = entry.get("username"), entry.get("password")
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        register_secret(encoded)
        try:
            decoded = base64.b64decode(encoded).decode()
        except ValueError:
            raise AuthError(f"{source}: `auth` is not base64 of user:password") from None
        username, sep, password = decoded.partition(":")
        if not sep:
            raise AuthError(f"{source}: `auth` does not decode to user:password")
    token = entry.get("identitytoken")
    if not (password or token):
        return None
    return Credential(
        username=str(username) if username else None,
        password=str(password) if password else None,
        identity_token=str(token) if token else None,
        source=source,
    )


def _from_helper(name: str, host: str, config_path: Path, env: Mapping[str, str]) -> Credential | None:
    program = f"docker-credential-{name}"
    executable = shutil.which(program, path=env.get("PATH"))
    if executable is None:
        raise AuthError(
            f"credential helper {program} (named in {config_path}) is not on PATH",
            hint=f"install {program} or remove it from {config_path}",
        )
    server = DOCKER_HUB_SERVER_URL if host == DOCKER_HUB else host
    try:
        result = subprocess.run(
            [executable, "get"],
            input=server,
            capture_output=True,
            text=True,
            timeout=HELPER_TIMEOUT,
            env=dict(env),
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise AuthError(f"credential helper {program} failed for {host}: {err}") from None
    if result.returncode != 0:
        if "credentials not found" in (result.stdout + result.stderr).lower():
            return None
        raise AuthError(
            f"credential helper {program} failed for {host} (exit {result.returncode}): "
            f"{(result.stderr or result.stdout).strip()[:200]}"
        )
    try:
        answer = json.loads(result.stdout)
        username, secret = answer["Username"], answer["Secret"]
    except (ValueError, KeyError, TypeError):
        raise AuthError(f"credential helper {program} answered with malformed JSON for {host}") from None
    register_secret(secret)
    source = f"credential helper {program}"
    if username == "<token>":
        return Credential(identity_token=secret, source=source)
    return Credential(username=username, password=secret, source=source)


def _from_gitlab_variables(host: str, env: Mapping[str, str]) -> Credential | None:
    registry = env.get("CI_REGISTRY", "")
    if registry and canonical_host(registry) == host and env.get("CI_REGISTRY_PASSWORD"):
        return Credential(
            username=env.get("CI_REGISTRY_USER"),
            password=env["CI_REGISTRY_PASSWORD"],
            source="GitLab CI variables CI_REGISTRY_USER/CI_REGISTRY_PASSWORD",
        )
    proxy = env.get("CI_DEPENDENCY_PROXY_SERVER", "")
    # GitLab's docs: the server carries :443, but images and logins name the bare host.
    if proxy and host in {canonical_host(proxy), canonical_host(proxy.rsplit(":", 1)[0])}:
        if env.get("CI_DEPENDENCY_PROXY_PASSWORD"):
            return Credential(
                username=env.get("CI_DEPENDENCY_PROXY_USER"),
                password=env["CI_DEPENDENCY_PROXY_PASSWORD"],
                source="GitLab CI variables CI_DEPENDENCY_PROXY_USER/CI_DEPENDENCY_PROXY_PASSWORD",
            )
    return None


def read_credentials_now(
    options: RegistryOptions, hosts: set[str], env: Mapping[str, str] | None = None
) -> RegistryOptions:
    """`options` with every login for `hosts` resolved now and held in memory: config.json,
    credential helpers and CI variables are read once, before the build root can change
    (in container-root mode the base image replaces $HOME and the helpers' binaries)."""
    found = dict(options.credentials)
    for host in sorted(hosts):
        if canonical_host(host) not in {canonical_host(h) for h in found}:
            credential = find_credential(host, options, env)
            if credential is not None:
                found[host] = credential
    return options.model_copy(update={"credentials": found})
