"""Reading audio files: what format a file really is, how long it plays, and its tags.

Rooms play a track in sync by seeking every listener to the same position, so only formats that
browsers seek accurately are accepted: WAV, Ogg Vorbis/Opus, FLAC, AAC/M4A and constant-bitrate
MP3. The format is decided by the file's first bytes, never by its name: a JPEG renamed .mp3 is
still a JPEG.
"""

import struct
from dataclasses import dataclass, field
from typing import IO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from mutagen.aac import AAC
from mutagen.easyid3 import EasyID3
from mutagen.easymp4 import EasyMP4
from mutagen.flac import FLAC
from mutagen.mp3 import MP3, BitrateMode
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

from catalog.isrc import normalize_isrc

ACCEPTED = "WAV, Ogg Vorbis, Ogg Opus, FLAC, AAC (M4A) or constant-bitrate MP3"

# Longer than any track a room should play; guards against headers that claim absurd lengths.
MAX_DURATION_MS = 4 * 60 * 60 * 1000


@dataclass(frozen=True)
class AudioInfo:
    duration_ms: int
    mime: str
    title: str = ""
    artists: list[str] = field(default_factory=list)
    album: str = ""
    isrc: str = ""


def _invalid(message: str, code: str = "invalid_audio") -> ValidationError:
    return ValidationError(message, code=code)


def _size(fileobj: IO[bytes]) -> int:
    fileobj.seek(0, 2)
    size = fileobj.tell()
    fileobj.seek(0)
    return size


