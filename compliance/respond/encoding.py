"""Compressed bodies: decoded and encoded again, chunk by chunk.

A `Recoder` serves one response: `decode` turns each compressed chunk into the
plain bytes it yields, `encode` compresses the changed body again in the same
coding. Neither holds the body: memory is the coder's window plus one chunk.

Codings (RFC 9110 section 8.4.1, RFC 7932, RFC 8878):

- `gzip` (and its alias `x-gzip`): one or more gzip members; output is one member,
  header and trailer included.
- `deflate`: the zlib format (RFC 1950), as RFC 9110 says. Some servers send raw
  deflate (RFC 1951) under this name; as browsers do, the first two bytes tell
  which: a valid zlib header (CM 8, window at most 32 KiB, check bits right)
  means zlib, anything else raw deflate. Output is always zlib.
- `br`: Brotli.
- `zstd`: one or more Zstandard frames. The decoder accepts windows up to 8 MiB
  (RFC 8878 section 7.1 for HTTP); a frame asking for more is refused as corrupt.
  The encoder's frame carries the content size when the body comes in one chunk.

Stacked codings (`Content-Encoding: gzip, br`) are not supported: they are rare,
and undoing several layers costs more than the notice is worth. `identity` is no
coding at all, so there is nothing to recode. Both raise `UnsupportedEncoding`.

Levels. The encoder trades size for time, because it runs on every page that
gets a notice. Measured on a 100 KB news page (2 cores, CPython 3.11; absolute
figures vary with the machine's load, the ratios hold):

    coding   level  time, one chunk  bytes, one chunk  bytes, in 8 chunks
    gzip     1      1x (0.5-1.3 ms)  17.3 KB           17.3 KB
    gzip     6      2.4x             15.2 KB           15.1 KB
    br       1      0.5x             16.3 KB           20.5 KB
    br       2      0.8x             15.2 KB           15.3 KB
    zstd     1      0.5x             15.5 KB           15.7 KB
    zstd     3      0.55x            15.0 KB           16.3 KB

So gzip and deflate use level 1, Brotli quality 2 (qualities 0 and 1 start
afresh at each flush, which costs a quarter more bytes on a streamed page),
Zstandard level 1 (`DEFAULT_LEVELS`; `level=` overrides). Each non-empty chunk
is flushed (a sync flush), so a page the app streams in parts still reaches the
reader in parts.

Accelerated gzip. Where the `isal` extra is installed (`pip install
'compliance-notices[isal]'`), gzip and deflate are decoded and encoded by ISA-L
(`isal.isal_zlib`, the same streams and the same interface as `zlib`): on the
same page it decodes about 2x and encodes about 4x faster, and its level 1
writes smaller output than zlib's level 1. ISA-L has levels 0 to 3; zlib levels
1-3 map to its 1, 4-6 to 2, 7-9 to 3, and level 0 (stored) stays with zlib.
Without the extra the standard `zlib` module does it all; `accelerated=False`
asks for it even where ISA-L is installed.

Decompression bombs. A chunk may decode to at most `max_ratio` times its size
plus `RATIO_ALLOWANCE` bytes; the body so far to at most `max_ratio` times the
encoded bytes read so far, once past `RATIO_ALLOWANCE`; the whole body to at most
`max_size`. Defaults 100x and 256 MiB: HTML compresses about 4 to 10 times. The
decoders stop at the limit (zlib and Zstandard one byte past it, Brotli within
one output block), so one `decode` call never holds much more than its chunk's
bound, and `CorruptBody` is raised. A corrupt stream, data after the end of the stream
(other than further gzip members or zstd frames) and, with `final=True`, a
stream cut short raise `CorruptBody` too. After `CorruptBody` the `Recoder` is
spent.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Callable
from types import ModuleType
from typing import Any, Final, Protocol

import brotli  # type: ignore[import-untyped]  # the binding ships no annotations

from compliance.errors import ComplianceError

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

_isal_zlib: ModuleType | None
try:
    from isal import isal_zlib as _isal_zlib
except ImportError:  # the `isal` extra is not installed: zlib does it all
    _isal_zlib = None

__all__ = [
    "ACCELERATED",
    "DEFAULT_LEVELS",
    "MAX_RATIO",
    "MAX_SIZE",
    "RATIO_ALLOWANCE",
    "CorruptBody",
    "Recoder",
    "UnsupportedEncoding",
    "is_supported",
]

DEFAULT_LEVELS: Final = {"gzip": 1, "deflate": 1, "br": 2, "zstd": 1}
MAX_RATIO: Final = 100.0
MAX_SIZE: Final = 256 * 1024 * 1024
#: Decoded bytes allowed per chunk, and for the body as a whole, before the ratio limit applies.
RATIO_ALLOWANCE: Final = 1024 * 1024
#: log2 of the largest Zstandard window accepted (8 MiB, RFC 8878 section 7.1).
ZSTD_WINDOW_LOG_MAX: Final = 23

#: gzip and deflate go through ISA-L (the `isal` extra is installed).
ACCELERATED: Final = _isal_zlib is not None

_ALIASES: Final = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate", "br": "br", "zstd": "zstd"}


class UnsupportedEncoding(ComplianceError):
    """A content coding this module cannot decode (unknown, `identity`, or stacked)."""


class CorruptBody(ComplianceError):
    """A compressed body that cannot be decoded: corrupt, cut short, or decoding past the size limits."""


def _normalise(encoding: str) -> str | None:
    return _ALIASES.get(encoding.strip().lower())


def is_supported(encoding: str) -> bool:
    """Whether `encoding` (a `Content-Encoding` value) can be decoded and encoded again."""
    return _normalise(encoding) is not None


class _Decoder(Protocol):
    #: The stream has ended (and no further member or frame has begun).
    finished: bool

    def decode(self, data: bytes, room: int) -> bytes:
        """What `data` yields, stopping once past `room` bytes (it returns at most `room + 1`)."""
        ...


class _Encoder(Protocol):
    def encode(self, data: bytes, final: bool) -> bytes: ...


def _is_zlib_header(first: int, second: int) -> bool:
    return first & 0x0F == 8 and first >> 4 <= 7 and ((first << 8) | second) % 31 == 0


def _drain(decoder: Any, data: bytes, room: int, restart: Callable[[], Any]) -> bytes:
    """Feed `data` to `decoder._obj` (a zlib or zstd decompressor), a stream after another.

    `restart()` gives the decompressor for what follows the end of a stream (the next
    gzip member or zstd frame), or raises CorruptBody where nothing may follow.
    Stops once more than `room` bytes came out.
    """
    out: list[bytes] = []
    while data:
        if decoder._obj.eof:
            decoder._obj = restart()
            decoder.finished = False
        part = decoder._obj.decompress(data, room + 1)
        out.append(part)
        room -= len(part)
        if room < 0:
            break
        data = decoder._obj.unused_data if decoder._obj.eof else b""
        decoder.finished = decoder._obj.eof
    return b"".join(out)


def _isal_level(level: int) -> int | None:
    """ISA-L's level (0 to 3) for a zlib level, or None where zlib should do it (level 0: stored)."""
    if level == zlib.Z_DEFAULT_COMPRESSION:
        level = 6
    return (level + 2) // 3 if 1 <= level <= 9 else None


