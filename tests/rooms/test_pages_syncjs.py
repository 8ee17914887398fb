"""static/js/sync.js, the parts that are arithmetic: run under Node against fixed inputs."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

SYNC_JS = Path(__file__).resolve().parents[2] / "static" / "js" / "sync.js"
NODE = shutil.which("node") or shutil.which("nodejs")
pytestmark = pytest.mark.skipif(NODE is None, reason="needs Node.js to run static/js/sync.js")


def run(script: str):
    program = f"const S = require({json.dumps(str(SYNC_JS))});\n{script}"
    done = subprocess.run(
        [NODE, "-e", program], capture_output=True, text=True, timeout=20, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_clock_offset_comes_from_the_fastest_round_trips():
    # True offset +5000 ms. Slow samples have asymmetric delays that would skew the estimate.
    result = run(
        """
        const c = new S.ClockEstimator({best: 3});
        const samples = [[0, 5010, 20], [100, 5300, 500], [1000, 6004, 1008],
                         [2000, 7150, 2400], [3000, 8003, 3006], [4000, 9090, 4200],
                         [5000, 10005, 5010], [6000, 11400, 6900]];
        for (const [t0, server, t1] of samples) c.add(t0, server, t1);
        console.log(JSON.stringify({offset: c.offset, rtt: c.rtt, n: c.samples.length}));
        """
    )
    assert result["n"] == 8
    assert result["rtt"] == pytest.approx((8 + 6 + 10) / 3)
    assert result["offset"] == pytest.approx(5000, abs=1)


def test_bad_samples_are_ignored_and_the_window_is_bounded():
    result = run(
        """
        const c = new S.ClockEstimator({window: 4});
        const ok = [c.add(10, 100, 5), c.add(0, NaN, 10)];
        for (let i = 0; i < 10; i++) c.add(i, 1000 + i, i + 2);
        console.log(JSON.stringify({ok, n: c.samples.length, offset: c.offset}));
        """
    )
    assert result["ok"] == [False, False]
    assert result["n"] == 4
    assert result["offset"] == pytest.approx(999)


def test_drift_decisions():
    result = run(
        """
        const d = (x) => S.decide(x);
        console.log(JSON.stringify([d(0), d(0.009), -0.009, d(0.02), d(-0.02), d(0.2), d(-0.2),
                                    d(0.26), d(-1.5)].map((r) => typeof r === "number" ? r : r)));
        """
    )
    hold, small, _, ahead, behind, far_ahead, far_behind, seek, seek_back = result
    assert hold == {"action": "hold", "rate": 1} and small["action"] == "hold"
    assert ahead["action"] == "nudge" and ahead["rate"] == pytest.approx(0.99)
    assert behind["rate"] == pytest.approx(1.01)
    assert far_ahead["rate"] == pytest.approx(0.95) and far_behind["rate"] == pytest.approx(1.05)
    assert seek["action"] == "seek" and seek_back["action"] == "seek"


def test_expected_position_and_median():
    result = run(
        """
        console.log(JSON.stringify([S.expectedPosition(12500, 10000),
                                    S.expectedPosition(9000, 10000),
                                    S.median([3, 1, 2]), S.median([4, 1, 3, 2])]));
        """
    )
    assert result == [2.5, -1, 2, 2.5]
