"""Decoding and re-encoding compressed bodies (compliance.respond.encoding)."""

from __future__ import annotations

import gzip
import random
import sys
import tracemalloc
import zlib
from collections.abc import Callable, Sequence

import brotli  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from isal import isal_zlib

from compliance.respond.encoding import (
    ACCELERATED,
    MAX_RATIO,
    MAX_SIZE,
    RATIO_ALLOWANCE,
    CorruptBody,
    Recoder,
    UnsupportedEncoding,
    is_supported,
)

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd


def _raw_deflate(data: bytes) -> bytes:
    obj = zlib.compressobj(6, zlib.DEFLATED, -15)
    return obj.compress(data) + obj.flush()


def _brotli(data: bytes) -> bytes:
    return brotli.compress(data, quality=6)  # type: ignore[no-any-return]


def _unbrotli(data: bytes) -> bytes:
    return brotli.decompress(data)  # type: ignore[no-any-return]


#: encoding -> (one-shot compressor, one-shot decompressor) from the libraries themselves.
ONE_SHOT: dict[str, tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]] = {
    "gzip": (gzip.compress, gzip.decompress),
    "deflate": (zlib.compress, zlib.decompress),
    "br": (_brotli, _unbrotli),
    "zstd": (zstd.compress, zstd.decompress),
}
#: What the tests run through: every coding, and gzip and deflate both through ISA-L (where the
#: `isal` extra is installed, as the dev extra has it) and through the standard zlib ("+zlib").
ENCODINGS = sorted([*ONE_SHOT, "gzip+zlib", "deflate+zlib"])


def coder(encoding: str, *, max_ratio: float = MAX_RATIO, max_size: int = MAX_SIZE) -> Recoder:
    """A Recoder for one of ENCODINGS."""
    name, _, lib = encoding.partition("+")
    return Recoder(name, max_ratio=max_ratio, max_size=max_size, accelerated=False if lib == "zlib" else None)


#: gzip and deflate through each of their implementations.
GZIPS, DEFLATES = ["gzip", "gzip+zlib"], ["deflate", "deflate+zlib"]


def one_shot(encoding: str) -> tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]:
    return ONE_SHOT[encoding.partition("+")[0]]


PAGE = b"".join(
    b'<article class="story" id="s%d"><h2>Headline number %d</h2><p>Body text of story %d, '
    b"with some words that repeat and some that do not: %x.</p></article>\n" % (i, i, i, i * 7919)
    for i in range(2000)
)

bodies = st.one_of(
    st.binary(max_size=3000),
    st.builds(lambda n, k: PAGE[k : k + n], st.integers(0, 60_000), st.integers(0, 10_000)),
)


def split(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:], strict=False)]


def decode_all(recoder: Recoder, chunks: Sequence[bytes]) -> bytes:
    out = [recoder.decode(chunk, final=i == len(chunks) - 1) for i, chunk in enumerate(chunks)]
    return b"".join(out)


def encode_all(recoder: Recoder, chunks: Sequence[bytes]) -> bytes:
    return b"".join(recoder.encode(chunk, final=i == len(chunks) - 1) for i, chunk in enumerate(chunks))


@pytest.mark.parametrize("encoding", ENCODINGS)
@settings(max_examples=40, deadline=None)
@given(body=bodies, cuts=st.lists(st.integers(0, 70_000), max_size=12))
def test_decode_matches_the_library_whatever_the_chunking(encoding: str, body: bytes, cuts: list[int]) -> None:
    compress, _ = one_shot(encoding)
    assert decode_all(coder(encoding), split(compress(body), cuts)) == body


@pytest.mark.parametrize("encoding", ENCODINGS)
@settings(max_examples=40, deadline=None)
@given(body=bodies, cuts=st.lists(st.integers(0, 70_000), max_size=12))
def test_encoded_body_reads_back_with_the_one_shot_decoder(encoding: str, body: bytes, cuts: list[int]) -> None:
    _, decompress = one_shot(encoding)
    encoded = encode_all(coder(encoding), split(body, cuts))
    assert decompress(encoded) == body
    assert decode_all(coder(encoding), split(encoded, cuts)) == body


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_empty_body_round_trips(encoding: str) -> None:
    recoder = coder(encoding)
    assert recoder.decode(b"", final=True) == b""
    assert one_shot(encoding)[1](recoder.encode(b"", final=True)) == b""


