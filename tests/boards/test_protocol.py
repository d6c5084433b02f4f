"""The byte protocol: element encoding, command frames, the ID record."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lognet.base.errors import InputError
from lognet.boards import protocol as P


@pytest.mark.parametrize("width, nbytes", [(1, 1), (4, 1), (8, 1), (9, 2), (16, 2), (17, 3),
                                           (32, 4)])
def test_element_bytes(width, nbytes):
    assert P.element_bytes(width) == nbytes


def test_known_encodings():
    assert P.encode_vector([1, -1, -128, 127], 8, True) == bytes([1, 0xFF, 0x80, 0x7F])
    assert P.encode_vector([-2], 12, True) == bytes([0xFE, 0xFF])
    assert P.encode_vector([0x123], 12, False) == bytes([0x23, 0x01])
    assert P.encode_vector([5, 0], 3, False) == bytes([5, 0])
    assert P.decode_vector(bytes([0xFE, 0xFF]), 1, 12, True) == [-2]
    assert P.decode_vector(bytes([0xFE, 0x0F]), 1, 12, True) == [-2]  # bits above 12 ignored
    assert P.decode_vector(bytes([0xFE, 0x0F]), 1, 12, False) == [0xFFE]


@given(st.integers(1, 32), st.booleans(), st.data())
def test_vector_round_trip(width, signed, data):
    lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
    values = data.draw(st.lists(st.integers(lo, hi), max_size=8))
    enc = P.encode_vector(values, width, signed)
    assert len(enc) == len(values) * P.element_bytes(width)
    assert P.decode_vector(enc, len(values), width, signed) == values


@pytest.mark.parametrize("value, width, signed", [(128, 8, True), (-129, 8, True), (-1, 8, False),
                                                  (256, 8, False), (8, 3, False)])
def test_out_of_range_element_is_input_error(value, width, signed):
    with pytest.raises(InputError, match="does not fit"):
        P.encode_vector([0, value], width, signed)


def test_decode_length_mismatch():
    with pytest.raises(ValueError):
        P.decode_vector(b"\x00\x00\x00", 2, 8, True)


def test_command_frames():
    assert P.encode_write(0x12, 0xA1B2C3D4) == b"W" + bytes([0x12, 0, 0, 0, 0xD4, 0xC3, 0xB2,
                                                             0xA1])
    assert P.encode_read(0x0102) == b"R" + bytes([2, 1, 0, 0])
    assert P.COMMANDS == tuple(map(ord, "IWRCSO"))  # the command bytes of docs/protocol.md
    assert P.ACK not in P.COMMANDS and P.NAK not in P.COMMANDS
    with pytest.raises(InputError):
        P.encode_write(0, 1 << 32)
    with pytest.raises(InputError):
        P.encode_read(-1)


def test_info_round_trip_and_layout():
    info = P.DeviceInfo(n_in=300, n_out=10, in_width=8, out_width=12, in_signed=True,
                        out_signed=False, addr_width=14, depth=1)
    raw = info.to_bytes()
    assert len(raw) == P.INFO_LEN
    assert raw[:4] == b"LGNB" and raw[4] == P.VERSION and raw[5] == 0b01
    assert raw[6:8] == bytes([8, 12]) and raw[8:10] == (300).to_bytes(2, "little")
    assert P.DeviceInfo.from_bytes(raw) == info
    assert info.send_len == 300 and info.recv_len == 20


def test_info_rejects_bad_magic_and_length():
    raw = bytearray(P.DeviceInfo(1, 1, 8, 8, True, True, 4).to_bytes())
    raw[0] = ord("X")
    with pytest.raises(ValueError, match="not a lognet board"):
        P.DeviceInfo.from_bytes(bytes(raw))
    with pytest.raises(ValueError):
        P.DeviceInfo.from_bytes(b"LGNB")


def test_docs_protocol_md_matches_the_constants():
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text()
    for name in ["ID", "WRITE", "READ", "COMMIT", "SEND", "RECV"]:
        assert f"`{chr(getattr(P, f'CMD_{name}'))}`" in doc and name in doc, name
    assert f"0x{P.ACK:02X}" in doc and f"0x{P.NAK:02X}" in doc and P.MAGIC.decode() in doc


def test_frame_byte_is_8n1_lsb_first():
    assert P.frame_byte(0xA5) == (0, 1, 0, 1, 0, 0, 1, 0, 1, 1)
    assert P.frame_byte(0x00) == (0,) + (0,) * 8 + (1,)
    assert len(P.frame_byte(0xFF)) == P.FRAME_BITS
    with pytest.raises(ValueError):
        P.frame_byte(256)


@given(st.integers(0, 255))
def test_frame_round_trip(byte):
    assert P.decode_frame(P.frame_byte(byte)) == byte


def test_decode_frame_checks_start_and_stop_bits():
    bits = list(P.frame_byte(0x3C))
    with pytest.raises(P.FramingError, match="stop"):
        P.decode_frame([*bits[:-1], 0])
    with pytest.raises(P.FramingError, match="start"):
        P.decode_frame([1, *bits[1:]])
    with pytest.raises(ValueError, match="10 bits"):
        P.decode_frame(bits[:-1])
