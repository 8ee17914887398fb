"""Short musical pieces synthesized with the standard library, for the demo catalog.

Every piece is 16-bit mono PCM WAV at 22,050 Hz: WAV seeks exactly in every browser and decodes
with no offset, so a heard position is the file position. A piece is a drum kit (kick, snare and
hats made of sine sweeps and noise bursts), a bass line, chords on a pad and a melody on an
additive or FM lead, over a four-bar chord progression in a seeded key, mode and tempo.

Speed: pure Python cannot afford a loop per sample of a minute of audio, so notes are tiled from
cached single-cycle wavetables and mixed with ``map`` over whole slices; each layer is rendered
per bar, each distinct bar (chord x section) once, and the song is those bars tiled with
variations (an intro, verses, choruses with a fill, an ending on the tonic). A piece of any
length costs seven distinct bars: 0.2-0.5 s of CPU.

Sync marks: starting at 5 s and every ``MARK_INTERVAL_MS`` (5,000 ms) after, while the mark fits
before the end, a ``MARK_LENGTH_MS`` (20 ms) ``MARK_FREQ_HZ`` (3 kHz) tone burst with a Hann
window and a peak of about -22 dBFS is added to the mix; its first sample is exactly at
``round(t_ms * 22.05)``. ``mark_times_ms(duration_ms)`` gives the mark start times of a piece,
and ``RenderedPiece.marks_ms`` holds them too. A bench that records what a page plays finds a
burst by its 3 kHz energy (the music carries little there: the lead stays below 1.5 kHz and the
hats are high-passed and quiet) to a few ms, then by correlating with the burst itself
(``_mark_samples()``) to within a millisecond, and compares the heard time with the room's
``started_at + t`` (tests/foundation/test_synth.py does exactly that).
The same spec always renders the same bytes (every random choice comes from the seed).
"""

import io
import math
import os
import random
import sys
import wave
from array import array
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate, repeat
from operator import add, mul, sub

SAMPLE_RATE = 22050
MARK_INTERVAL_MS = 5000
MARK_LENGTH_MS = 20
MARK_FREQ_HZ = 3000
MARK_PEAK = 0.08

SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
}
PROGRESSIONS = {
    "major": ((0, 4, 5, 3), (0, 5, 3, 4), (0, 3, 4, 3), (5, 3, 0, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2)),
}

# Timbres: ("add", ((harmonic, amplitude), ...)) or ("fm", ratio, index).
TIMBRES = {
    "sine": ("add", ((1, 1.0),)),
    "flute": ("add", ((1, 1.0), (2, 0.22), (3, 0.06))),
    "square": ("add", ((1, 1.0), (3, 0.33), (5, 0.2), (7, 0.14), (9, 0.11))),
    "saw": ("add", tuple((h, 1.0 / h) for h in range(1, 9))),
    "organ": ("add", ((1, 1.0), (2, 0.5), (3, 0.3), (4, 0.2), (8, 0.08))),
    "epiano": ("fm", 1, 1.4),
    "bell": ("fm", 3, 2.2),
    "pluck": ("fm", 2, 2.6),
    "soft": ("fm", 1, 0.3),
}

# Drum patterns over 16 steps: kick, snare, hat ("x" closed, "o" open).
DRUMS = {
    "four": ("x...x...x...x...", "....x.......x...", "..x...x...x...xo"),
    "backbeat": ("x.......x.x.....", "....x.......x...", "x.x.x.x.x.x.x.x."),
    "boombap": ("x......x..x.....", "....x.......x..x", "x.x.x.x.x.x.x.xo"),
    "halftime": ("x.........x.....", "........x.......", "x...x...x...x..."),
    "ride": ("x.......x.......", "............x...", "x..xx..xx..xx..x"),
    "none": ("", "", ""),
}


@dataclass(frozen=True)
class Style:
    bpm: tuple[int, int]
    modes: tuple[str, ...]
    drums: str
    bass: str  # "eighths", "offbeat", "long", "walk"
    pad: str
    lead: str
    sevenths: bool = False
    lead_density: float = 0.55