@pytest.mark.parametrize("encoding", GZIPS)
def test_gzip_output_is_one_gzip_member_with_header_and_trailer(encoding: str) -> None:
    encoded = coder(encoding).encode(PAGE, final=True)
    assert encoded[:3] == b"\x1f\x8b\x08"
    assert int.from_bytes(encoded[-4:], "little") == len(PAGE)
    assert gzip.decompress(encoded) == PAGE


def test_zstd_frame_carries_the_size_when_the_body_comes_whole() -> None:
    encoded = Recoder("zstd").encode(PAGE, final=True)
    assert zstd.get_frame_info(encoded).decompressed_size == len(PAGE)


def test_each_chunk_is_flushed_so_streaming_stays_streaming() -> None:
    for encoding in ENCODINGS:
        encoder, decoder = coder(encoding), coder(encoding)
        first = encoder.encode(b"<html><head><title>Early</title></head>", final=False)
        assert decoder.decode(first) == b"<html><head><title>Early</title></head>", encoding


def test_encoding_after_the_end_is_an_error() -> None:
    recoder = Recoder("gzip")
    recoder.encode(b"done", final=True)
    with pytest.raises(ValueError):
        recoder.encode(b"more", final=False)


@pytest.mark.parametrize("encoding", DEFLATES)
def test_deflate_accepts_zlib_and_raw_and_writes_zlib(encoding: str) -> None:
    assert coder(encoding).decode(zlib.compress(PAGE), final=True) == PAGE
    assert coder(encoding).decode(_raw_deflate(PAGE), final=True) == PAGE
    assert zlib.decompress(coder(encoding).encode(PAGE, final=True)) == PAGE


