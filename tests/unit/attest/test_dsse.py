"""DSSE envelopes: PAE as the spec defines it, signatures an independent verifier accepts,
several signatures, every way verification fails (one line each), every way a key is read,
and the private key's material absent from every message, repr and log record."""

from __future__ import annotations

import base64
import json
import logging
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.hashes import SHA256, SHA384, SHA512
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from builder.attest.dsse import (
    SIGN_KEY_PASSWORD_ENV,
    Envelope,
    load_public_key,
    load_signing_key,
    parse_envelope,
    sign,
    verify,
)
from builder.attest.statement import IN_TOTO_MEDIA_TYPE
from builder.errors import SignatureError
from builder.log import redact
from tests.fixtures.signing_keys import KINDS, KeyPair, write_key_pair

PAYLOAD = b'{"_type":"https://in-toto.io/Statement/v1","subject":[]}'


@pytest.fixture
def pair(tmp_path: Path) -> KeyPair:
    return write_key_pair(tmp_path / "keys", "ed25519", name="main")


@pytest.fixture
def other(tmp_path: Path) -> KeyPair:
    return write_key_pair(tmp_path / "keys", "p256", name="other")


def test_pae_is_the_spec_example() -> None:
    envelope = Envelope("http://example.com/HelloWorld", b"hello world", ())
    assert envelope.pae() == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_and_independent_check(tmp_path: Path, kind: str) -> None:
    pair = write_key_pair(tmp_path, kind)
    key = load_signing_key(pair.private)
    public = load_public_key(pair.public)
    assert key.keyid == public.keyid and len(key.keyid) == 64
    envelope = sign(PAYLOAD, IN_TOTO_MEDIA_TYPE, key)
    assert verify(envelope, public) == (IN_TOTO_MEDIA_TYPE, PAYLOAD)
    document = json.loads(envelope)
    assert base64.b64decode(document["payload"]) == PAYLOAD
    assert document["payloadType"] == IN_TOTO_MEDIA_TYPE
    [signature] = document["signatures"]
    assert signature["keyid"] == key.keyid
    # pyca/cryptography alone, over the PAE written out by hand: the signature is DSSE's.
    pae = b"DSSEv1 %d %b %d %b" % (len(IN_TOTO_MEDIA_TYPE), IN_TOTO_MEDIA_TYPE.encode(),
                                   len(PAYLOAD), PAYLOAD)
    verifier = load_pem_public_key(pair.public.read_bytes())
    sig = base64.b64decode(signature["sig"])
    if isinstance(verifier, ec.EllipticCurvePublicKey):
        digest = {"p256": SHA256, "p384": SHA384, "p521": SHA512}[kind]()
        verifier.verify(sig, pae, ec.ECDSA(digest))
    else:
        verifier.verify(sig, pae)  # type: ignore[call-arg, union-attr]


def two_signatures(pair: KeyPair, other: KeyPair) -> bytes:
    first = json.loads(sign(PAYLOAD, IN_TOTO_MEDIA_TYPE, load_signing_key(pair.private)))
    second = json.loads(sign(PAYLOAD, IN_TOTO_MEDIA_TYPE, load_signing_key(other.private)))
    first["signatures"] += second["signatures"]
    return json.dumps(first).encode()


def test_several_signatures_each_key_verifies(pair: KeyPair, other: KeyPair,
                                              tmp_path: Path) -> None:
    envelope = two_signatures(pair, other)
    assert verify(envelope, load_public_key(pair.public))[1] == PAYLOAD
    assert verify(envelope, load_public_key(other.public))[1] == PAYLOAD
    stranger = load_public_key(write_key_pair(tmp_path / "s", "ed25519").public)
    with pytest.raises(SignatureError, match=f"^not signed by key {stranger.keyid} "):
        verify(envelope, stranger)


