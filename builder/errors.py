"""One error hierarchy for the whole tool.

Every error carries a user-facing message and an optional hint; the CLI prints
`error: MESSAGE` (and `hint: HINT`) and exits 1 for these, 2 for usage errors.
"""

from __future__ import annotations


class MultiarchError(Exception):
    """Base of every error we raise on purpose. `str(err)` is the one-line message."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(MultiarchError):
    """Wrong flags or arguments."""

    exit_code = 2


class SourceError(MultiarchError):
    """A problem at a place in a user file (Dockerfile, YAML spec): names file:line[:column]."""

    def __init__(
        self,
        message: str,
        *,
        file: str,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.column = column
        self.reason = message  # without the place
        where = file
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        super().__init__(f"{where}: {message}", hint)


class DockerfileError(SourceError):
    """A Dockerfile that cannot be parsed or evaluated."""


class SpecError(SourceError):
    """A YAML spec (build spec or manifest-tool spec) that is malformed or invalid."""


class InvalidReferenceError(MultiarchError):
    """An image reference that does not follow the reference grammar."""


class PlatformError(MultiarchError):
    """A platform string that cannot be parsed, or a platform that does not match."""


class DigestMismatchError(MultiarchError):
    """Content whose sha256 differs from the digest it was fetched or stored under."""


class RegistryError(MultiarchError):
    """A registry answered with an error, or could not be reached."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        status: int | None = None,
        codes: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message, hint)
        self.status = status
        self.codes = codes


class AuthError(RegistryError):
    """401/403: credentials missing, wrong, or lacking the scope asked for."""


class NotFoundError(RegistryError):
    """A manifest, blob or repository that does not exist."""


class TLSError(RegistryError):
    """Certificate verification failed."""


class TransportError(MultiarchError):
    """An image location (oci:, docker-archive:, ...) that is unusable."""


class LayerError(MultiarchError):
    """A layer that cannot be unpacked safely (escapes, bad format)."""


class SandboxError(MultiarchError):
    """A RUN step cannot be executed in the requested isolation mode."""


class BuildError(MultiarchError):
    """A build step failed."""


class StoreError(MultiarchError):
    """The local content store is unusable or inconsistent."""


class SignatureError(MultiarchError):
    """A signing key that cannot be used, or an attestation whose signature does not verify."""