STYLES = {
    "electronic": Style((118, 128), ("minor", "dorian"), "four", "offbeat", "saw", "pluck"),
    "synthpop": Style((100, 116), ("major", "mixolydian"), "backbeat", "eighths", "saw", "square"),
    "hip-hop": Style((84, 94), ("minor", "dorian"), "boombap", "long", "epiano", "flute", True),
    "lo-fi": Style((72, 86), ("major", "dorian"), "halftime", "long", "epiano", "soft", True, 0.4),
    "ambient": Style((66, 80), ("major", "minor"), "none", "long", "organ", "bell", False, 0.3),
    "indie-rock": Style((120, 140), ("major", "mixolydian"), "backbeat", "eighths", "organ", "saw"),
    "jazz": Style((96, 124), ("dorian", "major"), "ride", "walk", "epiano", "flute", True, 0.6),
}


@dataclass(frozen=True)
class PieceSpec:
    seed: int
    style: str
    seconds: int
    bpm: int
    root: int  # MIDI note of the key's tonic in the bass register
    mode: str
    progression: tuple[int, ...]


@dataclass
class RenderedPiece:
    spec: PieceSpec
    wav: bytes
    duration_ms: int
    marks_ms: list[int] = field(default_factory=list)


def piece_spec(*, seed: int, style: str = "", seconds: int = 0) -> PieceSpec:
    """Choose key, mode, tempo and progression from the seed (and style, length when not given)."""
    rng = random.Random(seed)
    style = style or rng.choice(sorted(STYLES))
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; choose from {', '.join(sorted(STYLES))}")
    st = STYLES[style]
    mode = rng.choice(st.modes)
    family = "major" if mode in ("major", "mixolydian") else "minor"
    return PieceSpec(
        seed=seed,
        style=style,
        seconds=seconds or rng.randint(30, 90),
        bpm=rng.randint(*st.bpm),
        root=rng.randint(36, 47),
        mode=mode,
        progression=rng.choice(PROGRESSIONS[family]),
    )


def mark_times_ms(duration_ms: int) -> list[int]:
    """Start times of the sync marks in a piece of this length."""
    last = duration_ms - MARK_LENGTH_MS - 1
    return list(range(MARK_INTERVAL_MS, last + 1, MARK_INTERVAL_MS))


def _freq(midi: int) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


@lru_cache(maxsize=1024)
def _table(timbre: str, midi: int) -> tuple[float, ...]:
    """Whole cycles of a timbre whose length in samples is nearly exact, so tiling stays in tune."""
    f = _freq(midi)
    period = SAMPLE_RATE / f
    best_k, best_err = 1, 1.0
    for k in range(1, int(2048 / period) + 2):
        err = abs(k * period - round(k * period)) / (k * period)
        if err < best_err:
            best_k, best_err = k, err
        if err < 0.0002:
            break
    n = max(1, round(best_k * period))
    step = 2 * math.pi * best_k / n  # phase step of the fundamental per sample
    spec = TIMBRES[timbre]
    if spec[0] == "add":
        # Drop partials above 5 kHz: no aliasing, and the 3 kHz marks stay easy to find.
        partials = [(h, a) for h, a in spec[1] if h * f < 5000] or [(1, 1.0)]
        norm = 1.0 / sum(a for _, a in partials)
        return tuple(norm * sum(a * math.sin(h * step * i) for h, a in partials) for i in range(n))
    _, ratio, index = spec
    return tuple(math.sin(step * i + index * math.sin(ratio * step * i)) for i in range(n))


