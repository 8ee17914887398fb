"""Real audio files made with the standard library, for upload and serving tests."""

import io
import struct
import wave


def wav_bytes(*, seconds: float = 1.5, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x01\x00" * int(seconds * rate))
    return buf.getvalue()


def mp3_bytes(*, frames: int = 200, vbr_header: bytes | None = None, bitrates=None) -> bytes:
    """MPEG-1 layer III frames (silent payload). ``bitrates`` cycles frame bitrate indexes to
    make a headerless VBR file; ``vbr_header`` writes a Xing/Info tag into the first frame."""
    lengths = {9: 417, 11: 626, 5: 208}  # 128, 192 and 64 kbps at 44.1 kHz
    out = bytearray()
    for i in range(frames):
        index = bitrates[i % len(bitrates)] if bitrates else 9
        frame = bytearray(lengths[index])
        frame[0:4] = bytes([0xFF, 0xFB, index << 4, 0x00])
        if i == 0 and vbr_header:
            frame[36:48] = vbr_header + struct.pack(">II", 1, frames)
        out += frame
    return bytes(out)


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else (r << 1)
        table.append(r & 0xFFFFFFFF)
    return table


_CRC = _crc_table()


def _ogg_page(packet: bytes, *, seq: int, granule: int, flags: int) -> bytes:
    segments, n = [], len(packet)
    while n >= 255:
        segments.append(255)
        n -= 255
    segments.append(n)
    header = b"OggS" + struct.pack("<BBqIII", 0, flags, granule, 7, seq, 0)
    page = bytearray(header + bytes([len(segments)]) + bytes(segments) + packet)
    crc = 0
    for byte in page:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC[((crc >> 24) & 0xFF) ^ byte]
    struct.pack_into("<I", page, 22, crc)
    return bytes(page)


def opus_bytes(*, seconds: float = 2.0, title: str = "Tagged Title", artist: str = "Tag Artist"):
    """An Ogg Opus stream: headers, tags and silent packets whose granule positions give the
    duration (48 kHz, 312 samples of pre-skip)."""
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, 312, 48000, 0, 0)
    comments = [f"TITLE={title}".encode(), f"ARTIST={artist}".encode(), b"ISRC=GBAYE0601498"]
    tags = b"OpusTags" + struct.pack("<I", 4) + b"test" + struct.pack("<I", len(comments))
    tags += b"".join(struct.pack("<I", len(c)) + c for c in comments)
    total = int(seconds * 48000) + 312
    return (
        _ogg_page(head, seq=0, granule=0, flags=2)
        + _ogg_page(tags, seq=1, granule=0, flags=0)
        + _ogg_page(b"\xf8\xff\xfe", seq=2, granule=total // 2, flags=0)
        + _ogg_page(b"\xf8\xff\xfe", seq=3, granule=total, flags=4)
    )
