"""IDX files: round trips over every dtype code, gz detection by content, and clear errors."""
import gzip
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minidl.data.idx import IDXError, encode_idx, parse_idx, read_idx, write_idx

DTYPES = ["u1", "i1", ">i2", "<i2", ">i4", "<i4", ">f4", "<f4", ">f8", "<f8"]
CODES = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}


def header(code: int, shape) -> bytes:
    """An IDX header built by hand from the format description, independent of encode_idx."""
    return bytes([0, 0, code, len(shape)]) + b"".join(struct.pack(">I", s) for s in shape)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(DTYPES), gz=st.booleans())
def test_round_trip(tmp_path_factory, data, dtype, gz):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5))
    array = data.draw(hnp.arrays(np.dtype(dtype), shape))
    path = tmp_path_factory.mktemp("idx") / ("a.idx.gz" if gz else "a.idx")
    write_idx(path, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == gz
    back = read_idx(path)
    assert back.shape == array.shape
    assert back.dtype == np.dtype(dtype).newbyteorder("=") and back.dtype.isnative
    assert np.array_equal(back, array, equal_nan=back.dtype.kind == "f")
    back[...] = 0  # the result is an ordinary writable array


@pytest.mark.parametrize("dtype", DTYPES)
def test_bytes_follow_the_format(dtype):
    array = np.arange(6, dtype=dtype).reshape(2, 3)
    raw = encode_idx(array)
    code = CODES[np.dtype(dtype).str[1:]]
    expected = header(code, (2, 3)) + array.astype(np.dtype(dtype).newbyteorder(">")).tobytes()
    assert raw == expected


def test_gzip_is_detected_by_content_not_name(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    plain_named_gz = tmp_path / "x.gz"
    plain_named_gz.write_bytes(encode_idx(array))
    gz_named_plain = tmp_path / "x-ubyte"
    gz_named_plain.write_bytes(gzip.compress(encode_idx(array)))
    assert np.array_equal(read_idx(plain_named_gz), array)
    assert np.array_equal(read_idx(gz_named_plain), array)


def test_reads_an_mnist_style_header_written_by_hand(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(header(0x08, (3, 28, 28)) + pixels.tobytes())
    assert np.array_equal(read_idx(path), pixels)


def write(tmp_path, raw: bytes, name="bad-idx"):
    path = tmp_path / name
    path.write_bytes(raw)
    return path


GOOD = header(0x08, (2, 3)) + bytes(range(6))


@pytest.mark.parametrize("raw, message", [
    (b"", "too short"),
    (b"\x00\x00", "too short"),
    (b"PK\x03\x04" + GOOD[4:], "not an IDX file.*50 4b 03 04"),
    (b"\x00\x01\x08\x02" + GOOD[4:], "not an IDX file"),
    (header(0x0A, (2, 3)) + bytes(6), "unknown IDX dtype code 0x0A"),
    (header(0x07, (2,)) + bytes(2), "unknown IDX dtype code 0x07"),
    (bytes([0, 0, 8, 0]), "0 dimensions"),
    (header(0x08, (2, 3))[:9], "truncated header"),
    (GOOD[:-1], "truncated data.*needs 6 bytes.*found 5"),
    (header(0x0C, (2, 3)) + bytes(23), "truncated data.*needs 24 bytes"),
    (GOOD + b"\x00\x00", "2 unexpected bytes after the data"),
])
def test_corrupt_files_raise_a_clear_error(tmp_path, raw, message):
    for name, data in (("plain-idx", raw), ("packed-idx.gz", gzip.compress(raw))):
        path = write(tmp_path, data, name)
        with pytest.raises(IDXError, match=message) as err:
            read_idx(path)
        assert str(path) in str(err.value)


def test_truncated_gzip_is_a_clear_error(tmp_path):
    packed = gzip.compress(GOOD * 50)
    path = write(tmp_path, packed[: len(packed) // 2], "cut.gz")
    with pytest.raises(IDXError, match="gzip") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_idx_error_is_a_value_error():
    with pytest.raises(ValueError):
        parse_idx(b"junk")


@pytest.mark.parametrize("bad", [np.zeros(3, dtype=bool), np.zeros(3, dtype=np.uint16),
                                 np.zeros(3, dtype=np.int64), np.zeros(3, dtype=np.complex64)])
def test_unsupported_dtypes_cannot_be_written(tmp_path, bad):
    with pytest.raises(IDXError, match=f"dtype {bad.dtype} has no IDX code"):
        write_idx(tmp_path / "x", bad)


def test_scalars_cannot_be_written(tmp_path):
    with pytest.raises(IDXError, match="1 to 255 dimensions"):
        write_idx(tmp_path / "x", np.uint8(3))


# ----- hostile files: bounded memory, sizes that cannot wrap, only IDXError ------------------
from ..memory_limit import run_limited  # noqa: E402


def test_gzip_is_read_header_first_and_never_past_the_declared_size(tmp_path):
    """An IDX .gz was decompressed in full before its header was read (2.1 GB from 1 MB)."""
    bomb = tmp_path / "bomb.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as f:
        f.write(header(0x08, (4,)) + bytes(4))
        for _ in range(64):
            f.write(bytes(1 << 24))                        # 1 GiB of zeros after the data
    assert bomb.stat().st_size < 2 << 20
    result = run_limited(f"""
        from minidl.data.idx import IDXError, read_idx
        try:
            read_idx({str(bomb)!r})
        except IDXError as exc:
            print(exc)
        """, megabytes=64)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "65536+ unexpected bytes after the data of shape (4,)" in result.stdout


def test_a_declared_size_no_gzip_stream_can_hold_is_refused_before_reading(tmp_path):
    path = tmp_path / "big.gz"
    path.write_bytes(gzip.compress(header(0x08, (2 ** 20, 2 ** 20))))
    with pytest.raises(IDXError, match="more than this gzip file can hold"):
        read_idx(path)


@pytest.mark.parametrize("shape", [(65536,) * 4, (2 ** 32 - 1,) * 2, (2 ** 32 - 1,) * 5,
                                   (0, 2 ** 32 - 1, 2 ** 32 - 1), (2 ** 16, 2 ** 16)])
def test_the_size_product_cannot_wrap_around(tmp_path, shape):
    """np.prod in int64 wrapped (65536**4 == 0), so a header alone passed the size check."""
    for raw in (header(0x08, shape), header(0x0C, shape) + bytes(8)):
        with pytest.raises(IDXError, match="truncated data|larger than any array"):
            read_idx(write(tmp_path, raw))


def test_more_dimensions_than_numpy_allows_is_an_idx_error(tmp_path):
    with pytest.raises(IDXError, match="65 dimensions"):
        read_idx(write(tmp_path, header(0x08, (1,) * 65) + b"\x07"))
    assert read_idx(write(tmp_path, header(0x08, (1,) * 64) + b"\x07")).shape == (1,) * 64


@settings(max_examples=150, deadline=None, derandomize=True)
@given(code=st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0xFF]),
       shape=st.lists(st.one_of(st.integers(0, 4), st.integers(0, 2 ** 32 - 1)), max_size=70),
       tail=st.binary(max_size=64), cut=st.integers(0, 300), gz=st.booleans())
def test_fuzzed_files_load_or_are_idx_errors(tmp_path_factory, code, shape, tail, cut, gz):
    raw = bytes([0, 0, code, len(shape) % 256]) + b"".join(struct.pack(">I", s) for s in shape)
    raw = (raw + tail)[:cut] if cut < len(raw) + len(tail) else raw + tail
    data = gzip.compress(raw) if gz else raw
    path = tmp_path_factory.mktemp("f") / "x"
    path.write_bytes(data)
    try:
        array = read_idx(path)
    except IDXError:
        return
    assert array.shape == tuple(shape) and array.nbytes <= len(raw)
