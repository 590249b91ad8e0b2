"""Rule bundles over HTTP(S): one URL that a fleet of servers polls for its rules.

A bundle is one YAML rule file, or a `.tar.gz` (or plain `.tar`) of a rules
folder, told apart by its content (and its `Content-Type`). `BundleOrigin` fetches
it with httpx and polls it with `If-None-Match`; a new bundle is verified and
loaded completely before anything is swapped. Verification, when configured:

- `sha256`: the hex SHA-256 digest of the bundle's bytes must be this one;
- `hmac_key`: the response must carry `X-Bundle-Signature: sha256=<hex>`, the
  HMAC-SHA256 of the bundle's bytes under that key;
- `public_keys`: an Ed25519 signature file beside the bundle (`URL.sig`), made by
  `compliance bundle sign` with a revision that only grows (`sources/signed.py`):
  the revision in force is kept with the cached bundle, and an older one refused.

A plain `http://` bundle with none of these is refused (anyone on the path could
change the rules) unless `allow_http` says so; loopback addresses are exempt.
Fetching is bounded in size, time and decoding (`sources/fetch.py`).

The last good bundle is kept in `cache_dir` (one file per URL, written to a
temporary file and renamed into place), so a cold start works while the bundle
server is down. Archives are unpacked with limits on size and file count; links,
devices, absolute paths and `..` are refused, and `tarfile`'s `data` filter
applies on top.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import posixpath
import ssl
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit, urlunsplit

from compliance.errors import ConfigError, RuleFileError
from compliance.rules.model import RuleSet
from compliance.sources.elsewhere import load_bundle_elsewhere
from compliance.sources.fetch import DEADLINE, FetchError, get
from compliance.sources.signed import SIGNATURE_SUFFIX, SignatureError, Verifier
from compliance.sources.unpack import MAX_FILES, MAX_UNPACKED_BYTES, BundleError, load_bundle

if TYPE_CHECKING:  # imported where a bundle is fetched: a worker serving local files never needs it
    import httpx

__all__ = [
    "MAX_BUNDLE_BYTES",
    "MAX_FILES",
    "MAX_UNPACKED_BYTES",
    "SIGNATURE_HEADER",
    "Bundle",
    "BundleError",
    "BundleOrigin",
    "is_url",
    "load_bundle",
    "redact_url",
    "sign",
]

logger = logging.getLogger("compliance")

#: The response header that carries the bundle's HMAC: `sha256=<hex>`.
SIGNATURE_HEADER: Final = "X-Bundle-Signature"
#: A bundle larger than this, as sent, is refused.
MAX_BUNDLE_BYTES: Final = 32 * 1024 * 1024
#: Seconds to wait for the bundle server (connect, and between bytes).
TIMEOUT: Final = 10.0

_CACHE_MAGIC: Final = b"compliance-bundle 1\n"


def is_url(location: object) -> bool:
    """Whether a `rules` option names a bundle URL rather than a file or folder."""
    return isinstance(location, str) and location[:8].lower().startswith(("http://", "https://"))


def redact_url(url: str) -> str:
    """The URL without credentials or query string, fit for a log line."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def sign(data: bytes, key: str | bytes) -> str:
    """The `X-Bundle-Signature` value for `data` under `key`: `sha256=<hex>`."""
    return "sha256=" + hmac.new(_key_bytes(key), data, hashlib.sha256).hexdigest()


def _key_bytes(key: str | bytes) -> bytes:
    return key.encode("utf-8") if isinstance(key, str) else bytes(key)


@dataclass(frozen=True, slots=True)
class Bundle:
    """One bundle as fetched: its bytes and what the server said about them."""

    data: bytes
    etag: str | None = None
    signature: str | None = None
    content_type: str | None = None
    fetched_at: float = 0.0
    #: The Ed25519 signature file served beside the bundle (where public keys are configured).
    detached: bytes | None = None

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


# --- fetching and keeping ------------------------------------------------------------------


