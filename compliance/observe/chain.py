"""The hash chain that makes the audit trail tamper-evident.

Each process writes its events as one chain: every event carries

    "chain": "3f9c2a7be1d04c55"    the process's chain id (new in each process, and after a fork)
    "seq":   42                     its place in the chain, from 1
    "prev":  "9b1f...e4"            the hash of the chain's previous event ("" for the first)

so several workers may interleave in one file and each chain still reads in
order. The hash of an event is SHA-256 (the first 32 hex digits) over its
canonical form: the JSON object with sorted keys, ASCII only, no spaces. It
does not depend on how a log pipeline re-encodes the line, so an event kept as
a field of a JSON log formatter's output verifies as well as a bare line.

With an Ed25519 private key configured (`ComplianceMiddleware(audit_signing_key=...)`),
every `checkpoint_every` events of a chain are followed by a `checkpoint` event,
itself a link of the chain, signed over its canonical form without the
signature: whoever holds the public key can tell that the chain up to there was
written by a holder of the private key (the `cryptography` package signs).

`compliance audit verify` (`compliance.cli.audit`) checks what this writes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import operator
import os
import threading
import time
import uuid
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Final, Protocol

from compliance.errors import ConfigError

__all__ = [
    "CHAIN",
    "LINE_BREAKS",
    "Chain",
    "Signer",
    "canonical",
    "encode_event",
    "event_hash",
    "load_signer",
    "verify_signature",
    "write_linked",
    "write_prepared",
]

HASH_DIGITS: Final = 32
DEFAULT_CHECKPOINT_EVERY: Final = 1000
#: The fields the chain adds to an event, and the checkpoint's own.
CHAIN_FIELDS: Final = ("chain", "seq", "prev")


#: Characters that JSON leaves raw but that some line splitters treat as line ends.
LINE_BREAKS: Final = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\u0085": "\\u0085"})


def canonical(record: Mapping[str, Any]) -> bytes:
    """The bytes an event's hash and signature are taken over."""
    return json.dumps(record, sort_keys=True, ensure_ascii=True, separators=(",", ":"), default=str).encode("ascii")


def event_hash(record: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(record)).hexdigest()[:HASH_DIGITS]


def _line(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).translate(LINE_BREAKS)


def _canonical_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=True, separators=(",", ":"), default=str)


_ENCODE: Final[Callable[[str], str]] = json.encoder.encode_basestring
_ENCODE_ASCII: Final[Callable[[str], str]] = json.encoder.encode_basestring_ascii
#: The fields of an event that change from request to request; the others (the rules and their
#: outcomes, the reader's jurisdiction and network, the method...) repeat.
_PER_REQUEST: Final = frozenset({"time", "request_id", "path", "seq", "prev"})
#: (field names in order, repr of the repeating fields) -> the two templates, each a %-format with one
#: `%s` per per-request field: the line's in the order the event gives them, and the canonical form's with,
#: for each of its `%s`, the index of that field in the line's order. The values of an event are its own
#: (str, int, float, bool, None, and lists and dicts of them), which repr tells apart.
_TEMPLATES: dict[tuple[Any, ...], tuple[str, tuple[str, ...], str, tuple[int, ...]]] = {}
#: Field names in order -> what picks the repeating values out of an event with those fields.
_REPEATING: dict[tuple[str, ...], Callable[[Mapping[str, Any]], Any]] = {}


def _no_values(record: Mapping[str, Any]) -> tuple[()]:
    return ()


def _fragment(value: Any) -> tuple[str, str]:
    """A value's encoding in the line and in the canonical form."""
    kind = type(value)
    if kind is str:
        if value.isascii():
            text = _ENCODE_ASCII(value)
            # The one ASCII character the two encodings write apart: DEL, escaped only in ASCII-only JSON.
            return (text if "\x7f" not in value else _ENCODE(value)), text
        return _ENCODE(value).translate(LINE_BREAKS), _ENCODE_ASCII(value)
    if kind is int:
        text = int.__repr__(value)
        return text, text
    if kind is float and value - value == 0:  # finite: as json writes it
        text = float.__repr__(value)
        return text, text
    return _line(value), _canonical_text(value)


def _template(
    names: tuple[str, ...], record: Mapping[str, Any], per_request: frozenset[str] = _PER_REQUEST
) -> tuple[str, tuple[str, ...], str, tuple[int, ...]]:
    """The line's and the canonical form's %-templates for events with these fields and repeating values."""
    line, line_order, text, text_order = [], [], [], []
    for name in names:
        key_line = _fragment(name)[0].replace("%", "%%")
        if name in per_request:
            line.append(f"{key_line}:%s")
            line_order.append(name)
        else:
            line.append(f"{key_line}:" + _fragment(record[name])[0].replace("%", "%%"))
    for name in sorted(names):
        key_text = _fragment(name)[1].replace("%", "%%")
        if name in per_request:
            text.append(f"{key_text}:%s")
            text_order.append(name)
        else:
            text.append(f"{key_text}:" + _fragment(record[name])[1].replace("%", "%%"))
    index = tuple(line_order.index(name) for name in text_order)
    return "{" + ",".join(line) + "}", tuple(line_order), "{" + ",".join(text) + "}", index


