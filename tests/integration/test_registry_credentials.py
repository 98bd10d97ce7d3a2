"""Where logins come from: config.json (auths with base64 or username/password, credHelpers,
credsStore), GitLab CI variables, Docker Hub aliases, precedence; checked end to end
against the htpasswd registry where a registry is involved."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from builder.errors import AuthError
from builder.registry import Credential, RegistryClient, RegistryOptions
from builder.registry.credentials import find_credential
from tests.fixtures.registry import RegistryHandle, unique_repo


def write_config(directory: Path, config: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    return directory


def can_list(handle: RegistryHandle, env: dict[str, str], **options: object) -> None:
    with RegistryClient(handle.options(with_credentials=False, **options), env=env) as client:
        assert client.list_tags(handle.ref(unique_repo())) == []


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize("key_form", ["{host}", "https://{host}", "http://{host}/v2/"])
def test_auths_with_base64_auth(basic_registry: RegistryHandle, tmp_path: Path, key_form: str) -> None:
    key = key_form.format(host=basic_registry.host)
    entry = {"auth": b64(f"{basic_registry.username}:{basic_registry.password}")}
    config_dir = write_config(tmp_path / "docker", {"auths": {key: entry}})
    can_list(basic_registry, {"DOCKER_CONFIG": str(config_dir)})


def test_auths_with_username_and_password_from_home(basic_registry: RegistryHandle, tmp_path: Path) -> None:
    entry = {"username": basic_registry.username, "password": basic_registry.password}
    write_config(tmp_path / ".docker", {"auths": {basic_registry.host: entry}})
    can_list(basic_registry, {"HOME": str(tmp_path)})


def test_wrong_config_login_names_the_file_not_the_password(basic_registry: RegistryHandle, tmp_path: Path) -> None:
    config_dir = write_config(tmp_path, {"auths": {basic_registry.host: {"auth": b64("tester:bad-secret-9")}}})
    with pytest.raises(AuthError) as err:
        can_list(basic_registry, {"DOCKER_CONFIG": str(config_dir)})
    assert str(config_dir / "config.json") in str(err.value)
    assert "bad-secret-9" not in str(err.value) and b64("tester:bad-secret-9") not in str(err.value)


def helper_dir(tmp_path: Path, name: str, username: str, secret: str) -> Path:
    """A docker-credential-NAME script answering `get` for any server with one login."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / f"docker-credential-{name}"
    answer = json.dumps({"ServerURL": "x", "Username": username, "Secret": secret})
    script.write_text(
        "#!/bin/sh\n"
        '[ "$1" = get ] || exit 1\n'
        "read server\n"
        f'echo "$server" >> {bin_dir}/asked\n'
        f"echo '{answer}'\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return bin_dir


@pytest.mark.parametrize("how", ["credHelpers", "credsStore"])
def test_credential_helper(basic_registry: RegistryHandle, tmp_path: Path, how: str) -> None:
    bin_dir = helper_dir(tmp_path, "test", basic_registry.username or "", basic_registry.password or "")
    config = {"credHelpers": {basic_registry.host: "test"}} if how == "credHelpers" else {"credsStore": "test"}
    config_dir = write_config(tmp_path / "docker", config)
    env = {"DOCKER_CONFIG": str(config_dir), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    can_list(basic_registry, env)
    assert (bin_dir / "asked").read_text().split() == [basic_registry.host]


def test_missing_credential_helper_is_a_clear_error(tmp_path: Path) -> None:
    config_dir = write_config(tmp_path, {"credsStore": "nothere"})
    with pytest.raises(AuthError, match="docker-credential-nothere .* is not on PATH"):
        find_credential("registry.example", RegistryOptions(), {"DOCKER_CONFIG": str(config_dir), "PATH": "/nonexistent"})


def test_gitlab_ci_registry_variables(basic_registry: RegistryHandle) -> None:
    env = {
        "CI_REGISTRY": basic_registry.host,
        "CI_REGISTRY_USER": basic_registry.username or "",
        "CI_REGISTRY_PASSWORD": basic_registry.password or "",
    }
    can_list(basic_registry, env)
    env["CI_REGISTRY_PASSWORD"] = "gitlab-wrong-pw"
    with pytest.raises(AuthError, match="GitLab CI variables CI_REGISTRY_USER/CI_REGISTRY_PASSWORD") as err:
        can_list(basic_registry, env)
    assert "gitlab-wrong-pw" not in str(err.value)


def test_gitlab_dependency_proxy_server_port_is_stripped() -> None:
    env = {
        "CI_DEPENDENCY_PROXY_SERVER": "gitlab.example.com:443",
        "CI_DEPENDENCY_PROXY_USER": "gitlab-ci-token",
        "CI_DEPENDENCY_PROXY_PASSWORD": "proxy-secret",
    }
    for host in ("gitlab.example.com", "gitlab.example.com:443"):
        found = find_credential(host, RegistryOptions(), env)
        assert found is not None and found.password == "proxy-secret"
        assert "CI_DEPENDENCY_PROXY" in found.source
    assert find_credential("other.example.com", RegistryOptions(), env) is None


def test_config_entry_wins_over_gitlab_variables_and_explicit_wins_over_both(tmp_path: Path) -> None:
    config_dir = write_config(tmp_path, {"auths": {"reg.example": {"auth": b64("cfg:cfg-pass")}}})
    env = {"DOCKER_CONFIG": str(config_dir), "CI_REGISTRY": "reg.example", "CI_REGISTRY_PASSWORD": "ci-pass"}
    found = find_credential("reg.example", RegistryOptions(), env)
    assert found is not None and found.password == "cfg-pass"
    explicit = RegistryOptions(credentials={"reg.example": Credential(username="me", password="flag-pass")})
    found = find_credential("reg.example", explicit, env)
    assert found is not None and found.password == "flag-pass"


@pytest.mark.parametrize("host", ["docker.io", "index.docker.io", "registry-1.docker.io"])
def test_docker_hub_aliases(tmp_path: Path, host: str) -> None:
    config_dir = write_config(tmp_path, {"auths": {"https://index.docker.io/v1/": {"auth": b64("hub:hub-pass")}}})
    found = find_credential(host, RegistryOptions(), {"DOCKER_CONFIG": str(config_dir)})
    assert found is not None and (found.username, found.password) == ("hub", "hub-pass")


def test_no_credentials_anywhere(tmp_path: Path) -> None:
    assert find_credential("reg.example", RegistryOptions(), {"HOME": str(tmp_path)}) is None


def test_learned_secrets_are_redacted(tmp_path: Path) -> None:
    from builder.log import redact

    config_dir = write_config(tmp_path, {"auths": {"reg.example": {"auth": b64("u:never-log-this-9")}}})
    find_credential("reg.example", RegistryOptions(), {"DOCKER_CONFIG": str(config_dir)})
    assert redact("password never-log-this-9 here") == "password *** here"