def test_a_signature_without_keyid_is_tried(pair: KeyPair) -> None:
    document = json.loads(sign(PAYLOAD, IN_TOTO_MEDIA_TYPE, load_signing_key(pair.private)))
    del document["signatures"][0]["keyid"]
    assert verify(json.dumps(document).encode(), load_public_key(pair.public))[1] == PAYLOAD


def tampered(envelope: bytes, part: str) -> bytes:
    document = json.loads(envelope)
    if part == "payload":
        document["payload"] = base64.b64encode(PAYLOAD.replace(b"[]", b"[{}]")).decode()
    elif part == "payloadType":
        document["payloadType"] = "application/json"
    else:
        sig = bytearray(base64.b64decode(document["signatures"][0]["sig"]))
        sig[len(sig) // 2] ^= 1
        document["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    return json.dumps(document).encode()


@pytest.mark.parametrize("part", ["payload", "payloadType", "sig"])
def test_tampering_fails_in_one_line(pair: KeyPair, part: str) -> None:
    envelope = sign(PAYLOAD, IN_TOTO_MEDIA_TYPE, load_signing_key(pair.private))
    public = load_public_key(pair.public)
    with pytest.raises(SignatureError) as caught:
        verify(tampered(envelope, part), public)
    assert str(caught.value) == (
        f"the signature by key {public.keyid} does not verify: "
        "the payload or the signature was changed"
    )


def test_wrong_key_names_both_ids(pair: KeyPair, other: KeyPair) -> None:
    key = load_signing_key(pair.private)
    wrong = load_public_key(other.public)
    with pytest.raises(SignatureError) as caught:
        verify(sign(PAYLOAD, IN_TOTO_MEDIA_TYPE, key), wrong)
    assert str(caught.value) == f"not signed by key {wrong.keyid} (signed by {key.keyid})"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not json", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"payload":"e30=","signatures":[{"sig":"AA=="}]}', "no payloadType"),
        (b'{"payload":"e30=","payloadType":"t","signatures":[]}', "no signatures"),
        (b'{"payloadType":"t","signatures":[{"sig":"AA=="}]}', "no payload"),
        (b'{"payload":"e30=","payloadType":"t","signatures":["x"]}', "a signature is not an"),
        (b'{"payload":"e30=","payloadType":"t","signatures":[{}]}', "no sig"),
        (b'{"payload":"%%","payloadType":"t","signatures":[{"sig":"AA"}]}',
         "payload is not base64"),
        (b'{"payload":"e30","payloadType":"t","signatures":[{"sig":"AA","keyid":1}]}',
         "a keyid is not a string"),
    ],
)
def test_malformed_envelopes(data: bytes, message: str) -> None:
    with pytest.raises(SignatureError, match=f"^not a DSSE envelope: {message}"):
        parse_envelope(data)


def test_unpadded_and_url_safe_base64_are_read() -> None:
    parsed = parse_envelope(b'{"payload":"e30","payloadType":"t","signatures":[{"sig":"-_8"}]}')
    assert parsed.payload == b"{}" and parsed.signatures[0].sig == b"\xfb\xff"