def encode_event(record: Mapping[str, Any], same: Hashable = None) -> tuple[str, bytes]:
    """The event's line (as `audit.audit_line` writes it) and its canonical bytes (as `canonical`), at once.

    From a template per set of repeating values (the rules' outcomes, the reader...): only the fields
    of the one request (its time, id, path, place in the chain) are encoded anew. `same`, where the
    caller gives one, stands for the repeating values other than the chain's id: equal for two events
    only where those are equal (the middleware's key of a plan's outcomes), so they are not read again.
    """
    names = tuple(record)
    if same is not None:
        key: tuple[Any, ...] = (names, repr(record.get("chain")), same)
    else:
        repeating = _REPEATING.get(names)
        if repeating is None:
            if not all(type(name) is str for name in names):
                return audit_line_of(record), canonical(record)
            kept = [name for name in names if name not in _PER_REQUEST]
            repeating = operator.itemgetter(*kept) if kept else _no_values
            if len(_REPEATING) >= 1024:
                _REPEATING.clear()
            _REPEATING[names] = repeating
        key = (names, repr(repeating(record)))
    found = _TEMPLATES.get(key)
    if found is None:
        found = _template(names, record)
        if len(_TEMPLATES) >= 1024:
            _TEMPLATES.clear()
        _TEMPLATES[key] = found
    line, line_order, text, index = found
    fragments = [_fragment(record[name]) for name in line_order]
    filled_line = line % tuple([fragment[0] for fragment in fragments])
    filled_text = text % tuple([fragments[i][1] for i in index])
    return filled_line, filled_text.encode("ascii")


def audit_line_of(record: Mapping[str, Any]) -> str:
    """The event as one JSON line: no character in it that any line splitter reads as a line end."""
    return _line(record)


class Signer(Protocol):
    key_id: str

    def sign(self, data: bytes) -> bytes: ...


class _Ed25519Signer:
    def __init__(self, key: Any) -> None:
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        self._key = key
        public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = hashlib.sha256(public).hexdigest()[:16]

    def sign(self, data: bytes) -> bytes:
        signed: bytes = self._key.sign(data)
        return signed


def _import_cryptography(what: str) -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
    except ImportError:
        raise ConfigError(f'{what} needs the cryptography package: pip install "compliance-notices[signing]"') from None
    return serialization


def load_signer(key: str | os.PathLike[str] | bytes) -> Signer:
    """An Ed25519 signer from a PEM private key (its bytes, or the path of its file)."""
    serialization = _import_cryptography("a signed audit checkpoint")
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    data = key if isinstance(key, bytes) else _read(key, "audit_signing_key")
    try:
        private = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"audit_signing_key is not an unencrypted PEM private key: {error}") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise ConfigError("audit_signing_key is not an Ed25519 key; make one with: openssl genpkey -algorithm ed25519")
    return _Ed25519Signer(private)


