/* Roomtone playback sync: the server's clock, estimated NTP-style, and the track held to it.
 *
 * Transport-agnostic: give ClockSync a `send(frame)` function and feed it the `time.pong` frames;
 * give SyncPlayer an <audio> element, the clock, and each `now_playing`. SyncPlayer plays through
 * audio_engine.js: Web Audio when it can, the <audio> element otherwise.
 * docs/client.md describes the numbers and the `window.roomtone.sync()` diagnostics built from
 * `SyncPlayer.state()`.
 */
(function (root) {
  "use strict";

  var DEFAULTS = {
    joinSamples: 8, // pings sent back to back when a connection opens
    refreshSamples: 4, // pings sent at each periodic re-estimate
    // A page that has just loaded (decoding its audio, drawing) answers slowly: its first round
    // trips are long and the estimate loose. Bursts soon after find the short ones.
    refineAtMs: [1000, 2500, 5000, 10000, 20000],
    refreshMs: 30000,
    pingTimeoutMs: 2000,
    window: 24, // samples kept
    best: 3, // of those, the ones with the smallest round trip are averaged
    tickMs: 100,
    inSyncS: 0.03,
    unlockWaitMs: 2000, // an AudioContext still suspended this long after Listen: blocked
    engine: "auto", // "htmlaudio" forces the <audio> engine
    webAudio: null, // options for audio_engine.js's WebAudioEngine
    driftSamples: 5, // the indicator uses the median of this many drifts
    htmlSwitchMs: 750, // the <audio> engine loads the next track this long before it starts
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
    this._refines = this.opts.refineAtMs.map(function (ms) {
      return setTimeout(function () {
        self._burst(self.opts.refreshSamples);
      }, ms);
    });
    this._refresh = setInterval(function () {
      self._burst(self.opts.refreshSamples);
    }, this.opts.refreshMs);
  };

  ClockSync.prototype.stop = function () {
    clearInterval(this._refresh);
    clearTimeout(this._timer);
    (this._refines || []).forEach(clearTimeout);
    this._refines = [];
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

  /** Seconds into the track the room is at; negative while it has not started. */
  function expectedPosition(serverNowMs, startedAtMs) {
    return (serverNowMs - startedAtMs) / 1000;
  }

  /* ---- the player ------------------------------------------------------------------------ */

  function webAudio() {
    var engine = root.RoomtoneAudioEngine;
    return engine && engine.WebAudioEngine.supported() ? engine.WebAudioEngine : null;
  }

  SyncPlayer.prototype._htmlEngine = function () {
    if (!this.html && root.RoomtoneAudioEngine) {
      this.html = new root.RoomtoneAudioEngine.HtmlAudioEngine(this.audio, this.opts);
    }
    return this.html;
  };

  function SyncPlayer(audio, clockSync, options) {
    this.audio = audio;
    this.clockSync = clockSync;
    this.opts = Object.assign({}, DEFAULTS, options || {});
    this.html = null; // the <audio> engine (audio_engine.js), made on first use
    this.web = null; // the Web Audio engine, made on first use
    this.engine = null; // "webaudio" or "htmlaudio" for the current track; null: not chosen yet
    this.track = null; // {entry_id, audio_url, started_at, duration_ms}
    this.wanted = false; // the fan wants to hear the room
    this.blocked = false; // the browser refused to start audio without a gesture
    this.transport = "websocket";
    this.lastDrift = null;
    this.recentDrift = [];
    this._listenAt = 0;
    this._startTimer = null;
    this._pending = null; // the next now_playing, while the <audio> engine plays the last out
    this._pendingTimer = null;
    this._ticker = null;
    this._reported = null;
    this.onStateChange = null; // called with state() on every tick
    this.onAudioState = null; // called with true/false when playing starts or stops
    var self = this;
    ["playing", "pause", "ended", "error", "emptied", "waiting"].forEach(function (name) {
      audio.addEventListener(name, function () {
        self._report();
      });
    });
  }

  // `?engine=htmlaudio` on the page's URL forces the fallback (diagnostics, comparisons).
  function engineFromUrl() {
    try {
      return new URLSearchParams(root.location.search).get("engine") || "";
    } catch (e) {
      return "";
    }
  }

  SyncPlayer.prototype._webEngine = function () {
    var forced = this.opts.engine === "auto" ? engineFromUrl() : this.opts.engine;
    if (!this.web && forced !== "htmlaudio") {
      var Engine = webAudio();
      if (Engine) {
        var self = this;
        this.web = new Engine(this.opts.webAudio);
        this.web.onChange = function () {
          if (self.web.state() === "failed" && self.engine === "webaudio") self._use("htmlaudio");
          self._tick();
        };
      }
    }
    return this.web;
  };

  // The engine for the current track: Web Audio when it can hold the track, <audio> otherwise.
  SyncPlayer.prototype._choose = function () {
    var web = this._webEngine();
    this._use(web && web.eligible(this.track) ? "webaudio" : "htmlaudio");
  };

  SyncPlayer.prototype._use = function (name) {
    this.engine = name;
    this.recentDrift = [];
    if (name === "webaudio") {
      if (!this.audio.paused) this.audio.pause();
      this.audio.removeAttribute("src");
      // The engine plays the last track on until this one starts (a Web Audio handover).
      this.web.load(this.track.audio_url, this.track.entry_id);
      if (this.wanted) {
        this._listenAt = clientNow();
        this.web.unlock();
      }
    } else {
      if (this.web) this.web.stop();
      if (this.audio.getAttribute("src") !== this.track.audio_url) {
        this.audio.src = this.track.audio_url;
        this.audio.playbackRate = 1;
      }
    }
  };

  SyncPlayer.prototype.setNowPlaying = function (nowPlaying) {
    if (this._deferred(nowPlaying)) return;
    clearTimeout(this._startTimer);
    if (!nowPlaying || !nowPlaying.track || !nowPlaying.track.audio_url) {
      this.track = null;
      this.engine = null;
      if (this.web) this.web.stop();
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
      this.engine = null;
      // Start loading now; an engine script that arrives later still gets this track.
      if (this._webEngine()) this._choose();
      else if (this.audio.getAttribute("src") !== this.track.audio_url) {
        this.audio.src = this.track.audio_url;
      }
    }
    this._tick();
  };

  /*
   * The room announces the next track a few seconds before the playing one ends, to start the
   * moment it ends. Web Audio hands over by itself (audio_engine.js). The <audio> element holds one
   * track: it plays the last one on and switches `htmlSwitchMs` before the next one starts.
   * Returns true while `nowPlaying` waits for that switch.
   */
  SyncPlayer.prototype._deferred = function (nowPlaying) {
    var pending = this._pending;
    if (pending && nowPlaying && pending.entry_id === nowPlaying.entry_id) {
      this._pending = nowPlaying; // newer figures (votes) for the same entry
      return true;
    }
    clearTimeout(this._pendingTimer);
    this._pending = null;
    var track = this.track;
    if (!nowPlaying || !nowPlaying.track || !track || track.entry_id === nowPlaying.entry_id) {
      return false;
    }
    if (this.engine !== "htmlaudio" || !this.wanted || this.audio.paused) return false;
    var expected = this.expected();
    if (expected === null || expected >= (track.duration_ms || 0) / 1000) return false;
    var wait = nowPlaying.started_at - this.clockSync.clock.serverNow() - this.opts.htmlSwitchMs;
    if (!(wait > 0)) return false;
    var self = this;
    this._pending = nowPlaying;
    this._pendingTimer = setTimeout(function () {
      var next = self._pending;
      self._pending = null;
      if (next) self.setNowPlaying(next);
    }, wait);
    return true;
  };

  /** Start listening; call from a click handler so the browser allows sound. */
  SyncPlayer.prototype.listen = function () {
    this.wanted = true;
    this.blocked = false;
    this._listenAt = clientNow();
    var web = this._webEngine();
    if (web) web.unlock();
    this._ensureTicker();
    this._tick(true);
  };

  SyncPlayer.prototype.stop = function () {
    this.wanted = false;
    clearTimeout(this._startTimer);
    this.audio.pause();
    if (this.web) this.web.stop();
    this._tick();
  };

  SyncPlayer.prototype._ensureTicker = function () {
    if (this._ticker) return;
    var self = this;
    this._ticker = setInterval(function () {
      self._tick();
    }, this.opts.tickMs);
  };

  SyncPlayer.prototype._block = function () {
    this.blocked = true;
    this.wanted = false;
    if (this.web) this.web.stop();
    this._emit();
  };

  SyncPlayer.prototype._play = function () {
    var self = this;
    var attempt = this.audio.play();
    if (attempt && attempt.catch) {
      attempt.catch(function (err) {
        if (err && err.name === "NotAllowedError") self._block();
      });
    }
  };

  SyncPlayer.prototype._tick = function () {
    var track = this.track;
    if (!this.wanted || !track || !this.clockSync.clock.ready()) {
      this._idle();
      return;
    }
    // Both engines live in audio_engine.js: until it has loaded there is nothing to play with.
    if (!this._htmlEngine()) {
      this._idle();
      return;
    }
    if (!this.engine) this._choose();
    if (this.engine === "webaudio") this._tickWeb();
    else this._tickHtml();
    this._report();
    this._emit();
  };

  SyncPlayer.prototype._idle = function () {
    this.lastDrift = null;
    this._report();
    this._emit();
  };

  SyncPlayer.prototype._measured = function (drift) {
    this.lastDrift = drift;
    if (drift === null) return;
    this.recentDrift.push(drift);
    if (this.recentDrift.length > this.opts.driftSamples) this.recentDrift.shift();
  };

  SyncPlayer.prototype._tickWeb = function () {
    var web = this.web;
    if (!web.running()) {
      // A context that stays suspended after Listen was refused by the autoplay policy.
      if (clientNow() - this._listenAt > this.opts.unlockWaitMs) this._block();
      this.lastDrift = null;
      return;
    }
    var started = this.track.started_at;
    var offset = this.clockSync.clock.offset || 0;
    var origin = clientNow() - root.performance.now();
    var duration = (this.track.duration_ms || 0) / 1000;
    var expectedAt = function (perfMs) {
      return expectedPosition(origin + perfMs + offset, started);
    };
    if (duration && this.expected() >= duration) {
      web.stop();
      this.lastDrift = null;
      return;
    }
    this._measured(web.tick(expectedAt));
  };

  SyncPlayer.prototype._tickHtml = function () {
    var audio = this.audio;
    var expected = this.expected();
    var duration = (this.track.duration_ms || 0) / 1000;
    if (expected < 0) {
      // Starts in the future: park at 0 and start at the moment the room does.
      if (!audio.paused) audio.pause();
      if (audio.currentTime !== 0) this.html.seek(0, 0);
      var self = this;
      clearTimeout(this._startTimer);
      this._startTimer = setTimeout(function () {
        self.html.seek(Math.max(0, self.expected()), self.html.seekLeadS);
        self._play();
      }, -expected * 1000);
      this.lastDrift = null;
      return;
    }
    if (duration && expected >= duration) {
      if (!audio.paused) audio.pause();
      this.lastDrift = null;
      return;
    }
    if (audio.paused) {
      // Joining (or rejoining): land on the room's position first, nudge only the residue.
      this.recentDrift = [];
      this.html.seek(expected, this.html.seekLeadS);
      this._play();
      this.lastDrift = null;
      return;
    }
    this._measured(this.html.tick(expected));
  };

  SyncPlayer.prototype.expected = function () {
    if (!this.track) return null;
    return expectedPosition(this.clockSync.clock.serverNow(), this.track.started_at);
  };

  SyncPlayer.prototype.playing = function () {
    if (this.engine === "webaudio") return !!this.web && this.web.playing();
    return !this.audio.paused && !this.audio.ended && this.audio.readyState > 2;
  };

  SyncPlayer.prototype.actual = function () {
    if (!this.track) return null;
    if (this.engine === "webaudio") return this.web.position(root.performance.now());
    return this.html ? this.html.position() : this.audio.currentTime;
  };

  SyncPlayer.prototype.status = function () {
    if (!this.track) return "idle";
    if (!this.wanted) return this.blocked ? "blocked" : "stopped";
    // The next track is announced before it starts; the last one, in sync, plays out meanwhile.
    if (this.playing() && this.expected() < 0) return "synced";
    if (!this.playing() || this.lastDrift === null) return "syncing";
    var recent = this.recentDrift.length ? median(this.recentDrift) : this.lastDrift;
    return Math.abs(recent) <= this.opts.inSyncS ? "synced" : "syncing";
  };

  function round(value, places) {
    if (value === null || value === undefined) return null;
    var k = Math.pow(10, places);
    return Math.round(value * k) / k;
  }

  SyncPlayer.prototype.state = function () {
    var clock = this.clockSync.clock;
    var web = this.engine === "webaudio";
    return {
      offset_ms: round(clock.offset, 1),
      rtt_ms: round(clock.rtt, 1),
      expected_s: round(this.expected(), 3),
      actual_s: round(this.actual(), 3),
      drift_ms: round(this.lastDrift === null ? null : this.lastDrift * 1000, 1),
      playing: this.playing(),
      transport: this.transport,
      engine: this.engine || (this._webEngine() ? "webaudio" : "htmlaudio"),
      status: this.status(),
      rate: web ? 1 : this.audio.playbackRate,
      startup: web && this.web ? startupState(this.web.startup) : null,
    };
  };

  // ms since the page's navigation started (performance.now() is counted from there).
  function startupState(marks) {
    var out = {};
    Object.keys(marks).forEach(function (key) {
      out[key + "_ms"] = marks[key] === null ? null : Math.round(marks[key]);
    });
    return out;
  }

  SyncPlayer.prototype._emit = function () {
    if (this.onStateChange) this.onStateChange(this.state());
  };

  // What the server counts as listening: the element started (even if it starves for a moment),
  // or Web Audio sounding the track.
  SyncPlayer.prototype._report = function () {
    var playing =
      this.engine === "webaudio" ? this.playing() : !this.audio.paused && !this.audio.ended;
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
    expectedPosition: expectedPosition,
    median: median,
  };
  root.RoomtoneSync = api;

  // A page whose template lists only sync.js still gets the engines beside it.
  var doc = root.document;
  var script = doc && doc.currentScript;
  var own = /\/sync\.js(\?.*)?$/;
  if (script && own.test(script.src) && !root.RoomtoneAudioEngine) {
    if (!doc.querySelector('script[src*="audio_engine"]')) {
      var tag = doc.createElement("script");
      tag.src = script.src.replace(own, "/audio_engine.js$1");
      doc.head.appendChild(tag);
    }
  }
  if (typeof module !== "undefined" && module.exports) module.exports = api;
})(typeof window !== "undefined" ? window : globalThis);
