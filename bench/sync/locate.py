"""Find the sync marks (20 ms Hann-windowed 3 kHz bursts, catalog/synth.py) in a recording.

A phase-insensitive matched filter: shift 3 kHz to 0 Hz, correlate with the Hann window, take the
magnitude. Its peak sits on the burst's first sample whatever the burst's phase, and the music
around it (little energy near 3 kHz) barely moves it. A parabola through the peak's neighbours
gives the time to a fraction of a sample.
"""

import numpy as np

MARK_FREQ_HZ = 3000
MARK_LENGTH_MS = 20
MARK_PEAK = 0.08  # of full scale, as rendered
THRESHOLD = 0.3  # of a nominal mark's filter peak
SIDELOBE = 0.3  # largest response 20-30 ms from the peak, relative to it
MIN_GAP_S = 1.0  # two marks are never closer than this (they come every 5 s)


def _window(rate: int) -> np.ndarray:
    n = round(MARK_LENGTH_MS * rate / 1000)
    return np.sin(np.pi * np.arange(n) / (n - 1)) ** 2


def nominal_peak(rate: int) -> float:
    w = _window(rate)
    return MARK_PEAK / 2 * float(np.sum(w * w))


def matched(x: np.ndarray, rate: int) -> np.ndarray:
    """|correlation| of `x` (floats, full scale 1) with a mark starting at each sample."""
    w = _window(rate)
    n = len(x)
    phase = np.exp(-2j * np.pi * MARK_FREQ_HZ * np.arange(n) / rate)
    size = 1 << int(n + len(w) - 1).bit_length()
    spec = np.fft.fft(x * phase, size) * np.conj(np.fft.fft(w, size))
    return np.abs(np.fft.ifft(spec)[:n])


def _shape_ok(m: np.ndarray, i: int, rate: int) -> bool:
    """A mark's response dies out within one mark length of its peak; music near 3 kHz lingers."""
    for d_ms in (20, 25, 30):
        d = round(d_ms * rate / 1000)
        side = max(m[i - d] if i >= d else 0.0, m[i + d] if i + d < len(m) else 0.0)
        if side > SIDELOBE * m[i]:
            return False
    return True


def find_marks(x: np.ndarray, rate: int) -> list[tuple[float, float]]:
    """(start in seconds from the first sample, strength relative to a nominal mark), in order."""
    m = matched(x, rate) / nominal_peak(rate)
    above = np.flatnonzero(m > THRESHOLD)
    if not len(above):
        return []
    found: list[tuple[float, float]] = []
    # Runs of samples above the threshold; each run's top is a candidate.
    breaks = np.flatnonzero(np.diff(above) > round(0.005 * rate)) + 1
    for run in np.split(above, breaks):
        i = int(run[np.argmax(m[run])])
        if not _shape_ok(m, i, rate):
            continue
        if 0 < i < len(m) - 1:
            a, b, c = m[i - 1], m[i], m[i + 1]
            denom = a - 2 * b + c
            frac = 0.5 * (a - c) / denom if denom else 0.0
        else:
            frac = 0.0
        t = (i + frac) / rate
        if found and t - found[-1][0] < MIN_GAP_S:
            if m[i] > found[-1][1]:
                found[-1] = (t, float(m[i]))
            continue
        found.append((t, float(m[i])))
    return found


def assign(
    detections: list[tuple[float, float]],
    *,
    t0: float,
    started_at: float,
    marks_s: list[float],
    window_s: float = 2.4,
) -> dict[int, tuple[float, float]]:
    """Name each detection by the mark it most likely is.

    `t0` is the bench time of the recording's first sample, `started_at` the bench time of the
    track's position 0. Returns {mark index: (bench time heard, strength)}; when a page replays a
    mark (a seek back), the detection closest to the room's schedule wins.
    """
    out: dict[int, tuple[float, float]] = {}
    for t, strength in detections:
        heard = t0 + t
        pos = heard - started_at
        k = int(np.argmin([abs(pos - m) for m in marks_s])) if marks_s else -1
        if k < 0 or abs(pos - marks_s[k]) > window_s:
            continue
        if k in out and abs(out[k][0] - started_at - marks_s[k]) <= abs(pos - marks_s[k]):
            continue
        out[k] = (heard, strength)
    return out


def decode(raw: bytes, channels: int) -> np.ndarray:
    """s16le interleaved -> (channels, frames) floats."""
    a = np.frombuffer(raw[: len(raw) - len(raw) % (2 * channels)], dtype="<i2")
    return (a.reshape(-1, channels).T / 32768.0).astype(np.float64)
