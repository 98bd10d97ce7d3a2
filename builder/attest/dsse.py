"""DSSE envelopes (secure-systems-lab/dsse v1) around attestations: sign with a private key,
verify with its public key. securesystemslib does the cryptography (ed25519 and ECDSA P-256,
P-384, P-521 keys in PEM); this module reads the keys, keeps their private material out of
every message and log line, and turns each failure into one line.

A signing key comes from a PEM file, from PEM text, or from an environment variable named
`env://NAME` (cosign's spelling) whose value is PEM text or a path — so a GitLab CI/CD variable
works as a "Variable" and as a "File". `$MULTIARCH_SIGN_KEY` is the conventional variable.
An encrypted PKCS#8 key takes its passphrase from `$MULTIARCH_SIGN_KEY_PASSWORD`.

Key ids are securesystemslib's default: the sha256 of the public key's canonical form, so the
signer and the verifier compute the same id from either half of the pair.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ec import (
    EllipticCurvePrivateKey,
    EllipticCurvePublicKey,
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key
from securesystemslib.dsse import Envelope as SslibEnvelope
from securesystemslib.exceptions import UnverifiedSignatureError, VerificationError
from securesystemslib.signer import CryptoSigner, Signature, SSlibKey

from builder.errors import SignatureError, UsageError
from builder.log import register_secret
from builder.option_choices import ENV_PREFIX, SIGN_KEY_ENV, SIGN_KEY_PASSWORD_ENV

__all__ = [
    "ENV_PREFIX", "SIGN_KEY_ENV", "SIGN_KEY_PASSWORD_ENV", "Envelope", "PublicKey", "Signed",
    "SigningKey", "key_reference", "load_public_key", "load_signing_key", "parse_envelope",
    "sign", "verify",
]

_PEM_BEGIN = "-----BEGIN "
_KINDS = "ed25519 or ECDSA (P-256, P-384, P-521)"


@dataclass(frozen=True)
class PublicKey:
    """A verification key; `keyid` is what signatures made by its private half name."""

    key: SSlibKey
    source: str

    @property
    def keyid(self) -> str:
        return self.key.keyid


@dataclass(frozen=True)
class SigningKey:
    """A private key ready to sign. Its repr and str name the key id, never the key."""

    signer: CryptoSigner = field(repr=False)
    source: str

    @property
    def keyid(self) -> str:
        return self.signer.public_key.keyid

    def __str__(self) -> str:
        return f"signing key {self.keyid} ({self.source})"

    def pem(self) -> bytes:
        """The key as unencrypted PKCS#8 PEM, for a runner that signs on another host (the
        ssh runner hands it over on the connection's stdin); registered for redaction."""
        data = self.signer.private_bytes
        register_secret(data)
        return data


@dataclass(frozen=True)
class Signed:
    """One signature of an envelope: the key id it names (DSSE makes it optional) and the
    signature bytes."""

    keyid: str | None
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    """A parsed, not yet verified, DSSE envelope."""

    payload_type: str
    payload: bytes
    signatures: tuple[Signed, ...]

    def pae(self) -> bytes:
        """DSSE's pre-authentication encoding: what each signature signs."""
        return SslibEnvelope(self.payload, self.payload_type, {}).pae()


def load_signing_key(source: str | Path) -> SigningKey:
    """The private key at a path, in PEM text, or in `env://NAME` (PEM text or a path)."""
    where, data = _key_bytes(source)
    register_secret(data)  # the PEM lines, should any code path ever print them
    if b"PRIVATE KEY-----" not in data:
        raise SignatureError(
            f"{where}: not a PEM private key"
            + (" (it is a public key)" if b"PUBLIC KEY-----" in data else ""),
            hint=f"--sign-key takes a PKCS#8 PEM private key, {_KINDS}",
        )
    password = os.environ.get(SIGN_KEY_PASSWORD_ENV)
    try:
        private = load_pem_private_key(data, password.encode() if password else None)
    except TypeError:  # cryptography: encrypted without a password, or a password for none
        raise SignatureError(
            f"{where}: the key is encrypted and ${SIGN_KEY_PASSWORD_ENV} is not set"
            if not password
            else f"{where}: the key is not encrypted but ${SIGN_KEY_PASSWORD_ENV} is set"
        ) from None
    except (ValueError, binascii.Error):  # never repeat the library's text: it may quote data
        raise SignatureError(
            f"{where}: cannot read the private key (wrong passphrase, or not PKCS#8 PEM)",
            hint=f"keys: {_KINDS}, e.g. `openssl genpkey -algorithm ed25519 -out key.pem`",
        ) from None
    if not isinstance(private, Ed25519PrivateKey | EllipticCurvePrivateKey):
        raise SignatureError(f"{where}: a {_kind(private)} key; signing takes {_KINDS}")
    try:
        return SigningKey(CryptoSigner(private), where)
    except ValueError:
        raise SignatureError(f"{where}: unsupported curve; signing takes {_KINDS}") from None