@pytest.mark.parametrize("encoding", DEFLATES)
@pytest.mark.parametrize("compress", [zlib.compress, _raw_deflate], ids=["zlib", "raw"])
def test_deflate_flavour_is_told_even_from_a_one_byte_first_chunk(
    encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    encoded = compress(PAGE)
    recoder = coder(encoding)
    assert recoder.decode(encoded[:1]) == b""
    assert recoder.decode(encoded[1:], final=True) == PAGE


@pytest.mark.parametrize("encoding", GZIPS)
def test_several_gzip_members_and_zstd_frames_are_one_body(encoding: str) -> None:
    assert coder(encoding).decode(gzip.compress(b"one ") + gzip.compress(b"two"), final=True) == b"one two"
    assert Recoder("zstd").decode(zstd.compress(b"one ") + zstd.compress(b"two"), final=True) == b"one two"


@pytest.mark.parametrize(
    ("value", "normalised"),
    [("gzip", "gzip"), ("x-gzip", "gzip"), (" GZip ", "gzip"), ("deflate", "deflate"), ("BR", "br"), ("zstd", "zstd")],
)
def test_supported_encodings(value: str, normalised: str) -> None:
    assert is_supported(value)
    assert Recoder(value).encoding == normalised


@pytest.mark.parametrize(
    "value", ["identity", "compress", "x-compress", "bzip2", "", "gzip, br", "br,gzip", "gzip;q=1"]
)
def test_unsupported_encodings_are_refused(value: str) -> None:
    assert not is_supported(value)
    with pytest.raises(UnsupportedEncoding):
        Recoder(value)


def test_stacked_encodings_say_so() -> None:
    with pytest.raises(UnsupportedEncoding, match="stacked"):
        Recoder("gzip, br")


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_garbage_is_a_corrupt_body(encoding: str) -> None:
    with pytest.raises(CorruptBody):
        coder(encoding).decode(b"\xff\xfe this is not compressed at all \x00\x01" * 4, final=True)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_flipped_bytes_are_a_corrupt_body(encoding: str) -> None:
    encoded = bytearray(one_shot(encoding)[0](PAGE))
    for i in range(len(encoded) // 3, len(encoded) // 3 + 8):
        encoded[i] ^= 0x5A
    with pytest.raises(CorruptBody):
        coder(encoding).decode(bytes(encoded), final=True)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_body_cut_short_is_corrupt_at_the_final_chunk(encoding: str) -> None:
    encoded = one_shot(encoding)[0](PAGE)
    recoder = coder(encoding)
    recoder.decode(encoded[:-20])
    with pytest.raises(CorruptBody, match="cut short"):
        recoder.decode(b"", final=True)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_data_after_the_end_is_corrupt(encoding: str) -> None:
    encoded = one_shot(encoding)[0](b"the whole page")
    with pytest.raises(CorruptBody):
        coder(encoding).decode(encoded + b"trailing junk!", final=True)


@pytest.mark.parametrize("encoding", GZIPS)
def test_a_recoder_is_spent_after_a_corrupt_body(encoding: str) -> None:
    recoder = coder(encoding)
    with pytest.raises(CorruptBody):
        recoder.decode(b"not gzip at all")
    with pytest.raises(CorruptBody):
        recoder.decode(gzip.compress(b"fine"), final=True)


ZEROS = b"\0" * (8 * 1024 * 1024)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_bomb_stops_at_the_ratio_limit(encoding: str) -> None:
    bomb = one_shot(encoding)[0](ZEROS)
    assert len(ZEROS) > MAX_RATIO * len(bomb) + RATIO_ALLOWANCE
    with pytest.raises(CorruptBody, match="times its size"):
        decode_all(coder(encoding), split(bomb, range(0, len(bomb), 512)))


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_bomb_stops_at_the_size_limit(encoding: str) -> None:
    bomb = one_shot(encoding)[0](ZEROS)
    with pytest.raises(CorruptBody, match="more than 2000000 bytes"):
        coder(encoding, max_ratio=1e9, max_size=2_000_000).decode(bomb, final=True)


def test_the_limits_let_a_long_page_through() -> None:
    rnd = random.Random(7)
    words = [b"reader", b"notice", b"article", b"court", b"law", b"the", b"of", b"and", b"news", b"city"]
    page = b"".join(
        b'<article class="story" id="s%d"><p>%s</p></article>\n' % (i, b" ".join(rnd.choices(words, k=40)))
        for i in range(5000)
    )
    assert len(page) > RATIO_ALLOWANCE
    for encoding in ENCODINGS:
        encoded = one_shot(encoding)[0](page)
        assert decode_all(coder(encoding), split(encoded, range(0, len(encoded), 4096))) == page


@pytest.mark.parametrize("encoding", GZIPS)
@pytest.mark.parametrize("chunk_size", [1024, 1 << 30])
def test_a_bomb_takes_no_more_memory_than_its_chunk_allows(encoding: str, chunk_size: int) -> None:
    bomb = gzip.compress(ZEROS) * 32  # 256 MiB of zeros in about 260 KB
    chunk_size = min(chunk_size, len(bomb))
    recoder = coder(encoding)
    tracemalloc.start()
    try:
        with pytest.raises(CorruptBody):
            for start in range(0, len(bomb), chunk_size):
                recoder.decode(bomb[start : start + chunk_size])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # zlib builds its output in blocks and then joins them: about twice what one call may yield.
    assert peak < 2 * (MAX_RATIO * chunk_size + RATIO_ALLOWANCE) + RATIO_ALLOWANCE


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
@settings(max_examples=40, deadline=None)
@given(body=bodies, cuts=st.lists(st.integers(0, 70_000), max_size=12))
def test_isal_and_zlib_give_the_same_body(encoding: str, body: bytes, cuts: list[int]) -> None:
    """The bytes may differ (ISA-L compresses its own way); what they decode to may not, by either."""
    fast, plain = Recoder(encoding), Recoder(encoding, accelerated=False)
    assert fast.accelerated is ACCELERATED and not plain.accelerated
    for written in (encode_all(fast, split(body, cuts)), encode_all(plain, split(body, cuts))):
        assert one_shot(encoding)[1](written) == body
        assert decode_all(Recoder(encoding), split(written, cuts)) == body
        assert decode_all(Recoder(encoding, accelerated=False), split(written, cuts)) == body


def test_the_dev_install_has_isal_so_the_suite_runs_both() -> None:
    # The dev extra installs `isal`: without it every "gzip" case above would run zlib twice.
    assert ACCELERATED
    assert Recoder("gzip").accelerated and Recoder("x-gzip").accelerated and Recoder("deflate").accelerated
    assert not Recoder("br").accelerated


@pytest.mark.parametrize(("level", "isal_level"), [(0, None), (1, 1), (3, 1), (4, 2), (6, 2), (9, 3), (-1, 2)])
def test_zlib_levels_map_onto_isal_levels(level: int, isal_level: int | None) -> None:
    recoder = Recoder("gzip", level)
    written = recoder.encode(PAGE, final=True)
    assert gzip.decompress(written) == PAGE
    if isal_level is None:  # stored: zlib writes it, ISA-L has no such level
        assert len(written) > len(PAGE)
    else:
        fast = isal_zlib.compressobj(isal_level, isal_zlib.DEFLATED, 31)
        assert written == fast.compress(PAGE) + fast.flush()