class _ZlibDecoder:
    """gzip members (one after another), or one zlib or raw deflate stream.

    `lib` is `zlib` or `isal.isal_zlib` (the same interface).
    """

    def __init__(self, gzip: bool, lib: Any) -> None:
        self._gzip = gzip
        self._lib = lib
        self._obj: Any = lib.decompressobj(31) if gzip else None
        self._head = b""  # deflate: the first byte, until the second tells zlib from raw
        self.finished = False

    def decode(self, data: bytes, room: int) -> bytes:
        if self._obj is None:
            data = self._head + data
            if len(data) < 2:
                self._head = data
                return b""
            self._head = b""
            self._obj = self._lib.decompressobj(15 if _is_zlib_header(data[0], data[1]) else -15)
        return _drain(self, data, room, self._next_member)

    def _next_member(self) -> Any:
        if not self._gzip:
            raise CorruptBody("data after the end of the deflate stream")
        return self._lib.decompressobj(31)


class _BrotliDecoder:
    def __init__(self) -> None:
        self._obj = brotli.Decompressor()
        self.finished = False

    def decode(self, data: bytes, room: int) -> bytes:
        if self.finished:
            if data:
                raise CorruptBody("data after the end of the Brotli stream")
            return b""
        out: bytes = self._obj.process(data, output_buffer_limit=room + 1)
        self.finished = bool(self._obj.is_finished())
        return out


def _zstd_decompressor() -> zstd.ZstdDecompressor:
    return zstd.ZstdDecompressor(options={zstd.DecompressionParameter.window_log_max: ZSTD_WINDOW_LOG_MAX})


class _ZstdDecoder:
    """Zstandard frames, one after another."""

    def __init__(self) -> None:
        self._obj = _zstd_decompressor()
        self.finished = False

    def decode(self, data: bytes, room: int) -> bytes:
        return _drain(self, data, room, _zstd_decompressor)


class _ZlibEncoder:
    def __init__(self, level: int, gzip: bool, lib: Any) -> None:
        self._obj: Any = lib.compressobj(level, lib.DEFLATED, 31 if gzip else 15)

    def encode(self, data: bytes, final: bool) -> bytes:
        out: bytes = self._obj.compress(data) if data else b""
        if final:
            end: bytes = self._obj.flush(zlib.Z_FINISH)
            return out + end
        if not data:
            return out
        flushed: bytes = self._obj.flush(zlib.Z_SYNC_FLUSH)
        return out + flushed


class _BrotliEncoder:
    def __init__(self, level: int) -> None:
        self._obj = brotli.Compressor(quality=level)

    def encode(self, data: bytes, final: bool) -> bytes:
        out: bytes = self._obj.process(data) if data else b""
        if final:
            out += self._obj.finish()
        elif data:
            out += self._obj.flush()
        return out


