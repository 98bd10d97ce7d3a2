"""Image references as Docker writes them: `[registry[:port]/]repository[:tag][@digest]`.

The grammar and the defaults follow distribution/reference (ParseNormalizedNamed):
no registry means docker.io, a one-component name on docker.io gets `library/`, and
index.docker.io / registry-1.docker.io are the same registry as docker.io.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from builder.errors import InvalidReferenceError
from builder.oci.digest import is_digest

DEFAULT_REGISTRY = "docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_MAX = 255
_DOCKER_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN_RE = re.compile(rf"^{_HOST}(?::[0-9]+)?$")
_PATH_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_ANY_DIGEST_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]+$")
_HEX64_RE = re.compile(r"^[a-f0-9]{64}$")


@dataclass(frozen=True)
class Reference:
    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        return self.name + self._suffix()

    @property
    def name(self) -> str:
        """registry/repository, without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def familiar(self) -> str:
        """The short form Docker prints: `busybox:1.36`, `user/app`, `ghcr.io/o/app:tag`."""
        if self.registry == DEFAULT_REGISTRY:
            short = self.repository.removeprefix(OFFICIAL_PREFIX)
            short = short if "/" not in short else self.repository
            if _split_registry(short)[0] == DEFAULT_REGISTRY:  # else `a.b/c` would read as a host
                return short + self._suffix()
        return str(self)

    @property
    def identifier(self) -> str:
        """What to ask the registry for: the digest if pinned, else the tag (default latest)."""
        return self.digest or self.tag or DEFAULT_TAG

    def with_tag(self, tag: str) -> "Reference":
        return replace(self, tag=_check_tag(tag, str(self)), digest=None)

    def with_digest(self, digest: str) -> "Reference":
        return replace(self, digest=_check_digest(digest, str(self)))

    def repository_ref(self) -> "Reference":
        return replace(self, tag=None, digest=None)

    def _suffix(self) -> str:
        return (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


def parse_reference(text: str) -> Reference:
    """Parse and normalise a reference; raise InvalidReferenceError saying what is wrong."""
    if not text:
        raise InvalidReferenceError("invalid reference: it is empty")
    if text != text.strip() or any(c.isspace() for c in text):
        raise InvalidReferenceError(f"invalid reference {text!r}: it contains whitespace")
    name, digest = text, None
    if "@" in name:
        name, digest = name.split("@", 1)
        digest = _check_digest(digest, text)
    tag = None
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        name, tag = name[:colon], _check_tag(name[colon + 1 :], text)
    if not name:
        raise InvalidReferenceError(f"invalid reference {text!r}: the repository name is empty")
    if _HEX64_RE.match(name):
        raise InvalidReferenceError(
            f"invalid reference {text!r}: a repository name cannot be a 64-character hex string",
            hint="to name an image by digest, write NAME@sha256:HEX",
        )
    if len(name) > NAME_MAX:
        raise InvalidReferenceError(
            f"invalid reference {text[:40]!r}...: the name is {len(name)} characters, "
            f"the limit is {NAME_MAX}"
        )
    registry, repository = _split_registry(name)
    _check_registry(registry, text)
    _check_repository(repository, text)
    return Reference(registry=registry, repository=repository, tag=tag, digest=digest)


def _split_registry(name: str) -> tuple[str, str]:
    first, slash, rest = name.partition("/")
    is_registry = slash and (
        any(c in first for c in ".:[") or first == "localhost" or first != first.lower()
    )
    registry, repository = (first, rest) if is_registry else (DEFAULT_REGISTRY, name)
    if registry in _DOCKER_ALIASES:
        registry = DEFAULT_REGISTRY
        if "/" not in repository:
            repository = OFFICIAL_PREFIX + repository
    return registry, repository


def _check_registry(registry: str, text: str) -> None:
    if not _DOMAIN_RE.match(registry):
        raise InvalidReferenceError(
            f"invalid reference {text!r}: {registry!r} is not a valid registry host[:port]"
        )


def _check_repository(repository: str, text: str) -> None:
    if repository != repository.lower() and all(
        _PATH_COMPONENT_RE.match(c) for c in repository.lower().split("/")
    ):
        raise InvalidReferenceError(
            f"invalid reference {text!r}: repository name must be lowercase"
        )
    for component in repository.split("/"):
        if not component:
            raise InvalidReferenceError(
                f"invalid reference {text!r}: the repository has an empty path component"
            )
        if not _PATH_COMPONENT_RE.match(component):
            raise InvalidReferenceError(
                f"invalid reference {text!r}: {component!r} is not a valid repository path "
                "component (lower-case letters and digits, separated by '.', '_', '__' or '-')"
            )


def _check_tag(tag: str, text: str) -> str:
    if not _TAG_RE.match(tag):
        raise InvalidReferenceError(
            f"invalid reference {text!r}: {tag!r} is not a valid tag "
            "(up to 128 letters, digits, '_', '.', '-'; not starting with '.' or '-')"
        )
    return tag


def _check_digest(digest: str, text: str) -> str:
    if is_digest(digest):
        return digest
    if _ANY_DIGEST_RE.match(digest):
        algorithm, hex_part = digest.split(":", 1)
        if algorithm == "sha256":
            detail = f"a sha256 digest has 64 lower-case hex digits, not {len(hex_part)}"
            if len(hex_part) == 64:
                detail = "a sha256 digest must be lower-case hex"
        else:
            detail = f"digest algorithm {algorithm!r} is not supported (only sha256)"
        raise InvalidReferenceError(f"invalid reference {text!r}: {detail}")
    raise InvalidReferenceError(
        f"invalid reference {text!r}: {digest!r} is not a valid digest (sha256:<64 hex digits>)"
    )
