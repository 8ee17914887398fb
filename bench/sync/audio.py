"""One private PulseAudio daemon, one N-channel null sink, one capture: every page on one clock.

Page k plays into `remap<k>`, a one-channel remap sink whose only channel is channel k of the null
sink `syncbench`; a single `parec` records the null sink's monitor. All channels come out of one
mixer in one stream, so the time between two channels' marks is what two listeners would hear,
with no clock alignment between the pages.

A page gets to its sink one of two ways: its own browser started with `PULSE_SINK=remap<k>`, or,
with every page in one browser, the `Router`: joins are serialized, the output stream page k's
AudioContext opens (one per context, all alike to PulseAudio) appears in `parking` (the default,
not recorded) and is moved to `remap<k>` once it has run for a moment. (Moved in its first tens
of milliseconds, Chromium's output starts about a second late; moved later, nothing shows in
its timestamps. Changing the default sink instead would drag earlier pages' streams along.)
Streams nobody claimed stay in `parking`.
"""

import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

RATE = 48000
SINK = "syncbench"
PARKING = "parking"
TOOLS = {"pulseaudio": "pulseaudio", "parec": "pulseaudio-utils", "pactl": "pulseaudio-utils"}


def missing_tools() -> list[str]:
    return sorted({pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None})


class Pulse:
    """A user-mode daemon in a temporary runtime directory, gone on stop()."""

    def __init__(self, channels: int):
        self.channels = channels
        self.dir = Path(tempfile.mkdtemp(prefix="roomtone-pulse-"))
        self.socket = self.dir / "native"
        self.server = f"unix:{self.socket}"
        self.proc = None
        self.log = self.dir / "pulse.log"

    @property
    def env(self) -> dict[str, str]:
        return {
            "XDG_RUNTIME_DIR": str(self.dir),
            "PULSE_RUNTIME_PATH": str(self.dir / "runtime"),
            "PULSE_STATE_PATH": str(self.dir / "state"),
            "PULSE_SERVER": self.server,
            "PULSE_COOKIE": str(self.dir / "cookie"),
            "HOME": str(self.dir),
        }

    def start(self) -> None:
        aux = ",".join(f"aux{k}" for k in range(self.channels))
        lines = [
            f"load-module module-native-protocol-unix socket={self.socket} auth-anonymous=1",
            f"load-module module-null-sink sink_name={SINK} channels={self.channels} "
            f"channel_map={aux} rate={RATE} format=s16le",
        ]
        for k in range(self.channels):
            # remix=no: a stereo page is folded onto its one channel, never spread to the others.
            lines.append(
                f"load-module module-remap-sink sink_name=remap{k} master={SINK} channels=1 "
                f"master_channel_map=aux{k} channel_map=mono remix=no"
            )
        lines.append(f"load-module module-null-sink sink_name={PARKING} channels=2 rate={RATE}")
        lines.append(f"set-default-sink {PARKING}")
        script = self.dir / "bench.pa"
        script.write_text("\n".join(lines) + "\n")
        cmd = [
            "pulseaudio",
            "--daemonize=no",
            "--exit-idle-time=-1",
            "--system=false",
            "--disallow-exit",
            "--use-pid-file=false",
            "--realtime=false",
            "--high-priority=false",
            "--log-target=stderr",
            "-n",
            "-F",
            str(script),
        ]
        env = {**os.environ, **self.env}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)  # noqa: S603
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pulseaudio exited:\n{self.log.read_text()[-2000:]}")
            ok = subprocess.run(  # noqa: S603
                ["pactl", "list", "short", "sinks"], env=env, capture_output=True, text=True
            )
            if ok.returncode == 0 and f"remap{self.channels - 1}" in ok.stdout:
                return
            time.sleep(0.1)
        raise RuntimeError(f"pulseaudio did not come up:\n{self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Capture:
    """`parec` of the null sink's monitor, read in a thread that notes when each chunk arrived.

    The arrival times give the bench-clock time of sample 0: the earliest `arrival - n / RATE`
    over all chunks is the one least delayed by scheduling (what is left is the pipeline's latency).
    """

    def __init__(self, pulse: Pulse):
        self.pulse = pulse
        self.frame_bytes = 2 * pulse.channels
        self.chunks: list[bytes] = []
        self.t0 = None  # time.time() of sample 0, lower envelope
        self._frames = 0
        self._thread = None
        self.proc = None

    def start(self) -> None:
        cmd = [
            "parec",
            f"--device={SINK}.monitor",
            "--raw",
            "--format=s16le",
            f"--rate={RATE}",
            f"--channels={self.pulse.channels}",
            # Without the sink's own map, parec asks for front-left,... and aux channels remix to 0.
            "--channel-map=" + ",".join(f"aux{k}" for k in range(self.pulse.channels)),
            "--latency-msec=10",
            "--process-time-msec=5",
        ]
        env = {**os.environ, **self.pulse.env}
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, bufsize=0)  # noqa: S603
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        pending = b""
        while True:
            data = self.proc.stdout.read(65536)
            now = time.time()
            if not data:
                break
            pending += data
            whole = len(pending) - len(pending) % self.frame_bytes
            if not whole:
                continue
            self.chunks.append(pending[:whole])
            pending = pending[whole:]
            self._frames += whole // self.frame_bytes
            start = now - self._frames / RATE
            if self.t0 is None or start < self.t0:
                self.t0 = start

    def stop(self) -> bytes:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)
        if self._thread:
            self._thread.join(5)
        return b"".join(self.chunks)