def key_reference(flag: str | None) -> str | None:
    """Where a build's signing key is: --sign-key (a file or env://NAME), else
    env://MULTIARCH_SIGN_KEY when that variable is set, else None (unsigned). The key itself
    is refused: process lists, CI logs and passed-on options show command lines."""
    if flag and flag.lstrip().startswith(_PEM_BEGIN):
        raise UsageError(
            "--sign-key takes a file or env://NAME, never the key itself",
            hint=f"export {SIGN_KEY_ENV} (PEM text or a path), or --sign-key PATH",
        )
    if flag:
        return flag
    return f"{ENV_PREFIX}{SIGN_KEY_ENV}" if os.environ.get(SIGN_KEY_ENV) else None


def load_public_key(path: Path) -> PublicKey:
    """The public key in a PEM file (SubjectPublicKeyInfo, `openssl pkey -pubout`)."""
    where, data = _key_bytes(path)
    if b"PRIVATE KEY-----" in data:
        register_secret(data)
        raise SignatureError(
            f"{where}: a private key; verifying takes the public key",
            hint=f"openssl pkey -in {path} -pubout -out {Path(path).stem}.pub",
        )
    try:
        public = load_pem_public_key(data)
    except (ValueError, binascii.Error):
        raise SignatureError(f"{where}: not a PEM public key") from None
    if not isinstance(public, Ed25519PublicKey | EllipticCurvePublicKey):
        raise SignatureError(f"{where}: a {_kind(public)} key; verifying takes {_KINDS}")
    try:
        return PublicKey(SSlibKey.from_crypto(public), where)
    except ValueError:
        raise SignatureError(f"{where}: unsupported curve; verifying takes {_KINDS}") from None


def sign(payload: bytes, payload_type: str, key: SigningKey) -> bytes:
    """The DSSE envelope JSON of `payload`, signed by `key`."""
    envelope = SslibEnvelope(payload, payload_type, {})
    envelope.sign(key.signer)
    return json.dumps(envelope.to_dict(), separators=(",", ":")).encode()


def verify(envelope: bytes, key: PublicKey) -> tuple[str, bytes]:
    """(payload type, payload) of an envelope one of whose signatures `key` verifies.
    Signatures naming another key id are skipped; one naming none is tried."""
    parsed = parse_envelope(envelope)
    pae = parsed.pae()
    tried = 0
    for signed in parsed.signatures:
        if signed.keyid not in (None, key.keyid):
            continue
        tried += 1
        try:
            key.key.verify_signature(Signature(key.keyid, signed.sig.hex()), pae)
        except (UnverifiedSignatureError, VerificationError):
            continue
        return parsed.payload_type, parsed.payload
    if tried:
        raise SignatureError(
            f"the signature by key {key.keyid} does not verify: "
            "the payload or the signature was changed"
        )
    others = ", ".join(sorted({s.keyid or "?" for s in parsed.signatures}))
    raise SignatureError(f"not signed by key {key.keyid} (signed by {others})")


def parse_envelope(data: bytes) -> Envelope:
    """The envelope's fields, checked for shape; nothing is verified."""
    try:
        document = json.loads(data)
    except ValueError:
        raise SignatureError("not a DSSE envelope: not JSON") from None
    if not isinstance(document, dict):
        raise SignatureError("not a DSSE envelope: not a JSON object")
    payload_type = document.get("payloadType")
    signatures = document.get("signatures")
    if not isinstance(payload_type, str):
        raise SignatureError("not a DSSE envelope: no payloadType")
    if not isinstance(signatures, list) or not signatures:
        raise SignatureError("not a DSSE envelope: no signatures")
    return Envelope(
        payload_type,
        _base64(document.get("payload"), "payload"),
        tuple(_signed(entry) for entry in signatures),
    )


def _signed(entry: Any) -> Signed:
    if not isinstance(entry, dict):
        raise SignatureError("not a DSSE envelope: a signature is not an object")
    keyid = entry.get("keyid") or None
    if keyid is not None and not isinstance(keyid, str):
        raise SignatureError("not a DSSE envelope: a keyid is not a string")
    return Signed(keyid, _base64(entry.get("sig"), "sig"))


def _base64(value: Any, name: str) -> bytes:
    """DSSE allows standard and URL-safe base64, padded or not."""
    if not isinstance(value, str):
        raise SignatureError(f"not a DSSE envelope: no {name}")
    text = value.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        raise SignatureError(f"not a DSSE envelope: {name} is not base64") from None


def _key_bytes(source: str | Path) -> tuple[str, bytes]:
    """(how messages name the key, its bytes). PEM text is named, never quoted."""
    if isinstance(source, str) and source.startswith(ENV_PREFIX):
        name = source.removeprefix(ENV_PREFIX)
        value = os.environ.get(name)
        if not value:
            raise SignatureError(f"${name} is not set (--sign-key {source})")
        if value.lstrip().startswith(_PEM_BEGIN):
            return f"${name}", value.encode()
        source = Path(value)
    elif isinstance(source, str) and source.lstrip().startswith(_PEM_BEGIN):
        return "the PEM key given", source.encode()
    path = Path(source)
    try:
        return str(path), path.read_bytes()
    except OSError as err:
        raise SignatureError(f"cannot read the key {path}: {err.strerror}") from None


def _kind(key: object) -> str:
    return type(key).__name__.removeprefix("_").replace("PrivateKey", "").replace("PublicKey", "")
