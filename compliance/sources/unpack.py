"""What a rule bundle holds: one YAML rule file, or a tar(.gz) of a rules folder, unpacked within limits.

Archives are unpacked with limits on size and file count; links, devices,
absolute paths and `..` are refused, and `tarfile`'s `data` filter applies on top.
"""

from __future__ import annotations

import io
import os
import posixpath
import tarfile
import tempfile
import zlib
from dataclasses import replace
from typing import Final

from compliance.errors import ComplianceError, RuleFileError
from compliance.rules import load_rules, load_rules_text
from compliance.rules.model import RuleSet

__all__ = ["MAX_FILES", "MAX_UNPACKED_BYTES", "BundleError", "load_bundle"]

#: An archive whose contents add up to more than this, unpacked, is refused.
MAX_UNPACKED_BYTES: Final = 64 * 1024 * 1024
#: An archive with more entries than this is refused.
MAX_FILES: Final = 10_000

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
