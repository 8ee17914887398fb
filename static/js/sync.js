/* Roomtone playback sync: the server's clock, estimated NTP-style, and an audio element held to it.
 *
 * Transport-agnostic: give ClockSync a `send(frame)` function and feed it the `time.pong` frames;
 * give SyncPlayer an <audio> element, the clock, and each `now_playing`. docs/client.md describes
 * the numbers and the `window.roomtone.sync()` diagnostics built from `SyncPlayer.state()`.
 */
(function (root) {
  "use strict";

  var DEFAULTS = {
    joinSamples: 8, // pings sent back to back when a connection opens
    refreshSamples: 4, // pings sent at each periodic re-estimate
    refreshMs: 30000,
    pingTimeoutMs: 2000,
    window: 24, // samples kept
    best: 3, // of those, the ones with the smallest round trip are averaged
    seekThresholdS: 0.25, // farther off than this: seek
    deadBandS: 0.010, // closer than this: play at 1.0
    maxRateNudge: 0.05,
    rateGain: 0.5, // rate change per second of drift (0.1 s -> 5%)
    tickMs: 250,
    settleMs: 600, // after a seek or rate change, let currentTime settle before judging
    inSyncS: 0.030,
  };

  function clientNow() {
    // performance.now() is monotonic; anchored to timeOrigin it is comparable to epoch ms.
    if (root.performance && root.performance.timeOrigin) {
      return root.performance.timeOrigin + root.performance.now();
    }
    return Date.now();
  }

  /* ---- clock offset ---------------------------------------------------------------------- */

  function ClockEstimator(options) {
    this.opts = Object.assign({}, DEFAULTS, options || {});
    this.samples = [];
    this.offset = null;
    this.rtt = null;
  }

  /** One round trip: t0 when the ping left, serverTime in the pong, t1 when the pong arrived. */
  ClockEstimator.prototype.add = function (t0, serverTime, t1) {
    var rtt = t1 - t0;
    if (!(rtt >= 0) || !isFinite(serverTime)) return false;
    this.samples.push({ rtt: rtt, offset: serverTime - (t0 + rtt / 2), at: t1 });
    if (this.samples.length > this.opts.window) this.samples.shift();
    this._estimate();
    return true;
  };

  ClockEstimator.prototype._estimate = function () {
    // A short round trip bounds the asymmetry error, so only the fastest samples are trusted.
    var best = this.samples
      .slice()
      .sort(function (a, b) {
        return a.rtt - b.rtt;
      })
      .slice(0, this.opts.best);
    var sumOffset = 0;
    var sumRtt = 0;
    best.forEach(function (s) {
      sumOffset += s.offset;
      sumRtt += s.rtt;
    });
    this.offset = sumOffset / best.length;
    this.rtt = sumRtt / best.length;
  };

  ClockEstimator.prototype.ready = function () {
    return this.offset !== null;
  };

  ClockEstimator.prototype.serverNow = function () {
    return clientNow() + (this.offset || 0);
  };

  /* ---- ping loop ------------------------------------------------------------------------- */

  function ClockSync(send, options) {
    this.send = send;
    this.opts = Object.assign({}, DEFAULTS, options || {});
    this.clock = new ClockEstimator(this.opts);
    this._pending = 0;
    this._outstanding = null;
    this._timer = null;
    this._refresh = null;
    this.onReady = null;
  }

  ClockSync.prototype.start = function () {
    this.stop();
    var self = this;
    this._burst(this.opts.joinSamples);
    this._refresh = setInterval(function () {
      self._burst(self.opts.refreshSamples);
    }, this.opts.refreshMs);
  };

  ClockSync.prototype.stop = function () {
    clearInterval(this._refresh);
    clearTimeout(this._timer);
    this._refresh = null;
    this._pending = 0;
    this._outstanding = null;
  };

  ClockSync.prototype._burst = function (n) {
    this._pending += n;
    if (this._outstanding === null) this._next();
  };

  // One ping at a time: back-to-back pings would queue behind each other and inflate the RTT.
  ClockSync.prototype._next = function () {
    var self = this;
    if (this._pending <= 0) {
      this._outstanding = null;
      return;
    }
    this._pending -= 1;
    var t0 = clientNow();
    this._outstanding = t0;
    this.send({ type: "time.ping", t0: t0 });
    clearTimeout(this._timer);
    this._timer = setTimeout(function () {
      self._outstanding = null;
      self._next();
    }, this.opts.pingTimeoutMs);
  };

  ClockSync.prototype.handlePong = function (frame) {
    var t1 = clientNow();
    if (this._outstanding === null || frame.t0 !== this._outstanding) return;
    clearTimeout(this._timer);
    var wasReady = this.clock.ready();
    this.clock.add(frame.t0, frame.server_time, t1);
    this._outstanding = null;
    if (!wasReady && this.onReady) this.onReady();
    this._next();
  };

  /* ---- drift decision (pure) ------------------------------------------------------------- */

  /** What to do about `drift` seconds (actual - expected; positive = ahead of the room). */
  function decide(drift, options) {
    var o = Object.assign({}, DEFAULTS, options || {});
    var size = Math.abs(drift);
    if (size > o.seekThresholdS) return { action: "seek", rate: 1 };
    if (size <= o.deadBandS) return { action: "hold", rate: 1 };
    var nudge = Math.max(-o.maxRateNudge, Math.min(o.maxRateNudge, drift * o.rateGain));
    return { action: "nudge", rate: 1 - nudge };
  }

  /** Seconds into the track the room is at; negative while it has not started. */
  function expectedPosition(serverNowMs, startedAtMs) {
    return (serverNowMs - startedAtMs) / 1000;
  }

  /* ---- the player ------------------------------------------------------------------------ */

  function SyncPlayer(audio, clockSync, options) {
    this.audio = audio;
    this.clockSync = clockSync;
    this.opts = Object.assign({}, DEFAULTS, options || {});
    this.track = null; // {entry_id, audio_url, started_at, duration_ms}
    this.wanted = false; // the fan wants to hear the room
    this.blocked = false; // the browser refused to start audio without a gesture
    this.transport = "websocket";
    this.lastDrift = null;
    this.recentDrift = [];
    this._settleUntil = 0;
    this._startTimer = null;
    this._ticker = null;
    this._reported = null;
    this.onStateChange = null; // called with state() on every tick
    this.onAudioState = null; // called with true/false when playing starts or stops
    var self = this;
    ["playing", "pause", "ended", "error", "emptied"].forEach(function (name) {
      audio.addEventListener(name, function () {
        self._report();
      });
    });
    audio.addEventListener("seeked", function () {
      self._settleUntil = clientNow() + self.opts.settleMs / 2;
    });
  }

  SyncPlayer.prototype.setNowPlaying = function (nowPlaying) {
    clearTimeout(this._startTimer);
    if (!nowPlaying || !nowPlaying.track || !nowPlaying.track.audio_url) {
      this.track = null;
      if (!this.audio.paused) this.audio.pause();
      this.audio.removeAttribute("src");
      this._tick();
      return;
    }
    var changed = !this.track || this.track.entry_id !== nowPlaying.entry_id;
    this.track = {
      entry_id: nowPlaying.entry_id,
      audio_url: nowPlaying.track.audio_url,
      started_at: nowPlaying.started_at,
      duration_ms: nowPlaying.track.duration_ms,
    };
    if (changed) {
      this.audio.src = this.track.audio_url;
      this.audio.playbackRate = 1;
      this.recentDrift = [];
    }
    this._tick();
  };

  /** Start listening; call from a click handler so the browser allows sound. */
  SyncPlayer.prototype.listen = function () {
    this.wanted = true;
    this.blocked = false;
    this._ensureTicker();
    this._tick(true);
  };

  SyncPlayer.prototype.stop = function () {
    this.wanted = false;
    clearTimeout(this._startTimer);
    this.audio.pause();
    this._tick();
  };

  SyncPlayer.prototype._ensureTicker = function () {
    if (this._ticker) return;
    var self = this;
    this._ticker = setInterval(function () {
      self._tick();
    }, this.opts.tickMs);
  };

  SyncPlayer.prototype._play = function () {
    var self = this;
    var attempt = this.audio.play();
    if (attempt && attempt.catch) {
      attempt.catch(function (err) {
        if (err && err.name === "NotAllowedError") {
          self.blocked = true;
          self.wanted = false;
          self._emit();
        }
      });
    }
  };

  SyncPlayer.prototype._seek = function (position) {
    try {
      this.audio.currentTime = Math.max(0, position);
    } catch (e) {
      return;
    }
    this.audio.playbackRate = 1;
    this._settleUntil = clientNow() + this.opts.settleMs;
    this.recentDrift = [];
  };

  SyncPlayer.prototype._tick = function (fromGesture) {
    var audio = this.audio;
    var track = this.track;
    if (!this.wanted || !track || !this.clockSync.clock.ready()) {
      this.lastDrift = null;
      this._emit();
      return;
    }
    var expected = this.expected();
    var duration = (track.duration_ms || 0) / 1000;
    if (expected < 0) {
      // Starts in the future: park at 0 and start at the moment the room does.
      if (!audio.paused) audio.pause();
      if (audio.currentTime !== 0) this._seek(0);
      var self = this;
      clearTimeout(this._startTimer);
      this._startTimer = setTimeout(function () {
        self._seek(Math.max(0, self.expected()));
        self._play();
      }, -expected * 1000);
      this.lastDrift = null;
      this._emit();
      return;
    }
    if (duration && expected >= duration) {
      if (!audio.paused) audio.pause();
      this.lastDrift = null;
      this._emit();
      return;
    }
    if (audio.paused) {
      // Joining (or rejoining): land on the room's position first, nudge only the residue.
      this._seek(expected);
      if (fromGesture !== false) this._play();
      this._emit();
      return;
    }
    if (audio.seeking || audio.readyState < 2 || clientNow() < this._settleUntil) {
      this._emit();
      return;
    }
    var drift = audio.currentTime - expected;
    this.recentDrift.push(drift);
    if (this.recentDrift.length > 5) this.recentDrift.shift();
    this.lastDrift = drift;
    var decision = decide(median(this.recentDrift), this.opts);
    if (decision.action === "seek") {
      this._seek(this.expected());
    } else if (Math.abs(audio.playbackRate - decision.rate) > 0.001) {
      audio.playbackRate = decision.rate;
    }
    this._emit();
  };

  SyncPlayer.prototype.expected = function () {
    if (!this.track) return null;
    return expectedPosition(this.clockSync.clock.serverNow(), this.track.started_at);
  };

  SyncPlayer.prototype.playing = function () {
    return !this.audio.paused && !this.audio.ended && this.audio.readyState > 2;
  };

  SyncPlayer.prototype.status = function () {
    if (!this.track) return "idle";
    if (!this.wanted) return this.blocked ? "blocked" : "stopped";
    if (!this.playing() || this.lastDrift === null) return "syncing";
    var recent = this.recentDrift.length ? median(this.recentDrift) : this.lastDrift;
    return Math.abs(recent) <= this.opts.inSyncS ? "synced" : "syncing";
  };

  SyncPlayer.prototype.state = function () {
    var clock = this.clockSync.clock;
    var expected = this.expected();
    return {
      offset_ms: clock.offset === null ? null : Math.round(clock.offset * 10) / 10,
      rtt_ms: clock.rtt === null ? null : Math.round(clock.rtt * 10) / 10,
      expected_s: expected === null ? null : Math.round(expected * 1000) / 1000,
      actual_s: this.track ? Math.round(this.audio.currentTime * 1000) / 1000 : null,
      drift_ms: this.lastDrift === null ? null : Math.round(this.lastDrift * 10000) / 10,
      playing: this.playing(),
      transport: this.transport,
      status: this.status(),
      rate: this.audio.playbackRate,
    };
  };

  SyncPlayer.prototype._emit = function () {
    if (this.onStateChange) this.onStateChange(this.state());
  };

  SyncPlayer.prototype._report = function () {
    var playing = !this.audio.paused && !this.audio.ended;
    if (playing === this._reported) return;
    this._reported = playing;
    if (this.onAudioState) this.onAudioState(playing);
    this._emit();
  };

  function median(values) {
    var sorted = values.slice().sort(function (a, b) {
      return a - b;
    });
    var mid = sorted.length >> 1;
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  }

  var api = {
    DEFAULTS: DEFAULTS,
    clientNow: clientNow,
    ClockEstimator: ClockEstimator,
    ClockSync: ClockSync,
    SyncPlayer: SyncPlayer,
    decide: decide,
    expectedPosition: expectedPosition,
    median: median,
  };
  root.RoomtoneSync = api;
  if (typeof module !== "undefined" && module.exports) module.exports = api;
})(typeof window !== "undefined" ? window : globalThis);
