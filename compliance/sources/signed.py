"""Ed25519 signatures of rule bundles, detached: `rules.tar.gz` beside `rules.tar.gz.sig`.

A signature a compromised server cannot forge: the servers hold only public keys
(`bundle_public_keys`); the private key stays with whoever publishes rules
(`compliance bundle sign`). A plain object store can serve both files. The
signature file is one JSON object:

    {"format": 1, "bundle_sha256": "<hex>", "revision": 1767225600,
     "expires": "2027-01-01T00:00:00Z", "key": "<key id>", "signature": "<base64>"}

signed (Ed25519) over the canonical form of the object without `signature`
(sorted keys, no spaces, ASCII). `revision` only grows: a server keeps the
revision of the bundle in force (with the cached bundle, across restarts) and
refuses an older one, so an old bundle, validly signed, cannot be replayed;
`expires`, where given, bounds how long a bundle may be served at all. `key` is
the first 16 hex digits of the SHA-256 of the raw public key; several public keys
may be configured at once, which is how a key is rotated.

Signing and checking need the `cryptography` package (the `signing` extra): a
server that does not check signatures does not need it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from compliance.errors import ComplianceError, ConfigError

__all__ = ["SIGNATURE_SUFFIX", "SignatureError", "Verifier", "generate_key", "key_id", "sign_bundle"]

SIGNATURE_SUFFIX: Final = ".sig"
_MAX_SIGNATURE_FILE: Final = 4096


class SignatureError(ComplianceError):
    """A bundle signature that is missing, malformed, by an unknown key, wrong, expired or replayed."""


def _crypto(what: str) -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
    except ImportError:
        raise ConfigError(f'{what} needs the cryptography package: pip install "compliance-notices[signing]"') from None
    return serialization


def _canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def key_id(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


def generate_key() -> tuple[bytes, bytes]:
    """A new Ed25519 key pair: (the private key, the public key), both PEM."""
    serialization = _crypto("making a signing key")
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    private_pem: bytes = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem: bytes = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


def sign_bundle(data: bytes, private_pem: bytes, revision: int, expires: float | None = None) -> bytes:
    """The signature file of bundle `data`, signed with the Ed25519 private key `private_pem`."""
    serialization = _crypto("signing a bundle")
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        private = serialization.load_pem_private_key(private_pem, password=None)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"the signing key is not an unencrypted PEM private key: {error}") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise ConfigError("the signing key is not an Ed25519 key; make one with: compliance bundle keygen")
    if isinstance(revision, bool) or not isinstance(revision, int) or revision < 0:
        raise ConfigError(f"the revision is a whole number that only grows, not {revision!r}")
    public_raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    document: dict[str, Any] = {
        "format": 1,
        "bundle_sha256": hashlib.sha256(data).hexdigest(),
        "revision": revision,
        "expires": None if expires is None else _iso(expires),
        "key": key_id(public_raw),
    }
    document["signature"] = base64.b64encode(private.sign(_canonical(document))).decode("ascii")
    return json.dumps(document, indent=1).encode("ascii") + b"\n"


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Checked:
    revision: int
    expires: float | None


class Verifier:
    """The public keys a bundle's signature may be made with."""

    def __init__(self, keys: Iterable[str | os.PathLike[str] | bytes]) -> None:
        serialization = _crypto("bundle_public_keys")
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        self._keys: dict[str, Any] = {}
        for key in keys:
            pem = key if isinstance(key, bytes) else _read(key)
            try:
                public = serialization.load_pem_public_key(pem)
            except ValueError as error:
                raise ConfigError(f"a bundle public key is not a PEM public key: {error}") from None
            if not isinstance(public, Ed25519PublicKey):
                raise ConfigError("a bundle public key is not an Ed25519 key; make one with: compliance bundle keygen")
            raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            self._keys[key_id(raw)] = public
        if not self._keys:
            raise ConfigError("bundle_public_keys names no key")

    def check(self, signature_file: bytes | None, digest: str, now: float | None = None) -> Checked:
        """The signed revision and expiry of the bundle whose SHA-256 is `digest`; SignatureError otherwise."""
        from cryptography.exceptions import InvalidSignature

        if signature_file is None:
            raise SignatureError("the bundle has no signature file beside it, and bundle_public_keys is configured")
        if len(signature_file) > _MAX_SIGNATURE_FILE:
            raise SignatureError("the bundle's signature file is too large to be one")
        try:
            document = json.loads(signature_file)
            if not isinstance(document, dict) or document.get("format") != 1:
                raise ValueError("not a format 1 signature file")
            signature = base64.b64decode(str(document["signature"]), validate=True)
            unsigned = {k: v for k, v in document.items() if k != "signature"}
            revision = document["revision"]
            if isinstance(revision, bool) or not isinstance(revision, int):
                raise ValueError("the revision is not a whole number")
            expires = document.get("expires")
            ends = None if expires is None else datetime.fromisoformat(str(expires).replace("Z", "+00:00")).timestamp()
        except (ValueError, KeyError, TypeError, binascii.Error) as error:
            raise SignatureError(f"the bundle's signature file cannot be read: {error}") from None
        public = self._keys.get(str(document.get("key")))
        if public is None:
            raise SignatureError(
                f"the bundle is signed with the key {document.get('key')!r}, which is not among bundle_public_keys"
            )
        try:
            public.verify(signature, _canonical(unsigned))
        except InvalidSignature:
            raise SignatureError("the bundle's signature does not verify under its key") from None
        if document.get("bundle_sha256") != digest:
            raise SignatureError("the signature is for another bundle (its bundle_sha256 differs)")
        if ends is not None and ends <= (time.time() if now is None else now):
            raise SignatureError(f"the bundle's signature expired at {expires}")
        return Checked(revision, ends)


def _read(path: str | os.PathLike[str]) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(_MAX_SIGNATURE_FILE)
    except OSError as error:
        raise ConfigError(f"the bundle public key {os.fspath(path)!r} cannot be read: {error.strerror}") from None