class _ZstdEncoder:
    def __init__(self, level: int) -> None:
        options: dict[int, int] = {zstd.CompressionParameter.compression_level: level}
        if level > 19:  # levels 20 to 22 use windows larger than HTTP decoders accept
            options[zstd.CompressionParameter.window_log] = ZSTD_WINDOW_LOG_MAX
        self._obj = zstd.ZstdCompressor(options=options)
        self._started = False

    def encode(self, data: bytes, final: bool) -> bytes:
        if not self._started:
            self._started = True
            if final:  # the whole body at once: let the frame header carry its size
                self._obj.set_pledged_input_size(len(data))
        if final:
            return self._obj.compress(data, zstd.ZstdCompressor.FLUSH_FRAME)
        return self._obj.compress(data, zstd.ZstdCompressor.FLUSH_BLOCK) if data else b""


_ERRORS: Final[tuple[type[Exception], ...]] = (zlib.error, brotli.error, zstd.ZstdError) + (
    () if _isal_zlib is None else (_isal_zlib.error,)
)


class Recoder:
    """Decodes and re-encodes one response body in `encoding` (a `Content-Encoding` value).

    `level` overrides the encoder's level (`DEFAULT_LEVELS`); `max_ratio` and
    `max_size` bound what `decode` may produce (see the module docstring).
    `accelerated` chooses ISA-L for gzip and deflate (default: where installed;
    False: the standard zlib). Raises `UnsupportedEncoding` for a coding it cannot handle.
    """

    __slots__ = (
        "encoding",
        "accelerated",
        "max_ratio",
        "max_size",
        "_decoder",
        "_encoder",
        "_read",
        "_made",
        "_spent",
        "_ended",
    )

    def __init__(
        self,
        encoding: str,
        level: int | None = None,
        *,
        max_ratio: float = MAX_RATIO,
        max_size: int = MAX_SIZE,
        accelerated: bool | None = None,
    ) -> None:
        name = _normalise(encoding)
        if name is None:
            what = "stacked content codings" if "," in encoding else f"content coding {encoding.strip()!r}"
            raise UnsupportedEncoding(f"{what} cannot be decoded")
        if max_ratio < 1 or max_size < 0:
            raise ValueError("max_ratio must be at least 1 and max_size not negative")
        self.encoding = name
        self.max_ratio = max_ratio
        self.max_size = max_size
        chosen = DEFAULT_LEVELS[name] if level is None else level
        self._decoder: _Decoder
        self._encoder: _Encoder
        if accelerated and _isal_zlib is None:
            raise ValueError("accelerated gzip needs the isal extra (pip install 'compliance-notices[isal]')")
        self.accelerated = False
        if name in ("gzip", "deflate"):
            fast = _isal_zlib if accelerated is not False else None
            isal_level = None if fast is None else _isal_level(chosen)
            self.accelerated = fast is not None
            self._decoder = _ZlibDecoder(name == "gzip", fast or zlib)
            if isal_level is None:
                self._encoder = _ZlibEncoder(chosen, name == "gzip", zlib)
            else:
                self._encoder = _ZlibEncoder(isal_level, name == "gzip", fast)
        elif name == "br":
            self._decoder = _BrotliDecoder()
            self._encoder = _BrotliEncoder(chosen)
        else:
            self._decoder = _ZstdDecoder()
            self._encoder = _ZstdEncoder(chosen)
        self._read = 0  # encoded bytes given to decode
        self._made = 0  # plain bytes decode returned
        self._spent: str | None = None
        self._ended = False

    def decode(self, data: bytes, final: bool = False) -> bytes:
        """The plain bytes that this compressed chunk yields (often none, for a small chunk).

        With `final=True` the stream must end with this chunk; a stream cut short
        raises `CorruptBody`, as do corrupt data and a body past the size limits.
        """
        if self._spent is not None:
            raise CorruptBody(self._spent)
        self._read += len(data)
        room = min(
            self.max_size - self._made,
            max(int(self.max_ratio * self._read), RATIO_ALLOWANCE) - self._made,
            int(self.max_ratio * len(data)) + RATIO_ALLOWANCE,
        )
        try:
            out = self._decoder.decode(data, room) if data else b""
        except _ERRORS as exc:
            self._spent = f"corrupt {self.encoding} body: {exc}"
            raise CorruptBody(self._spent) from exc
        except CorruptBody as exc:
            self._spent = str(exc)
            raise
        if len(out) > room:
            self._spent = (
                f"the {self.encoding} body decodes to more than {self.max_size} bytes"
                if self._made + len(out) > self.max_size
                else f"the {self.encoding} body decodes to more than {self.max_ratio:g} times its size"
            )
            raise CorruptBody(self._spent)
        self._made += len(out)
        if final and self._read and not self._decoder.finished:
            self._spent = f"the {self.encoding} body is cut short"
            raise CorruptBody(self._spent)
        return out

    def encode(self, data: bytes, final: bool) -> bytes:
        """The compressed bytes for this chunk of the plain body; `final=True` ends the stream."""
        if self._ended:
            raise ValueError("the encoded stream has already ended")
        self._ended = final
        return self._encoder.encode(data, final)