def with_tempdir_env(pulse: Pulse, sink: int) -> dict[str, str]:
    """The environment for a browser that must play into channel `sink`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    env.update(pulse.env)
    env["PULSE_SINK"] = f"remap{sink}"
    return env


class Router:
    """Gives each page's new output stream the page's channel (pages in one browser).

    Joins are serialized: the pages' streams look alike, so the stream that appears while page k
    joins is page k's, and `claim` moves it to `remap<k>`. A stream that
    appears later is nobody's: it stays in `parking` (unheard) and is reported, so a page that
    re-created its audio shows as silent, not as another page.
    """

    def __init__(self, pulse: Pulse):
        self.pulse = pulse
        self.assigned: dict[int, int] = {}
        self.moved = 0
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
        self.env.update(pulse.env)

    def _pactl(self, *args: str) -> str:
        done = subprocess.run(  # noqa: S603
            ["pactl", *args], env=self.env, capture_output=True, text=True, timeout=10
        )
        if done.returncode != 0:
            raise RuntimeError(f"pactl {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def streams(self) -> set[int]:
        """Client output streams (the remap sinks' own inputs excluded)."""
        ids = set()
        for line in self._pactl("list", "short", "sink-inputs").splitlines():
            cols = line.split("\t")
            if len(cols) >= 4 and cols[3] == "protocol-native.c":
                ids.add(int(cols[0]))
        return ids

    def _sinks(self) -> dict[int, str]:
        rows = (line.split("\t") for line in self._pactl("list", "short", "sinks").splitlines())
        return {int(r[0]): r[1] for r in rows if len(r) >= 2}

    def claim(self, known: set[int], channel: int) -> list[int]:
        """The streams that appeared since `known`, now on `channel`'s sink; returns them."""
        sinks = self._sinks()
        new = []
        for line in self._pactl("list", "short", "sink-inputs").splitlines():
            cols = line.split("\t")
            if len(cols) < 4 or cols[3] != "protocol-native.c":
                continue
            stream, sink = int(cols[0]), int(cols[1])
            if stream in known or stream in self.assigned:
                continue
            if sinks.get(sink) != f"remap{channel}":
                self._pactl("move-sink-input", str(stream), f"remap{channel}")
                self.moved += 1
            self.assigned[stream] = channel
            new.append(stream)
        return new

    def unclaimed(self) -> list[int]:
        return sorted(self.streams() - set(self.assigned))
