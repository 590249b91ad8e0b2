"""Rule bundles over HTTP(S): one URL that a fleet of servers polls for its rules.

A bundle is one YAML rule file, or a `.tar.gz` (or plain `.tar`) of a rules
folder, told apart by its content (and its `Content-Type`). `BundleOrigin` fetches
it with httpx and polls it with `If-None-Match`; a new bundle is verified and
loaded completely before anything is swapped. Verification, when configured:

- `sha256`: the hex SHA-256 digest of the bundle's bytes must be this one;
- `hmac_key`: the response must carry `X-Bundle-Signature: sha256=<hex>`, the
  HMAC-SHA256 of the bundle's bytes under that key.

The last good bundle is kept in `cache_dir` (one file per URL, written to a
temporary file and renamed into place), so a cold start works while the bundle
server is down. Archives are unpacked with limits on size and file count; links,
devices, absolute paths and `..` are refused, and `tarfile`'s `data` filter
applies on top.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import io
import json
import logging
import os
import posixpath
import ssl
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass, replace
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import httpx

from compliance.errors import ComplianceError, ConfigError, RuleFileError
from compliance.rules import load_rules, load_rules_text
from compliance.rules.model import RuleSet

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
#: An archive whose contents add up to more than this, unpacked, is refused.
MAX_UNPACKED_BYTES: Final = 64 * 1024 * 1024
#: An archive with more entries than this is refused.
MAX_FILES: Final = 10_000
#: Seconds to wait for the bundle server (connect, and between bytes).
TIMEOUT: Final = 10.0

_CACHE_MAGIC: Final = b"compliance-bundle 1\n"
_GZIP_MAGIC: Final = b"\x1f\x8b"
_TAR_TYPES: Final = frozenset(
    {
        "application/gzip",
        "application/x-gzip",
        "application/x-tar",
        "application/x-gtar",
        "application/x-compressed-tar",
    }
)


class BundleError(ComplianceError):
    """A bundle that could not be fetched, verified or unpacked (the message says why)."""


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

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


# --- reading a bundle ----------------------------------------------------------------------


def load_bundle(data: bytes, name: str = "rules.yaml", content_type: str | None = None) -> RuleSet:
    """Load the rule set a bundle holds: a YAML file, or a tar(.gz) of a rules folder.

    `name` is what problems in a single-file bundle are reported against; in an
    archive they name the file's path inside it. Raises BundleError for a bundle
    that is not one, RuleFileError for rules that do not load.
    """
    if not data.strip():
        raise BundleError("the bundle is empty")
    if _is_archive(data, content_type):
        with tempfile.TemporaryDirectory(prefix="compliance-bundle-") as folder:
            _unpack(data, folder)
            try:
                return load_rules(folder)
            except RuleFileError as exc:
                raise _relative_to(exc, folder) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BundleError(f"the bundle is neither a YAML file (not UTF-8 text: {exc.reason}) nor a tar.gz") from None
    if "\x00" in text:
        raise BundleError("the bundle is neither a YAML file (it holds NUL bytes) nor a tar.gz")
    return load_rules_text(text, name)


def _is_archive(data: bytes, content_type: str | None) -> bool:
    if data[:2] == _GZIP_MAGIC or data[257:262] == b"ustar":
        return True
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in _TAR_TYPES


def _unpack(data: bytes, folder: str) -> None:
    raw = data
    if data[:2] == _GZIP_MAGIC:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            raw = inflater.decompress(data, MAX_UNPACKED_BYTES + 1)
        except zlib.error as exc:
            raise BundleError(f"the bundle is not a valid gzip file: {exc}") from None
        if len(raw) > MAX_UNPACKED_BYTES or inflater.unconsumed_tail:
            raise BundleError(f"the bundle unpacks to more than {MAX_UNPACKED_BYTES} bytes")
        if not inflater.eof:
            raise BundleError("the bundle is a truncated gzip file")
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as archive:
            members = _checked_members(archive)
            archive.extractall(folder, members=members, filter="data")
    except tarfile.TarError as exc:
        raise BundleError(f"the bundle is not a valid tar archive: {exc}") from None


def _checked_members(archive: tarfile.TarFile) -> list[tarfile.TarInfo]:
    members: list[tarfile.TarInfo] = []
    total = 0
    for member in archive:
        if len(members) >= MAX_FILES:
            raise BundleError(f"the bundle holds more than {MAX_FILES} entries")
        name = member.name
        parts = [part for part in name.replace("\\", "/").split("/") if part not in ("", ".")]
        if name.startswith(("/", "\\")) or posixpath.isabs(name) or (len(name) > 1 and name[1] == ":"):
            raise BundleError(f"the bundle holds an absolute path: {name!r}")
        if ".." in parts:
            raise BundleError(f"the bundle holds a path that leaves its folder: {name!r}")
        if member.issym() or member.islnk():
            raise BundleError(f"the bundle holds a link: {name!r}")
        if not (member.isfile() or member.isdir()):
            raise BundleError(f"the bundle holds something that is neither a file nor a folder: {name!r}")
        total += member.size
        if total > MAX_UNPACKED_BYTES:
            raise BundleError(f"the bundle unpacks to more than {MAX_UNPACKED_BYTES} bytes")
        if parts:
            members.append(member)
    if not any(m.isfile() and m.name.endswith((".yaml", ".yml")) for m in members):
        raise BundleError("the bundle holds no *.yaml or *.yml rule files")
    return members


def _relative_to(exc: RuleFileError, folder: str) -> RuleFileError:
    """The same problems, naming each file by its path inside the bundle."""
    prefix = os.path.join(folder, "")

    def inside(path: str) -> str:
        if path == folder:
            return "."
        return path[len(prefix) :].replace(os.sep, "/") if path.startswith(prefix) else path

    return RuleFileError(replace(problem, path=inside(problem.path)) for problem in exc.problems)


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
    ) -> None:
        self.url = url
        self.display = redact_url(url)
        self.sha256 = _check_sha256(sha256)
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
        if bundle.digest == self.seen and self.standing_error is not None:
            self.etag = bundle.etag
            return None
        ruleset = self._examine(bundle)
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
            client = self._client = httpx.Client(
                timeout=self.timeout, follow_redirects=True, headers=self.headers, verify=_tls_context()
            )
        return client

    def fetch(self, client: httpx.Client, etag: str | None) -> Bundle | None:
        """GET the bundle; None when the server says it has not changed since `etag`."""
        headers = {"If-None-Match": etag} if etag else {}
        try:
            with client.stream("GET", self.url, headers=headers) as response:
                if response.status_code == 304 and etag:
                    self.fetched_at = time.time()
                    return None
                if response.status_code != 200:
                    raise BundleError(f"the server answered HTTP {response.status_code} {response.reason_phrase}")
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > MAX_BUNDLE_BYTES:
                    raise BundleError(f"the bundle is larger than {MAX_BUNDLE_BYTES} bytes")
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_BUNDLE_BYTES:
                        raise BundleError(f"the bundle is larger than {MAX_BUNDLE_BYTES} bytes")
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise BundleError(f"the bundle could not be fetched ({type(exc).__name__}: {reason})") from None
        self.fetched_at = time.time()
        return Bundle(
            data=b"".join(chunks),
            etag=response.headers.get("etag"),
            signature=response.headers.get(SIGNATURE_HEADER),
            content_type=response.headers.get("content-type"),
            fetched_at=self.fetched_at,
        )

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

    def _examine(self, bundle: Bundle) -> RuleSet:
        """Verify and load; remember the bundle as examined either way."""
        self.etag, self.seen = bundle.etag, bundle.digest
        try:
            self.verify(bundle)
            ruleset = load_bundle(bundle.data, self.name, bundle.content_type)
        except (BundleError, RuleFileError) as exc:
            self.standing_error = exc
            raise
        self.standing_error = None
        return ruleset

    def _load_cached(self, cached: Bundle) -> RuleSet | None:
        try:
            self.verify(cached)
            ruleset = load_bundle(cached.data, self.name, cached.content_type)
        except (BundleError, RuleFileError) as exc:
            logger.error("compliance: the cached rule bundle %s is not usable:\n%s", self.cache_path, describe(exc))
            return None
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
    return httpx.create_ssl_context()


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
