"""static/js/sync.js and static/js/audio_engine.js under Node: the clock, the decisions, and both
engines driven against stand-ins for the browser's media objects (a boundary we do not own)."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parents[2] / "static" / "js"
NODE = shutil.which("node") or shutil.which("nodejs")
pytestmark = pytest.mark.skipif(NODE is None, reason="needs Node.js to run static/js/sync.js")

# Stand-ins for the browser: a settable performance clock, an <audio> element whose seeks land
# only when told, and an AudioContext whose output runs `latency` seconds behind its clock.
FAKES = """
let perf = 1000;
globalThis.performance = {timeOrigin: 1.7e12, now: () => perf};
const advance = (ms) => { perf += ms; };
function FakeAudio() {
  this.paused = true; this.ended = false; this.seeking = false; this.readyState = 4;
  this.playbackRate = 1; this._t = 0; this.seeks = []; this.attrs = {};
}
Object.defineProperty(FakeAudio.prototype, "currentTime", {
  get() { return this._t; },
  set(v) { this._t = v; this.seeks.push(v); },
});
FakeAudio.prototype.play = function () { this.paused = false; return Promise.resolve(); };
FakeAudio.prototype.pause = function () { this.paused = true; };
FakeAudio.prototype.addEventListener = function () {};
FakeAudio.prototype.getAttribute = function (k) { return k in this.attrs ? this.attrs[k] : null; };
FakeAudio.prototype.removeAttribute = function (k) { delete this.attrs[k]; };
Object.defineProperty(FakeAudio.prototype, "src", {set(v) { this.attrs.src = v; }});
FakeAudio.prototype.run = function (ms) {  // play for ms of wall time at the current rate
  advance(ms); if (!this.paused && !this.seeking) this._t += (ms / 1000) * this.playbackRate;
};
function FakeContext(opts) {
  this.opts = opts; this.state = globalThis.CTX_STATE || "running"; this.latency = 0.05;
  this.started = []; this.stopped = [];
  FakeContext.last = this;
}
Object.defineProperty(FakeContext.prototype, "currentTime", {get() { return perf / 1000 - 0.5; }});
FakeContext.prototype.getOutputTimestamp = function () {
  return {contextTime: this.currentTime - this.latency, performanceTime: perf};
};
FakeContext.prototype.resume = function () { return Promise.resolve(); };
FakeContext.prototype.decodeAudioData = function (data) {
  if (globalThis.DECODE_FAILS) return Promise.reject(new Error("bad audio"));
  return Promise.resolve({duration: 120});
};
FakeContext.prototype.createBufferSource = function () {
  const ctx = this;
  return {connect() {}, disconnect() {},
          start(at, offset) { ctx.started.push([at, offset]); },
          stop(at) { ctx.stopped.push(at); }};
};
globalThis.fetch = (url) => Promise.resolve({
  ok: true, headers: {get: () => String(globalThis.SIZE || 1000)},
  arrayBuffer: () => Promise.resolve({byteLength: globalThis.SIZE || 1000}),
});
const flush = () => new Promise((r) => setTimeout(r, 0));
"""


def run(script: str, *, web: bool = False):
    program = (
        FAKES
        + ("globalThis.AudioContext = FakeContext;\n" if web else "")
        + f"const A = require({json.dumps(str(JS / 'audio_engine.js'))});\n"
        + f"const S = require({json.dumps(str(JS / 'sync.js'))});\n"
        + f"(async () => {{\n{script}\n}})()"
        + ".catch((e) => { console.error(e); process.exit(1); });"
    )
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


def test_drift_decisions_have_a_dead_band_with_hysteresis():
    result = run(
        """
        const d = (x, nudging) => A.decide(x, {}, nudging);
        console.log(JSON.stringify([d(0), d(0.009), d(0.009, true), d(0.003, true), d(0.02),
                                    d(-0.02), d(0.07), d(-0.07), d(0.09), d(-1.5)]));
        """
    )
    hold, small, still, released, ahead, behind, far_ahead, far_behind, seek, seek_back = result
    assert hold == {"action": "hold", "rate": 1} and small["action"] == "hold"
    assert still["action"] == "nudge" and still["rate"] < 1  # nudging goes on inside 10 ms
    assert released == {"action": "hold", "rate": 1}
    assert ahead["rate"] == pytest.approx(0.97) and behind["rate"] == pytest.approx(1.03)
    assert far_ahead["rate"] == pytest.approx(0.95) and far_behind["rate"] == pytest.approx(1.05)
    assert seek["action"] == "seek" and seek_back["action"] == "seek"


def test_seek_lead_moves_toward_what_seeks_take():
    result = run(
        """
        // Aimed 50 ms ahead, landed 100 ms behind: the seek took 150 ms; the lead goes halfway.
        const once = A.learnSeekLead(0.05, 0.05, -0.1);
        let lead = 0.05;
        for (let i = 0; i < 12; i++) lead = A.learnSeekLead(lead, lead, lead - 0.2);
        console.log(JSON.stringify([once, lead, A.learnSeekLead(0.1, 0.1, 5),
                                    A.median([4, 1, 3, 2]), S.expectedPosition(12500, 10000),
                                    S.expectedPosition(9000, 10000)]));
        """
    )
    once, converged, clamped, med, pos, before = result
    assert once == pytest.approx(0.1)
    assert converged == pytest.approx(0.2, abs=0.001)
    assert clamped == pytest.approx(0.05)  # a seek cannot take negative time
    assert (med, pos, before) == (2.5, 2.5, -1)


def test_html_engine_joins_ahead_learns_the_seek_time_and_removes_a_stall_by_seeking():
    result = run(
        """
        const audio = new FakeAudio();
        const e = new A.HtmlAudioEngine(audio, {htmlAheadS: 0});
        let room = 10;  // the room's position, seconds; advances with the wall clock
        const step = (ms) => { audio.run(ms); room += ms / 1000; };
        // Join: the seek aims ahead by the lead (50 ms) but takes 250 ms to land.
        e.seek(room, e.seekLeadS); audio.paused = false; audio.seeking = true;
        const aimed = audio.seeks[0] - room;
        step(250); audio.seeking = false;
        const drifts = [];
        for (let i = 0; i < 6; i++) { step(100); drifts.push(e.tick(room)); }
        const learned = e.seekLeadS;
        // A stall: playback stops for 150 ms while the room goes on.
        const before = audio.seeks.length;
        audio.paused = true; step(150); audio.paused = false;
        let target = null;
        for (let i = 0; i < 8; i++) {
          step(100); e.tick(room);
          if (target === null && audio.seeks.length > before) target = audio._t - room;
        }
        console.log(JSON.stringify({aimed, learned, seeked: audio.seeks.length - before, target}));
        """
    )
    assert result["aimed"] == pytest.approx(0.05)
    assert result["learned"] > 0.1  # halfway from 50 ms toward the 250 ms it took
    assert result["seeked"] == 1
    # The repair aims ahead of the room by the learned lead.
    assert result["target"] == pytest.approx(result["learned"])


def test_html_engine_nudges_a_small_drift_away_and_then_holds():
    result = run(
        """
        const audio = new FakeAudio();
        const e = new A.HtmlAudioEngine(audio, {htmlAheadS: 0});
        audio.paused = false; audio._t = 10.03;  // 30 ms ahead
        let room = 10;
        const rates = [];
        for (let i = 0; i < 60; i++) {
          audio.run(100); room += 0.1; e.tick(room); rates.push(audio.playbackRate);
        }
        console.log(JSON.stringify({rates, drift: audio._t - room, seeks: audio.seeks.length}));
        """
    )
    assert min(result["rates"][:5]) < 0.97  # slowed down at once
    assert result["seeks"] == 0
    assert abs(result["drift"]) < 0.01
    assert result["rates"][-1] == 1


def test_web_audio_schedule_maps_the_room_onto_the_context_clock():
    result = run(
        """
        // Output heard 50 ms after the context renders it: map = perf - contextTime.
        const ctx = new FakeContext();
        const map = A.mappingSample(ctx, perf);
        const expectedAt = (ms) => (ms - 1000) / 1000 + 20;  // room at 20 s at perf 1000 ms
        const now = A.schedule(ctx.currentTime + 0.1, map, expectedAt);
        const future = A.schedule(ctx.currentTime + 0.1, map, (ms) => (ms - 4000) / 1000);
        const old = {currentTime: 0.5, baseLatency: 0.01, outputLatency: 0.04};
        const noTs = A.mappingSample(old, 1000);
        console.log(JSON.stringify({map, now, future, noTs, ctxNow: ctx.currentTime}));
        """
    )
    assert result["map"] == pytest.approx(0.55)  # 1.0 s perf - (0.5 - 0.05) s context
    # Scheduled 100 ms ahead, heard 50 ms after that: the room is 150 ms further on.
    assert result["now"]["at"] == pytest.approx(0.6)
    assert result["now"]["offset"] == pytest.approx(20.15)
    # A track that starts 3 s from now is scheduled at offset 0, heard exactly at its start.
    assert result["future"]["offset"] == 0
    assert result["future"]["at"] + result["map"] == pytest.approx(4.0)
    assert result["noTs"] == pytest.approx(1.0 - 0.5 + 0.05)


def test_web_audio_waits_for_a_settled_mapping_and_follows_a_step_at_once():
    result = run(
        """
        const e = new A.WebAudioEngine();
        e.load("/media/t.wav"); await flush(); await flush();
        const ctx = FakeContext.last;
        const expectedAt = (ms) => (ms - 1000) / 1000 + 30;
        // The output has not started: its timestamps ramp.
        let ramp = 0.3;
        ctx.getOutputTimestamp = () => (
          {contextTime: ctx.currentTime - ramp, performanceTime: perf});
        const ramping = [];
        for (let i = 0; i < 4; i++) {
          advance(100); ramp -= 0.1; e.tick(expectedAt); ramping.push(ctx.started.length);
        }
        ramp = 0.05;  // running: once the samples have held for 300 ms, the first start comes
        for (let i = 0; i < 3; i++) { advance(100); e.tick(expectedAt); }
        const startedBeforeHold = ctx.started.length;
        advance(100); e.tick(expectedAt);
        const startedAfterSettling = ctx.started.length;
        for (let i = 0; i < 6; i++) { advance(100); e.tick(expectedAt); }
        ramp = 0.09;  // the output restarted 40 ms later: three samples and the window follows
        for (let i = 0; i < 3; i++) { advance(100); e.tick(expectedAt); }
        console.log(JSON.stringify({ramping, startedBeforeHold, startedAfterSettling,
                                    maps: e.maps.length,
                                    map: e.map()}));
        """,
        web=True,
    )
    assert result["ramping"] == [0, 0, 0, 0]
    assert result["startedBeforeHold"] == 0 and result["startedAfterSettling"] == 1
    assert result["maps"] == 3
    # performance.now()/1000 - contextTime = 0.5 (the fake's clock) + the output's 90 ms.
    assert result["map"] == pytest.approx(0.59, abs=1e-9)


def test_web_audio_engine_restarts_only_past_5_ms():
    result = run(
        """
        const e = new A.WebAudioEngine();
        e.load("/media/t.wav"); await flush(); await flush();
        const ctx = FakeContext.last;
        let lag = 0;  // the room's clock shift, seconds
        const expectedAt = (ms) => (ms - 1000) / 1000 + 30 + lag;
        e.tick(expectedAt);
        const first = ctx.started[0];
        const errs = [];
        for (let i = 0; i < 10; i++) { advance(100); errs.push(e.tick(expectedAt)); }
        lag = 0.003;  // 3 ms: inside the band, no restart
        for (let i = 0; i < 10; i++) { advance(100); e.tick(expectedAt); }
        const afterSmall = ctx.started.length;
        lag = 0.040;  // 40 ms: restart, the old source stopping when the new one starts
        for (let i = 0; i < 10; i++) { advance(100); e.tick(expectedAt); }
        advance(100);
        console.log(JSON.stringify({first, state: e.state(), errs, afterSmall,
                                    started: ctx.started, stopped: ctx.stopped,
                                    error: e.tick(expectedAt), playing: e.playing()}));
        """,
        web=True,
    )
    assert result["state"] == "ready"
    assert max(abs(x) for x in result["errs"] if x is not None) < 1e-6
    assert result["afterSmall"] == 1
    assert len(result["started"]) == 2
    assert result["stopped"] == [result["started"][1][0]]
    assert abs(result["error"]) < 1e-6
    assert result["playing"] is True


@pytest.mark.parametrize("failure", ["DECODE_FAILS = true", "SIZE = 200 * 1024 * 1024"])
def test_player_falls_back_to_the_audio_element_when_web_audio_cannot_hold_the_track(failure):
    result = run(
        f"""
        globalThis.{failure};
        const audio = new FakeAudio();
        const clock = {{clock: new S.ClockEstimator()}};
        clock.clock.add(S.clientNow(), S.clientNow(), S.clientNow());  // server = client clock
        const p = new S.SyncPlayer(audio, clock, {{tickMs: 1e6}});
        p.setNowPlaying({{entry_id: 1, started_at: 1.7e12 + perf - 5000,
                          track: {{audio_url: "/media/t.wav", duration_ms: 60000}}}});
        const chosen = p.state().engine;
        await flush(); await flush();
        p.listen();
        clearInterval(p._ticker);
        console.log(JSON.stringify({{chosen, state: p.state(), src: audio.getAttribute("src"),
                                     seek: audio.seeks[audio.seeks.length - 1]}}));
        """,
        web=True,
    )
    assert result["chosen"] == "webaudio"
    assert result["state"]["engine"] == "htmlaudio"
    assert result["src"] == "/media/t.wav"
    assert result["seek"] > 5.0  # joined at the room's position, aimed ahead


def test_player_reports_blocked_when_the_context_stays_suspended():
    result = run(
        """
        globalThis.CTX_STATE = "suspended";
        const audio = new FakeAudio();
        const clock = {clock: new S.ClockEstimator()};
        clock.clock.add(S.clientNow(), S.clientNow(), S.clientNow());
        const p = new S.SyncPlayer(audio, clock, {tickMs: 1e6, unlockWaitMs: 500});
        p.setNowPlaying({entry_id: 1, started_at: 1.7e12 + perf - 5000,
                         track: {audio_url: "/media/t.wav", duration_ms: 60000}});
        await flush(); await flush();
        p.listen();
        const first = p.state();
        advance(600); p._tick();
        const later = p.state();
        clearInterval(p._ticker);
        console.log(JSON.stringify({first, later, wanted: p.wanted}));
        """,
        web=True,
    )
    assert result["first"]["status"] == "syncing" and result["first"]["engine"] == "webaudio"
    assert result["later"]["status"] == "blocked"
    assert result["wanted"] is False
    for key in ("offset_ms", "rtt_ms", "expected_s", "actual_s", "drift_ms", "playing"):
        assert key in result["later"]


def test_web_audio_hands_the_last_track_over_to_the_next_back_to_back():
    # The room announces the next entry 3 s before the playing one ends, starting where it ends.
    result = run(
        """
        const audio = new FakeAudio();
        const clock = {clock: new S.ClockEstimator()};
        clock.clock.add(S.clientNow(), S.clientNow(), S.clientNow());  // server = client clock
        const p = new S.SyncPlayer(audio, clock, {tickMs: 1e6});
        const now = () => 1.7e12 + perf;
        p.setNowPlaying({entry_id: 1, started_at: now() - 57000,
                         track: {audio_url: "/media/a.wav", duration_ms: 60000}});
        await flush(); await flush();
        p.listen(); clearInterval(p._ticker);
        for (let i = 0; i < 4; i++) { advance(100); p._tick(); }  // the output mapping settles
        const ctx = FakeContext.last;
        const before = {started: ctx.started.length, stopped: ctx.stopped.length};
        const endsAt = now() + 2900;  // the last track's end, on the server clock
        p.setNowPlaying({entry_id: 2, started_at: endsAt,
                         track: {audio_url: "/media/b.wav", duration_ms: 60000}});
        const stoppedOnAnnounce = ctx.stopped.length;
        const playingWhileLoading = p.playing();
        const statusWhileLoading = p.status();
        await flush(); await flush();
        advance(100); p._tick();
        const handover = {started: ctx.started.slice(), stopped: ctx.stopped.slice(),
                          playing: p.playing(), map: p.web.map()};
        // The same audio queued again as a new entry: a new start, the decoded buffer reused.
        p.setNowPlaying({entry_id: 3, started_at: endsAt + 60000,
                         track: {audio_url: "/media/b.wav", duration_ms: 60000}});
        const reused = p.web.state();
        console.log(JSON.stringify({before, stoppedOnAnnounce, playingWhileLoading,
                                    statusWhileLoading, handover,
                                    endsAtPerf: endsAt - 1.7e12, reused}));
        """,
        web=True,
    )
    assert result["before"] == {"started": 1, "stopped": 0}
    # Announcing the next track does not cut the last one ...
    assert result["stoppedOnAnnounce"] == 0 and result["playingWhileLoading"] is True
    assert result["statusWhileLoading"] == "synced"  # the indicator does not flash "Syncing…"
    handover = result["handover"]
    assert len(handover["started"]) == 2 and len(handover["stopped"]) == 1
    at, offset = handover["started"][1]
    # ... which stops at the very context time the next one starts, heard at the room's end.
    assert handover["stopped"][0] == at and offset == 0
    assert (at + handover["map"]) * 1000 == pytest.approx(result["endsAtPerf"], abs=1e-6)
    assert handover["playing"] is True
    assert result["reused"] == "ready"


def test_the_audio_element_plays_the_last_track_out_and_switches_just_before_the_next():
    result = run(
        """
        const audio = new FakeAudio();
        const clock = {clock: new S.ClockEstimator()};
        clock.clock.add(S.clientNow(), S.clientNow(), S.clientNow());
        const p = new S.SyncPlayer(audio, clock, {tickMs: 1e6, engine: "htmlaudio",
                                                   htmlSwitchMs: 750});
        const now = () => 1.7e12 + perf;
        p.setNowPlaying({entry_id: 1, started_at: now() - 57000,
                         track: {audio_url: "/media/a.wav", duration_ms: 60000}});
        p.listen(); clearInterval(p._ticker);
        const next = {entry_id: 2, started_at: now() + 1000,
                      track: {audio_url: "/media/b.wav", duration_ms: 60000}};
        p.setNowPlaying(next);
        p.setNowPlaying(Object.assign({}, next, {up: 1}));  // a vote on it, still waiting
        const waiting = {src: audio.getAttribute("src"), entry: p.track.entry_id};
        advance(300);  // the page's clock reaches the switch (250 ms before) ...
        await new Promise((r) => setTimeout(r, 400));  // ... and so does the timer's
        const switched = {src: audio.getAttribute("src"), entry: p.track.entry_id,
                          up: p._pending};
        clearTimeout(p._startTimer);
        console.log(JSON.stringify({waiting, switched}));
        """,
    )
    assert result["waiting"] == {"src": "/media/a.wav", "entry": 1}
    assert result["switched"] == {"src": "/media/b.wav", "entry": 2, "up": None}