def _tile(table: tuple[float, ...], n: int) -> list[float]:
    return list((table * (n // len(table) + 1))[:n])


@lru_cache(maxsize=512)
def _envelope(kind: str, n: int) -> tuple[float, ...]:
    """Amplitude envelopes; all end at zero so no note clicks when it stops."""
    if kind == "pad":
        a, r = n // 5, n // 4
        body = [i / a for i in range(a)] + [1.0] * (n - a - r) + [1 - i / r for i in range(r)]
        return tuple(body)
    # Plucked shapes decay exponentially; "fast" is the bright part of a plucked note.
    tau = {"pluck": 0.35, "fast": 0.08, "drum": 0.09, "long": 0.9, "organ": 60.0}[kind]
    decay = math.exp(-1.0 / (tau * SAMPLE_RATE))
    env = list(accumulate(repeat(decay, n - 1), mul, initial=1.0))
    attack, release = min(n // 4, 90), min(n // 3, 220)
    for i in range(attack):
        env[i] *= i / attack
    for i in range(release):
        env[n - 1 - i] *= i / release
    return tuple(env)


@lru_cache(maxsize=512)
def _gained(kind: str, n: int, gain: float) -> tuple[float, ...]:
    return tuple(map(mul, _envelope(kind, n), repeat(gain)))


def _note(timbre: str, midi: int, n: int, shape: str, gain: float) -> list[float]:
    env = _gained(shape, n, gain)
    if shape == "pluck" and TIMBRES[timbre][0] == "fm":
        # FM brightness fades faster than the body: a soft version of the note takes over.
        bright = map(mul, _tile(_table(timbre, midi), n), _envelope("fast", n))
        soft = _tile(_table("soft" if timbre != "soft" else "sine", midi), n)
        return list(map(mul, map(add, bright, soft), env))
    return list(map(mul, _tile(_table(timbre, midi), n), env))


def _mix(buf: list[float], offset: int, samples: list[float]) -> None:
    end = min(len(buf), offset + len(samples))
    if end > offset:
        buf[offset:end] = map(add, buf[offset:end], samples[: end - offset])


def _scaled(samples, gain: float) -> list[float]:
    return list(map(mul, samples, repeat(gain)))


@lru_cache(maxsize=8)
def _drum_sounds(seed: int) -> dict[str, list[float]]:
    """One kit per seed, with the mix levels applied: a kick sweep, snare and hats from noise."""
    rng = random.Random(seed)
    n = int(0.28 * SAMPLE_RATE)
    phase, kick = 0.0, []
    for i in range(n):
        phase += 2 * math.pi * (45 + 75 * math.exp(-i / (0.03 * SAMPLE_RATE))) / SAMPLE_RATE
        kick.append(math.sin(phase))
    noise = [rng.uniform(-1, 1) for _ in range(int(0.2 * SAMPLE_RATE) + 3)]
    ns = len(noise) - 3
    tone = [0.6 * math.sin(2 * math.pi * 185 * i / SAMPLE_RATE) for i in range(ns)]
    snare = map(mul, map(add, noise[:ns], tone), _envelope("drum", ns))
    # A third difference: a crude high-pass, so the hats sit mostly above the 3 kHz marks.
    hp = noise
    for _ in range(3):
        hp = list(map(sub, hp[1:], hp[:-1]))
    nc, no = int(0.035 * SAMPLE_RATE), int(0.15 * SAMPLE_RATE)
    return {
        "kick": _scaled(map(mul, kick, _envelope("long", n)), 0.9),
        "snare": _scaled(snare, 0.45),
        "x": _scaled(map(mul, hp[:nc], _envelope("fast", nc)), 0.025),
        "X": _scaled(map(mul, hp[:nc], _envelope("fast", nc)), 0.035),
        "o": _scaled(map(mul, hp[:no], _envelope("drum", no)), 0.025),
    }


class _Song:
    """Renders the layers of one piece bar by bar; every distinct bar is computed once."""

    def __init__(self, spec: PieceSpec):
        self.spec = spec
        self.style = STYLES[spec.style]
        self.scale = SCALES[spec.mode]
        self.bar = round(SAMPLE_RATE * 240 / spec.bpm)
        self.steps = [round(i * self.bar / 16) for i in range(17)]
        self.drums = _drum_sounds(spec.seed % 4)
        self.melodies = {v: self._melody_plan(v) for v in ("a", "b")}
        self.notes: dict[tuple, list[float]] = {}  # per piece: a bass line repeats its notes

    def note(self, timbre: str, midi: int, n: int, shape: str, gain: float) -> list[float]:
        key = (timbre, midi, n, shape, gain)
        if key not in self.notes:
            self.notes[key] = _note(timbre, midi, n, shape, gain)
        return self.notes[key]

    def degree(self, d: int, octave: int = 0) -> int:
        o, i = divmod(d, len(self.scale))
        return self.spec.root + 12 * (o + octave) + self.scale[i]

    def chord(self, bar_index: int) -> list[int]:
        d = self.spec.progression[bar_index % len(self.spec.progression)]
        tones = (0, 2, 4, 6) if self.style.sevenths else (0, 2, 4)
        return [d + t for t in tones]

    def _span(self, start_step: int, steps: int) -> tuple[int, int]:
        s = self.steps[start_step]
        return s, self.steps[min(16, start_step + steps)] - s

    def drums_bar(self, fill: bool) -> list[float]:
        buf = [0.0] * self.bar
        kick, snare, hats = DRUMS[self.style.drums]
        if fill and snare:
            snare = snare[:12] + "x.xx"
        for pattern, name in ((kick, "kick"), (snare, "snare")):
            for i, c in enumerate(pattern):
                if c == "x":
                    _mix(buf, self.steps[i], self.drums[name])
        for i, c in enumerate(hats):
            if c in "xo":
                _mix(buf, self.steps[i], self.drums["X" if c == "x" and i % 4 == 0 else c])
        return buf

    def bass_bar(self, bar_index: int) -> list[float]:
        buf = [0.0] * self.bar
        root = self.chord(bar_index)[0]
        kind = self.style.bass
        if kind == "long":
            notes = [(0, 10, root), (10, 6, root + 4 if bar_index % 2 else root)]
        elif kind == "walk":
            nxt = self.chord(bar_index + 1)[0]
            notes = [(0, 4, root), (4, 4, root + 2), (8, 4, root + 4), (12, 4, nxt + 1)]
        elif kind == "offbeat":
            notes = [(s, 2, root) for s in (2, 6, 10, 14)]
        else:
            notes = [(s, 2, root + (7 if s in (6, 14) else 0)) for s in range(0, 16, 2)]
        for step, length, deg in notes:
            start, n = self._span(step, length)
            _mix(buf, start, self.note("sine", self.degree(deg), n, "pluck", 0.55))
            _mix(buf, start, self.note("organ", self.degree(deg, 1), n, "pluck", 0.12))
        return buf

    def pad_bar(self, bar_index: int) -> list[float]:
        # Sum the chord's cycles first, then shape them once: one envelope pass per bar.
        tiles = [
            _tile(_table(self.style.pad, self.degree(d, 1)), self.bar)
            for d in self.chord(bar_index)
        ]
        chord = tiles[0]
        for t in tiles[1:]:
            chord = map(add, chord, t)
        return list(map(mul, chord, _gained("pad", self.bar, 0.1)))

    def _melody_plan(self, variant: str) -> list[list[tuple[int, int, int]]]:
        rng = random.Random(f"{self.spec.seed}-{variant}")
        plan, pos = [], 4 + rng.randint(-2, 2)
        lengths = (2, 2, 4, 4, 6) if self.style.lead_density > 0.5 else (4, 6, 8)
        for b in range(len(self.spec.progression)):
            notes, step = [], 0
            chord = {d % 7 for d in self.chord(b)}
            while step < 16:
                length = rng.choice(lengths)
                if rng.random() < self.style.lead_density:
                    pos = max(0, min(9, pos + rng.choice((-2, -1, -1, 1, 1, 2, 0))))
                    if step % 4 == 0:  # strong beats land on the nearest chord tone
                        tones = [p for p in range(10) if p % 7 in chord]
                        pos = min(tones, key=lambda p, pos=pos: abs(p - pos))
                    notes.append((step, min(length, 16 - step), pos))
                step += length
            plan.append(notes)
        return plan

    def melody_bar(self, bar_index: int, variant: str) -> list[float]:
        buf = [0.0] * self.bar
        octave = 2 if variant == "a" else 3
        for step, length, deg in self.melodies[variant][bar_index % len(self.spec.progression)]:
            start, n = self._span(step, length)
            midi = self.degree(deg, octave)
            while midi > 88:  # stay below ~1.4 kHz, clear of the marks
                midi -= 12
            _mix(buf, start, self.note(self.style.lead, midi, n, "pluck", 0.3))
        return buf

    def layer(self, name: str, bar_index: int) -> list[float]:
        if name == "base":  # pad and bass play in every bar: mixed once per chord
            return list(map(add, self.pad_bar(bar_index), self.bass_bar(bar_index)))
        if name.startswith("melody"):
            return self.melody_bar(bar_index, name[-1])
        return self.drums_bar(fill=name == "fill")


def _section(kind: str, plen: int) -> list[tuple[tuple[str, ...], int]]:
    """The bars of a section as (layers, chord index). A chorus repeats the verse's first half
    and changes its second; intro and ending are the tonic chord alone. So a piece of any length
    has seven distinct bars to compute."""
    if kind in ("intro", "end"):
        return [(("base",), 0)]
    bars = []
    for b in range(plen):
        second_half = kind == "chorus" and b >= plen // 2
        drums = "fill" if second_half and b == plen - 1 else "drums"
        bars.append((("base", drums, "melody-b" if second_half else "melody-a"), b))
    return bars


SONG_FORM = ("verse", "chorus", "verse", "chorus", "chorus", "verse", "chorus", "verse")


def _bar_keys(spec: PieceSpec, bar_samples: int) -> list[tuple[tuple[str, ...], int]]:
    """Intro, as many sections as come nearest the wanted length within 30-90 s, ending."""
    plen = len(spec.progression)

    def form(count: int) -> list[tuple]:
        kinds = list(SONG_FORM[:count])
        while len(kinds) < count:
            kinds.append("verse" if len(kinds) % 2 else "chorus")
        return [bar for kind in ("intro", *kinds, "end") for bar in _section(kind, plen)]

    def seconds(keys: list) -> float:
        return len(keys) * bar_samples / SAMPLE_RATE

    count = max(1, round((spec.seconds * SAMPLE_RATE / bar_samples - 2) / plen))
    while seconds(form(count)) < 30:
        count += 1
    while seconds(form(count)) > 90 and count > 1:
        count -= 1
    return form(count)


def render_piece(spec: PieceSpec) -> RenderedPiece:
    song = _Song(spec)
    bar_keys = _bar_keys(spec, song.bar)
    layers: dict[tuple, list[float]] = {}
    mixed: dict[tuple, list[float]] = {}
    for key in dict.fromkeys(bar_keys):
        names, b = key
        parts = []
        for name in names:
            if (name, b) not in layers:
                layers[name, b] = song.layer(name, b)
            parts.append(layers[name, b])
        buf = parts[0]
        for part in parts[1:]:
            buf = map(add, buf, part)
        mixed[key] = buf if isinstance(buf, list) else list(buf)
    peak = max(max(map(abs, buf)) for buf in mixed.values()) or 1.0
    gain = 0.89 * 32767 / peak
    pcm = {k: _pcm16(v, gain) for k, v in mixed.items()}

    audio = bytearray(b"".join(pcm[k] for k in bar_keys))
    duration_ms = (len(audio) // 2) * 1000 // SAMPLE_RATE
    marks = mark_times_ms(duration_ms)
    _add_marks(audio, marks)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(audio)
    return RenderedPiece(spec=spec, wav=out.getvalue(), duration_ms=duration_ms, marks_ms=marks)


# Adding 1.5 * 2**52 to a float leaves round(x) in the low bits of its mantissa, two's complement:
# the two low bytes of each double are then the 16-bit sample, picked out by slicing at C speed.
_ROUNDING = 1.5 * 2**52
_LOW, _HIGH = (0, 1) if sys.byteorder == "little" else (7, 6)


def _pcm16(samples: list[float], gain: float) -> bytes:
    doubles = array("d", map(add, map(mul, samples, repeat(gain)), repeat(_ROUNDING))).tobytes()
    out = bytearray(2 * len(samples))
    out[0::2] = doubles[_LOW::8]
    out[1::2] = doubles[_HIGH::8]
    return bytes(out)


@lru_cache(maxsize=1)
def _mark_samples() -> tuple[int, ...]:
    n = round(MARK_LENGTH_MS * SAMPLE_RATE / 1000)
    peak = MARK_PEAK * 32767
    return tuple(
        round(
            peak
            * math.sin(2 * math.pi * MARK_FREQ_HZ * i / SAMPLE_RATE)
            * math.sin(math.pi * i / (n - 1)) ** 2
        )
        for i in range(n)
    )


def _add_marks(audio: bytearray, marks_ms: list[int]) -> None:
    click = _mark_samples()
    for t in marks_ms:
        start = round(t * SAMPLE_RATE / 1000) * 2
        seg = array("h", bytes(audio[start : start + 2 * len(click)]))
        summed = (max(-32768, min(32767, a + b)) for a, b in zip(seg, click, strict=False))
        audio[start : start + 2 * len(seg)] = array("h", summed).tobytes()


def render(*, seed: int, style: str = "", seconds: int = 0) -> RenderedPiece:
    """Render a piece from a seed: the one call the demo data needs."""
    return render_piece(piece_spec(seed=seed, style=style, seconds=seconds))


def _render_kwargs(kwargs: dict) -> RenderedPiece:
    return render(**kwargs)


def render_many(pieces: list[dict], *, workers: int | None = None) -> list[RenderedPiece]:
    """Render several pieces (keyword dicts for `render`), in worker processes when it pays."""
    workers = workers or min(4, os.cpu_count() or 1)
    if workers < 2 or len(pieces) < 4:
        return [render(**kwargs) for kwargs in pieces]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_render_kwargs, pieces))