class BundleOrigin:
    """Where the rules come from when `rules` is a URL: fetch, verify, load, keep the last good.

    `initial()` gives the rule set at start-up, its version and why the cache was
    used (from the server, else from the cache) or raises; `check()` polls once and gives a new rule set, or None when
    there is nothing new. Either raises for a bundle it refuses; `standing_error`
    is the refusal of the bundle the server currently holds, if it was refused.
    """

    def __init__(
        self,
        url: str,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        sha256: str | None = None,
        hmac_key: str | bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = TIMEOUT,
        public_keys: Iterable[str | os.PathLike[str] | bytes] | None = None,
        allow_http: bool = False,
        deadline: float = DEADLINE,
    ) -> None:
        self.url = url
        self.display = redact_url(url)
        self.sha256 = _check_sha256(sha256)
        self._verifier = None if public_keys is None else Verifier(public_keys)
        self.allow_http = bool(allow_http) or sha256 is not None or hmac_key is not None or public_keys is not None
        if not self.allow_http and urlsplit(url).scheme.lower() == "http" and not _loopback(url):
            raise ConfigError(
                f"the rule bundle {self.display} is plain http with no digest or signature: anyone on the path "
                "could change the rules. Serve it over https, or set bundle_public_keys (or bundle_sha256 or "
                "bundle_hmac_key); bundle_allow_http=True accepts it as it is"
            )
        self.deadline = deadline
        #: The signed revision of the bundle in force (with public keys), and that bundle's digest.
        self.revision: int | None = None
        self.revision_digest: str | None = None
        self._seen_detached: bytes | None = None
        if hmac_key is not None and (not isinstance(hmac_key, str | bytes) or not hmac_key):
            raise ConfigError("bundle_hmac_key must be a non-empty string or bytes")
        self._hmac_key = None if hmac_key is None else _key_bytes(hmac_key)
        self.headers = {str(k): str(v) for k, v in (headers or {}).items()}
        self.timeout = timeout
        self.cache_path: str | None = None
        if cache_dir is not None:
            folder = os.fspath(cache_dir)
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"cannot use the bundle cache folder {folder!r}: {exc.strerror or exc}") from None
            key = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
            self.cache_path = os.path.join(folder, f"bundle-{key}.cache")
        self.name = posixpath.basename(urlsplit(url).path) or "bundle.yaml"
        self.standing_error: Exception | None = None
        self.retry_in: float | None = None
        #: The ETag of the last bundle examined (in force or refused).
        self.etag: str | None = None
        #: The digest of the last bundle examined.
        self.seen: str | None = None
        self.fetched_at: float | None = None
        self._client: httpx.Client | None = None

    # -- the two entry points -------------------------------------------------------------

    def initial(self) -> tuple[RuleSet, str, Exception | None]:
        cached = self.read_cache()
        if cached is not None and self._verifier is not None:
            # The revision last in force, kept with the cached bundle: nothing older is taken, even after a restart.
            with contextlib.suppress(SignatureError):
                self.revision = self._verifier.check(cached.detached, cached.digest, now=0.0).revision
                self.revision_digest = cached.digest
        try:
            bundle = self.fetch(self._connection(), cached.etag if cached is not None else None)
            if bundle is None:
                if cached is None:
                    raise BundleError("the server answered 304 Not Modified to a request that had no ETag")
                bundle = cached
            ruleset = self._examine(bundle)
        except (BundleError, RuleFileError) as exc:
            fallback = None if cached is None else self._load_cached(cached)
            if cached is None or fallback is None:
                if isinstance(exc, RuleFileError):
                    raise
                where = f" and there is no usable cached bundle in {self.cache_path}" if self.cache_path else ""
                raise ConfigError(f"cannot load the rule bundle at {self.display}: {exc}{where}") from exc
            logger.error(
                "compliance: the rule bundle at %s could not be loaded; starting with the last good bundle "
                "from %s (version %s, fetched %s):\n%s",
                self.display,
                self.cache_path,
                cached.digest,
                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(cached.fetched_at)),
                describe(exc),
            )
            if self.seen is None:
                # Nothing was examined (the server could not be reached): poll from the cached
                # bundle, so that a server that comes back with it answers 304.
                self.etag, self.seen = cached.etag, cached.digest
            return fallback, cached.digest, exc
        if bundle is not cached:
            self.write_cache(bundle)
        return ruleset, bundle.digest, None

    def check(self, version: str, force: bool = False) -> tuple[RuleSet, str] | None:
        """Poll once. `version` is the digest of the bundle in force."""
        bundle = self.fetch(self._connection(), None if force else self.etag)
        if bundle is None:
            return None
        if bundle.digest == version:
            self.etag, self.seen, self.standing_error = bundle.etag, bundle.digest, None
            return None
        if bundle.digest == self.seen and bundle.detached == self._seen_detached and self.standing_error is not None:
            self.etag = bundle.etag
            return None
        ruleset = self._examine(bundle, elsewhere=True)
        self.write_cache(bundle)
        return ruleset, bundle.digest

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def after_fork(self) -> None:
        # The parent's connections belong to the parent: start a pool of our own.
        self._client = None

    # -- steps ---------------------------------------------------------------------------------

    def _connection(self) -> httpx.Client:
        client = self._client
        if client is None:
            # Redirects are followed by `fetch.get`, which keeps the headers on the bundle's own origin.
            import httpx

            client = self._client = httpx.Client(timeout=self.timeout, follow_redirects=False, verify=_tls_context())
        return client

    def fetch(self, client: httpx.Client, etag: str | None) -> Bundle | None:
        """GET the bundle; None when the server says it has not changed since `etag`."""
        conditional = {"If-None-Match": etag} if etag else {}
        try:
            response = get(
                client,
                self.url,
                credentials=self.headers,
                headers=conditional,
                max_bytes=MAX_BUNDLE_BYTES,
                deadline=self.deadline,
                allow_http=self.allow_http,
            )
            if response.status == 304:
                if not etag:
                    raise BundleError("the server answered 304 Not Modified to a request that had no ETag")
                self.fetched_at = time.time()
                return None
            detached = None
            if self._verifier is not None:
                detached = self._signature_file(client)
        except FetchError as exc:
            raise BundleError(str(exc)) from None
        self.fetched_at = time.time()
        return Bundle(
            data=response.data,
            etag=response.headers.get("etag"),
            signature=response.headers.get(SIGNATURE_HEADER),
            content_type=response.headers.get("content-type"),
            fetched_at=self.fetched_at,
            detached=detached,
        )

    def _signature_file(self, client: httpx.Client) -> bytes | None:
        parts = urlsplit(self.url)
        url = urlunsplit(parts._replace(path=parts.path + SIGNATURE_SUFFIX))
        try:
            return get(
                client,
                url,
                credentials=self.headers,
                max_bytes=4096,
                deadline=self.deadline,
                allow_http=self.allow_http,
            ).data
        except FetchError as exc:
            raise BundleError(f"the bundle's signature file {redact_url(url)} could not be fetched: {exc}") from None

    def verify(self, bundle: Bundle) -> None:
        """Raise BundleError unless the bundle matches the configured digest and signature."""
        if self.sha256 is not None and not hmac.compare_digest(bundle.digest, self.sha256):
            raise BundleError(f"the bundle's SHA-256 is {bundle.digest}, not the configured {self.sha256}")
        if self._hmac_key is not None:
            given = (bundle.signature or "").strip()
            if not given:
                raise BundleError(f"the bundle has no {SIGNATURE_HEADER} header, and an HMAC key is configured")
            expected = sign(bundle.data, self._hmac_key)
            if not hmac.compare_digest(given.lower().encode("latin-1", "replace"), expected.encode("ascii")):
                raise BundleError(f"the bundle's {SIGNATURE_HEADER} does not match its content under the HMAC key")
        if self._verifier is not None:
            try:
                revision = self._verifier.check(bundle.detached, bundle.digest).revision
            except SignatureError as exc:
                raise BundleError(str(exc)) from None
            last = self.revision
            if last is not None and (revision < last or (revision == last and bundle.digest != self.revision_digest)):
                raise BundleError(
                    f"the bundle is signed as revision {revision}, and revision {last} is in force: an older bundle "
                    "(or another one under the same revision) is refused, lest an old one be replayed"
                )

    def _signed_revision(self, bundle: Bundle) -> None:
        """Remember the revision of a signed bundle now in force."""
        if self._verifier is not None:
            self.revision = self._verifier.check(bundle.detached, bundle.digest).revision
            self.revision_digest = bundle.digest

    def _examine(self, bundle: Bundle, elsewhere: bool = False) -> RuleSet:
        """Verify and load (`elsewhere`: in the helper process, for a reload); remember the bundle as examined
        either way."""
        self.etag, self.seen, self._seen_detached = bundle.etag, bundle.digest, bundle.detached
        try:
            self.verify(bundle)
            load = load_bundle_elsewhere if elsewhere else load_bundle
            ruleset = load(bundle.data, self.name, bundle.content_type)
        except (BundleError, RuleFileError) as exc:
            self.standing_error = exc
            raise
        self.standing_error = None
        self._signed_revision(bundle)
        return ruleset

    def _load_cached(self, cached: Bundle) -> RuleSet | None:
        try:
            self.verify(cached)
            ruleset = load_bundle(cached.data, self.name, cached.content_type)
        except (BundleError, RuleFileError) as exc:
            logger.error("compliance: the cached rule bundle %s is not usable:\n%s", self.cache_path, describe(exc))
            return None
        self._signed_revision(cached)
        return ruleset

    # -- the cache -----------------------------------------------------------------------------

    def read_cache(self) -> Bundle | None:
        """The last good bundle kept on disk, or None (none, unreadable or damaged)."""
        if self.cache_path is None:
            return None
        try:
            with open(self.cache_path, "rb") as stream:
                blob = stream.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            logger.warning("compliance: cannot read the cached rule bundle %s: %s", self.cache_path, exc)
            return None
        try:
            if not blob.startswith(_CACHE_MAGIC):
                raise ValueError("not a bundle cache file")
            meta_line, _, data = blob[len(_CACHE_MAGIC) :].partition(b"\n")
            meta: dict[str, Any] = json.loads(meta_line)
            bundle = Bundle(
                data=data,
                etag=meta.get("etag"),
                signature=meta.get("signature"),
                content_type=meta.get("content_type"),
                fetched_at=float(meta.get("fetched_at", 0.0)),
                detached=base64.b64decode(meta["detached"]) if meta.get("detached") else None,
            )
            if meta.get("sha256") != bundle.digest or meta.get("url") != self.url:
                raise ValueError("its content does not match its record")
        except (ValueError, TypeError) as exc:
            logger.warning("compliance: ignoring the damaged cached rule bundle %s: %s", self.cache_path, exc)
            return None
        return bundle

    def write_cache(self, bundle: Bundle) -> None:
        """Keep `bundle` as the last good one: a temporary file in the cache folder, renamed over the old."""
        if self.cache_path is None:
            return
        meta = {
            "url": self.url,
            "sha256": bundle.digest,
            "etag": bundle.etag,
            "signature": bundle.signature,
            "content_type": bundle.content_type,
            "fetched_at": bundle.fetched_at,
            "detached": None if bundle.detached is None else base64.b64encode(bundle.detached).decode("ascii"),
        }
        blob = _CACHE_MAGIC + json.dumps(meta, separators=(",", ":")).encode("utf-8") + b"\n" + bundle.data
        folder = os.path.dirname(self.cache_path)
        try:
            fd, temp = tempfile.mkstemp(prefix=".bundle-", suffix=".tmp", dir=folder)
            try:
                with os.fdopen(fd, "wb") as stream:
                    stream.write(blob)
                    stream.flush()
                    os.fsync(stream.fileno())
                os.replace(temp, self.cache_path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
        except OSError as exc:
            logger.warning("compliance: cannot keep the rule bundle in %s: %s", self.cache_path, exc)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # httpx's default context (certifi's roots, SSL_CERT_FILE where set), built once: it takes
    # tens of milliseconds, and every source's client can share it.
    import httpx

    return httpx.create_ssl_context()


def _loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_sha256(value: str | None) -> str | None:
    if value is None:
        return None
    digest = value.strip().lower() if isinstance(value, str) else ""
    digest = digest.removeprefix("sha256:")
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ConfigError(f"bundle_sha256 {value!r} is not a hex SHA-256 digest (64 hex digits)")
    return digest


def describe(exc: BaseException) -> str:
    """An error as log lines: every problem of a RuleFileError (`FILE:LINE:COL: ...`), else its message."""
    if isinstance(exc, RuleFileError):
        return "\n".join(f"  {problem}" for problem in exc.problems)
    return f"  {exc}"
