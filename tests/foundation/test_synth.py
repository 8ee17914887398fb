"""The demo audio: valid WAV of the asked length, deterministic, with sync marks where promised."""

import io
import math
import operator
import wave
from array import array

import pytest

from catalog import synth


def goertzel(samples, freq: float) -> float:
    """Amplitude of one frequency in a window of samples."""
    k = 2 * math.cos(2 * math.pi * freq / synth.SAMPLE_RATE)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + k * s1 - s2, s1
    return math.sqrt(max(0.0, s1 * s1 + s2 * s2 - k * s1 * s2)) / len(samples)


@pytest.fixture(scope="module")
def piece():
    return synth.render(seed=42, style="electronic", seconds=35)


def read(piece) -> tuple[wave._wave_params, array]:
    with wave.open(io.BytesIO(piece.wav)) as w:
        return w.getparams(), array("h", w.readframes(w.getnframes()))


def test_piece_is_16_bit_mono_wav_of_its_duration(piece):
    params, samples = read(piece)
    assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, 22050)
    assert params.nframes * 1000 // 22050 == piece.duration_ms
    assert 30_000 <= piece.duration_ms <= 90_000
    peak = max(map(abs, samples))
    assert 20_000 < peak < 32_767  # normalised, not clipped


def test_marks_are_where_the_docstring_says(piece):
    """A bench finds each mark as promised: 3 kHz energy narrows it to a few ms, then a matched
    filter (correlation with the burst itself) places it within a millisecond."""
    _, samples = read(piece)
    click = synth._mark_samples()
    n = len(click)
    assert n == round(synth.MARK_LENGTH_MS * synth.SAMPLE_RATE / 1000)
    assert (
        piece.marks_ms
        == synth.mark_times_ms(piece.duration_ms)
        == list(range(5000, piece.duration_ms - 20, 5000))
    )
    hop = 22  # 1 ms
    for t in piece.marks_ms:
        at = round(t * synth.SAMPLE_RATE / 1000)
        starts = range(max(0, at - 11025), min(len(samples) - n, at + 11025), hop)
        energy = {s: goertzel(samples[s : s + n], synth.MARK_FREQ_HZ) for s in starts}
        coarse = max(energy, key=energy.get)
        assert abs(coarse - at) <= 10 * hop, (t, coarse / 22.05)
        background = sorted(energy.values())[len(energy) // 2]
        assert energy[coarse] > 5 * background

        def match(s):
            return sum(map(operator.mul, samples[s : s + n], click))

        fine = max(range(coarse - 5 * hop, coarse + 5 * hop), key=match)
        assert abs(fine - at) <= hop, (t, fine / 22.05)


def test_same_seed_same_bytes_and_styles_differ():
    a = synth.render(seed=7, style="jazz", seconds=30)
    assert synth.render(seed=7, style="jazz", seconds=30).wav == a.wav
    b = synth.render(seed=8, style="jazz", seconds=30)
    assert b.wav != a.wav
    specs = {synth.piece_spec(seed=s, style="ambient").bpm for s in range(10)}
    assert len(specs) > 3 and all(66 <= bpm <= 80 for bpm in specs)


def test_unknown_style_is_refused_clearly():
    with pytest.raises(ValueError, match="unknown style 'polka'; choose from ambient"):
        synth.piece_spec(seed=1, style="polka")