def _sniff(head: bytes) -> str | None:
    """The container a file's first bytes announce, or None when it is not audio we know."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"OggS":
        if b"OpusHead" in head[:200]:
            return "opus"
        if b"\x01vorbis" in head[:200]:
            return "vorbis"
        return "ogg-other"
    if head[:4] == b"fLaC":
        return "flac"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[:3] == b"ID3":
        return "mp3"
    if len(head) >= 2 and head[0] == 0xFF:
        if head[1] & 0xF6 == 0xF0:  # ADTS: sync, layer bits 00
            return "aac"
        if head[1] & 0xE0 == 0xE0 and head[1] & 0x06 != 0:  # MPEG audio layer I-III
            return "mp3"
    return None


def _first(tags, key: str) -> str:
    if not tags:
        return ""
    try:
        values = tags.get(key) or []
    except (KeyError, ValueError):
        return ""
    if isinstance(values, str):
        return values.strip()
    return str(values[0]).strip() if values else ""


def _all(tags, key: str) -> list[str]:
    if not tags:
        return []
    try:
        values = tags.get(key) or []
    except (KeyError, ValueError):
        return []
    if isinstance(values, str):
        values = [values]
    names: list[str] = []
    for value in values:
        # Many taggers store several artists in one string separated by slashes or semicolons.
        for part in str(value).replace(";", "/").split("/"):
            if part.strip() and part.strip() not in names:
                names.append(part.strip())
    return names


def _id3_as_dict(tags) -> dict[str, list[str]]:
    """WAV files carry plain ID3 frames; map the few we use to the easy names."""
    if not tags:
        return {}
    out: dict[str, list[str]] = {}
    for frame_id, name in (("TIT2", "title"), ("TPE1", "artist"), ("TALB", "album")):
        frame = tags.get(frame_id)
        if frame is not None:
            out[name] = [str(t) for t in frame.text]
    isrc = tags.get("TSRC")
    if isrc is not None:
        out["isrc"] = [str(t) for t in isrc.text]
    return out


def _wav_check_complete(fileobj: IO[bytes], size: int, filename: str) -> None:
    """mutagen trusts the data chunk's declared size; a cut-off upload would then claim a
    duration it cannot play, and the room would wait in silence. Walk the chunks to be sure."""
    fileobj.seek(12)
    while True:
        header = fileobj.read(8)
        if len(header) < 8:
            raise _invalid(f"{filename} is a WAV file without audio data.")
        chunk_id, chunk_size = header[:4], struct.unpack("<I", header[4:])[0]
        start = fileobj.tell()
        if chunk_id == b"data":
            if start + chunk_size > size:
                raise _invalid(
                    f"{filename} is truncated: its audio data ends early. Upload the complete file."
                )
            return
        fileobj.seek(start + chunk_size + (chunk_size & 1))
        if fileobj.tell() >= size:
            raise _invalid(f"{filename} is a WAV file without audio data.")


def _mp3_first_frame_offset(head: bytes) -> int:
    if head[:3] != b"ID3" or len(head) < 10:
        return 0
    b = head[6:10]
    tag_size = (b[0] << 21) | (b[1] << 14) | (b[2] << 7) | b[3]
    footer = 10 if head[5] & 0x10 else 0
    return 10 + tag_size + footer


def _mp3_check_constant_bitrate(fileobj: IO[bytes], audio: MP3) -> None:
    """Browsers seek VBR MP3 by guessing, so playback in a room would drift from everyone else."""
    re_encode = (
        "This MP3 uses a variable bitrate, which browsers cannot seek accurately. "
        "Re-encode it as constant-bitrate MP3 (e.g. 192 kbps CBR), Ogg Opus or WAV."
    )
    mode = audio.info.bitrate_mode
    if mode in (BitrateMode.VBR, BitrateMode.ABR):
        raise _invalid(re_encode, code="vbr_mp3")
    if mode == BitrateMode.CBR:
        return
    # Unknown mode: look for a VBR header in the first frame, then compare frame bitrates.
    fileobj.seek(0)
    head = fileobj.read(64 * 1024)
    offset = _mp3_first_frame_offset(head)
    fileobj.seek(offset)
    window = fileobj.read(64 * 1024)
    sync = window.find(b"\xff")
    while sync != -1 and sync + 1 < len(window) and window[sync + 1] & 0xE0 != 0xE0:
        sync = window.find(b"\xff", sync + 1)
    if sync == -1:
        raise _invalid("This MP3 file has no audio frames.")
    first = window[sync : sync + 200]
    if b"Xing" in first or b"VBRI" in first:
        raise _invalid(re_encode, code="vbr_mp3")
    bitrates = set()
    pos = sync
    for _ in range(40):
        frame = window[pos : pos + 4]
        if len(frame) < 4 or frame[0] != 0xFF or frame[1] & 0xE0 != 0xE0:
            break
        bitrates.add(frame[2] >> 4)
        length = _mp3_frame_length(frame)
        if not length:
            break
        pos += length
    if len(bitrates) > 1:
        raise _invalid(re_encode, code="vbr_mp3")


_MP3_BITRATES = {
    # (version is MPEG1, layer III) -> kbps by index; other layers/versions use their own tables.
    (True, 1): [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0],
    (False, 1): [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0],
}
_MP3_RATES = {3: [44100, 48000, 32000], 2: [22050, 24000, 16000], 0: [11025, 12000, 8000]}


def _mp3_frame_length(header: bytes) -> int:
    version = (header[1] >> 3) & 0x03
    layer = (header[1] >> 1) & 0x03
    if version == 1 or layer != 1:  # reserved version, or not layer III: stop walking
        return 0
    bitrate_index, rate_index = header[2] >> 4, (header[2] >> 2) & 0x03
    if rate_index == 3:
        return 0
    kbps = _MP3_BITRATES[(version == 3, 1)][bitrate_index]
    rate = _MP3_RATES[version][rate_index]
    padding = (header[2] >> 1) & 0x01
    coefficient = 144 if version == 3 else 72
    return coefficient * kbps * 1000 // rate + padding if kbps else 0


_READERS = {
    "wav": (WAVE, "audio/wav"),
    "opus": (OggOpus, "audio/ogg"),
    "vorbis": (OggVorbis, "audio/ogg"),
    "flac": (FLAC, "audio/flac"),
    "mp4": (EasyMP4, "audio/mp4"),
    "mp3": (lambda f: MP3(f, ID3=EasyID3), "audio/mpeg"),
    "aac": (AAC, "audio/aac"),
}


def audio_read_metadata(fileobj: IO[bytes], *, filename: str) -> AudioInfo:
    """Duration, MIME type and tags of an uploaded file; ValidationError when rooms cannot
    play it. The file position is left at the start."""
    size = _size(fileobj)
    limit = settings.MAX_AUDIO_UPLOAD_BYTES
    if size > limit:
        raise _invalid(
            f"{filename} is {filesizeformat(size)}; audio files may be at most "
            f"{filesizeformat(limit)}.",
            code="too_large",
        )
    if size == 0:
        raise _invalid(f"{filename} is empty.", code="empty")
    head = fileobj.read(4096)
    fileobj.seek(0)
    kind = _sniff(head)
    if kind is None:
        raise _invalid(
            f"{filename} is not an audio file we can play. Upload {ACCEPTED}.", code="not_audio"
        )
    if kind == "ogg-other":
        raise _invalid(
            f"{filename} is an Ogg file without Vorbis or Opus audio. Upload {ACCEPTED}.",
            code="not_audio",
        )

    reader, mime = _READERS[kind]
    try:
        audio = reader(fileobj)
    except Exception as exc:  # mutagen raises many unrelated types for damaged files
        raise _invalid(
            f"{filename} looks like {kind.upper()} audio but could not be read ({exc}). "
            "It may be damaged or truncated.",
            code="damaged",
        ) from exc
    finally:
        fileobj.seek(0)

    if kind == "mp3":
        if audio.info.sketchy:
            raise _invalid(f"{filename} is not a valid MP3 file.", code="damaged")
        _mp3_check_constant_bitrate(fileobj, audio)
    if kind == "mp4" and not getattr(audio.info, "codec", "").startswith(("mp4a", "alac")):
        raise _invalid(
            f"{filename} is an MP4 file without AAC audio (is it a video?). Upload {ACCEPTED}.",
            code="not_audio",
        )
    if kind == "wav":
        _wav_check_complete(fileobj, size, filename)
    fileobj.seek(0)

    duration_ms = int(round((audio.info.length or 0) * 1000))
    if duration_ms <= 0:
        raise _invalid(f"{filename} contains no audio (its duration is zero).", code="empty")
    if duration_ms > MAX_DURATION_MS:
        raise _invalid(f"{filename} claims to be longer than 4 hours; is it damaged?")

    tags = _id3_as_dict(audio.tags) if kind == "wav" else audio.tags
    isrc = _first(tags, "isrc")
    try:
        isrc = normalize_isrc(isrc) if isrc else ""
    except ValidationError:
        isrc = ""  # a malformed tag is not the uploader's fault; the field stays empty
    return AudioInfo(
        duration_ms=duration_ms,
        mime=mime,
        title=_first(tags, "title")[:300],
        artists=[name[:200] for name in _all(tags, "artist")],
        album=_first(tags, "album")[:300],
        isrc=isrc,
    )