def _read(path: str | os.PathLike[str], what: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise ConfigError(f"{what} {os.fspath(path)!r} cannot be read: {error.strerror}") from None


def verify_signature(public_pem: bytes, record: Mapping[str, Any]) -> bool | None:
    """Whether a checkpoint's signature is good under the public key (None: it is not an Ed25519 PEM key)."""
    serialization = _import_cryptography("checking a signed audit checkpoint")
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        public = serialization.load_pem_public_key(public_pem)
    except ValueError:
        return None
    if not isinstance(public, Ed25519PublicKey):
        return None
    signature = record.get("signature")
    if not isinstance(signature, str):
        return False
    unsigned = {k: v for k, v in record.items() if k != "signature"}
    try:
        public.verify(base64.b64decode(signature), canonical(unsigned))
    except (InvalidSignature, ValueError):
        return False
    return True


class Chain:
    """This process's chain: the id, the next sequence number and the last event's hash."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._pid = -1
        self.id = ""
        self.seq = 0
        self.last = ""
        self.signer: Signer | None = None
        self.checkpoint_every = DEFAULT_CHECKPOINT_EVERY

    def configure(self, signer: Signer | None, checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY) -> None:
        if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int) or checkpoint_every < 1:
            raise ConfigError(f"audit_checkpoint_every must be a whole number of events, not {checkpoint_every!r}")
        with self.lock:
            self.signer = signer
            self.checkpoint_every = checkpoint_every

    def append(
        self,
        record: dict[str, Any],
        write: Callable[[dict[str, Any], str], None],
        *,
        sign: bool = False,
        same: Hashable = None,
    ) -> None:
        """Writes `record` as the next link (hold `lock`): `write(record, line)` gets it and its JSON line. An
        event that fails to be written leaves the chain as it was, so the next one links to the last event
        that was."""
        self.renew()
        record["chain"] = self.id
        record["seq"] = self.seq + 1
        record["prev"] = self.last
        if sign and self.signer is not None:
            record["signature"] = base64.b64encode(self.signer.sign(canonical(record))).decode("ascii")
        line, text = encode_event(record, same)
        digest = hashlib.sha256(text).hexdigest()[:HASH_DIGITS]
        write(record, line)
        self.seq += 1
        self.last = digest

    def renew(self) -> str:
        """The chain's id: a new chain in a new process (or after a fork)."""
        pid = os.getpid()
        if pid != self._pid:
            self._pid, self.id, self.seq, self.last = pid, uuid.uuid4().hex[:16], 0, ""
        return self.id

    def checkpoint_due(self) -> bool:
        return self.signer is not None and self.seq % self.checkpoint_every == 0


#: The chain of this process's audit events.
CHAIN: Final = Chain()


def write_linked(record: dict[str, Any], write: Callable[[dict[str, Any], str], None], same: Hashable = None) -> None:
    """Writes `record` as the next link of this process's chain, then the signed checkpoint where one is due.

    `write(record, line)` gets each event and its JSON line; `same` as `encode_event` takes it."""
    with CHAIN.lock:
        _link(record, write, same)


def _link(record: dict[str, Any], write: Callable[[dict[str, Any], str], None], same: Hashable = None) -> None:
    """`write_linked`, the chain's lock held."""
    CHAIN.append(record, write, same=same)
    if CHAIN.checkpoint_due():
        _checkpoint(record.get("time"), write)


def _checkpoint(moment: Any, write: Callable[[dict[str, Any], str], None]) -> None:
    assert CHAIN.signer is not None
    checkpoint = {"event": "checkpoint", "time": moment, "key": CHAIN.signer.key_id}
    CHAIN.append(checkpoint, write, sign=True)


#: The per-request fields of a prepared event, in the order of its line and of its canonical form.
_LINE_ORDER: Final = ("time", "request_id", "path", "network", "seq", "prev")
_PREPARED_PER_REQUEST: Final = frozenset(_LINE_ORDER)
_TEXT_INDEX: Final = (3, 2, 5, 1, 4, 0)  # network, path, prev, request_id, seq, time: their places in _LINE_ORDER
#: `same` -> (the chain id, the line's template, the canonical form's template) of events prepared once.
_PREPARED: dict[Hashable, tuple[str, str, str]] = {}


def write_prepared(
    same: Hashable,
    build: Callable[[], dict[str, Any]],
    request_id: str,
    path: str,
    network: str | None,
    put: Callable[[str], None],
    write: Callable[[dict[str, Any], str], None],
) -> None:
    """Writes an event as the next link of this process's chain, from the template kept for `same`.

    `same` is equal for two events only where all their fields but `time`, `request_id`, `path` and
    `network` are; `build()` gives the event's fields (from `event` on, in order, `time` included) the
    first time. Only the time, `request_id` (of the characters `audit.request_id_of` lets through, which
    JSON writes as they are), `path`, `network` (one `audit.network_of` gave) and the place in the
    chain are encoded per event, and the line
    goes straight to `put` (the audit handler's queue); `write` takes a checkpoint where one is due.
    The event is the one `write_linked` would write, byte for byte.
    """
    with CHAIN.lock:
        chain = CHAIN.renew()
        found = _PREPARED.get(same)
        if found is None or found[0] != chain:
            record = build()
            record["chain"], record["seq"], record["prev"] = chain, 0, ""
            line, order, text, index = _template(tuple(record), record, _PREPARED_PER_REQUEST)
            if order != _LINE_ORDER or index != _TEXT_INDEX:  # (every event the middleware writes has them)
                record.update(time=round(time.time(), 3), request_id=request_id, path=path, network=network)
                del record["chain"], record["seq"], record["prev"]
                _link(record, write)
                return
            if len(_PREPARED) >= 1024:
                _PREPARED.clear()
            found = _PREPARED[same] = (chain, line, text)
        now = float.__repr__(round(time.time(), 3))
        rid = '"' + request_id + '"'
        path_line, path_text = _fragment(path)
        net = "null" if network is None else '"' + network + '"'
        seq = CHAIN.seq + 1
        number = int.__repr__(seq)
        prev = '"' + CHAIN.last + '"'
        text = found[2] % (net, path_text, prev, rid, number, now)
        digest = hashlib.sha256(text.encode("ascii")).hexdigest()[:HASH_DIGITS]
        put(found[1] % (now, rid, path_line, net, number, prev))
        CHAIN.seq = seq
        CHAIN.last = digest
        if CHAIN.checkpoint_due():
            _checkpoint(float(now), write)