def test_key_sources(pair: KeyPair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keyid = load_public_key(pair.public).keyid
    monkeypatch.setenv("KEY_TEXT", pair.private_pem)
    monkeypatch.setenv("KEY_FILE", str(pair.private))
    for source in (pair.private, str(pair.private), pair.private_pem, "env://KEY_TEXT",
                   "env://KEY_FILE"):
        assert load_signing_key(source).keyid == keyid
    assert load_signing_key("env://KEY_TEXT").source == "$KEY_TEXT"
    assert load_signing_key(pair.private_pem).source == "the PEM key given"


def test_encrypted_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pair = write_key_pair(tmp_path, "p256", password=b"correct horse")
    with pytest.raises(SignatureError, match="encrypted and \\$MULTIARCH_SIGN_KEY_PASSWORD"):
        load_signing_key(pair.private)
    monkeypatch.setenv(SIGN_KEY_PASSWORD_ENV, "wrong horse")
    with pytest.raises(SignatureError, match="wrong passphrase"):
        load_signing_key(pair.private)
    monkeypatch.setenv(SIGN_KEY_PASSWORD_ENV, "correct horse")
    assert load_signing_key(pair.private).keyid == load_public_key(pair.public).keyid


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: str(d / "absent.pem"), "cannot read the key .*absent.pem: No such file"),
        (lambda d: "env://MULTIARCH_TEST_UNSET", "^\\$MULTIARCH_TEST_UNSET is not set"),
        (lambda d: write_key_pair(d, "ed25519").public, "not a PEM private key \\(it is a pub"),
        (lambda d: write_key_pair(d, "rsa").private, "a RSA key; signing takes ed25519 or"),
        (lambda d: write_key_pair(d, "secp256k1").private, "unsupported curve"),
        (lambda d: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
         "^the PEM key given: cannot read the private key"),
    ],
    ids=["missing", "unset-env", "public", "rsa", "secp256k1", "garbage"],
)
def test_unusable_signing_keys(
    tmp_path: Path, make: Callable[[Path], str | Path], message: str
) -> None:
    with pytest.raises(SignatureError, match=message):
        load_signing_key(make(tmp_path))


def test_verifying_takes_a_public_key(pair: KeyPair, tmp_path: Path) -> None:
    with pytest.raises(SignatureError, match="a private key; verifying takes the public") as e:
        load_public_key(pair.private)
    assert all(line not in str(e.value) + str(e.value.hint) for line in pair.secret_lines())
    (tmp_path / "junk.pub").write_text("hello")
    with pytest.raises(SignatureError, match="junk.pub: not a PEM public key"):
        load_public_key(tmp_path / "junk.pub")


def test_private_material_never_shown(pair: KeyPair, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch,
                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    shown: list[str] = []
    key = load_signing_key(pair.private_pem)
    shown += [repr(key), str(key), repr(load_signing_key(pair.private))]
    monkeypatch.setenv("KEY_TEXT", pair.private_pem)
    shown.append(repr(load_signing_key("env://KEY_TEXT")))
    envelope = sign(PAYLOAD, IN_TOTO_MEDIA_TYPE, key)
    shown.append(envelope.decode())
    # A damaged key (one line changed) and a wrong passphrase: the errors name, never quote.
    lines = pair.private_pem.splitlines()
    damaged = "\n".join([lines[0], lines[1][:-4] + "!!!!", *lines[2:]])
    for bad in (damaged, "env://KEY_TEXT_BAD"):
        monkeypatch.setenv("KEY_TEXT_BAD", damaged)
        with pytest.raises(SignatureError) as caught:
            load_signing_key(bad)
        shown += [str(caught.value), str(caught.value.hint)]
    shown += [record.getMessage() for record in caplog.records]
    # Loading registered the key with the log redactor: a record that quoted it would show ***.
    shown.append(redact(f"key: {pair.private_pem}"))
    for text in shown:
        for line in pair.secret_lines():
            assert line not in text, text


@pytest.mark.parametrize(
    "make",
    [["genpkey", "-algorithm", "ed25519"], ["ecparam", "-name", "prime256v1", "-genkey", "-noout"]],
    ids=["openssl-genpkey-ed25519", "openssl-ecparam-sec1"],
)
def test_keys_made_by_openssl(tmp_path: Path, make: list[str]) -> None:
    private, public = tmp_path / "key.pem", tmp_path / "key.pub"
    subprocess.run(["openssl", *make, "-out", str(private)], check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", str(private), "-pubout", "-out", str(public)],
                   check=True, capture_output=True)
    envelope = sign(PAYLOAD, IN_TOTO_MEDIA_TYPE, load_signing_key(private))
    assert verify(envelope, load_public_key(public)) == (IN_TOTO_MEDIA_TYPE, PAYLOAD)
