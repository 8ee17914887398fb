/* Roomtone audio engines, driven by sync.js's SyncPlayer (docs/client.md has the numbers).
 *
 * WebAudioEngine (preferred): the track decoded into memory and started on the AudioContext's own
 * clock at the context time that is heard when the room reaches that position. HtmlAudioEngine
 * (fallback: no AudioContext, a failed decode, a track too long to hold decoded): an <audio>
 * element, whose currentTime jitters and runs ahead of what is heard, held by seeks and rate
 * nudges.
 */
(function (root) {
  "use strict";

  var DEFAULTS = {
    maxSeconds: 900, // decoded PCM costs ~0.4 MB a second: longer tracks play through <audio>
    maxBytes: 80 * 1024 * 1024, // encoded size cap (Content-Length, then the body)
    scheduleAheadS: 0.1, // a (re)start is placed this far ahead of the context clock
    rescheduleS: 0.005, // restart only when the heard position is off by more than this
    rescheduleGapMs: 500, // and not again before the last restart has been measured
    // Latency costs nothing here (the schedule accounts for it), underruns cost everything: ask
    // for buffers long enough that a busy machine does not starve the output. ("playback" gave
    // 56-80 ms on PulseAudio and 50-100 ms stalls when other pages loaded; 0.1 gives ~300 ms.)
    latencyHint: 0.1,
    mapSamples: 9, // output timestamps kept; their median maps context time to performance.now
    // The mapping is only trusted once the output runs: for about a second after a context
    // starts its timestamps are degenerate, then they step once or twice (by up to the output
    // latency) in the first few hundred ms. The first start waits until they have held within
    // `mapSettleS` for `settleHoldMs` (or `settleMs` have passed since the first sample).
    mapSettleS: 0.005,
    settleHoldMs: 300,
    settleMs: 1500,
    settleEveryMs: 20,
    errorSamples: 5, // heard-position errors kept; their median decides a restart
  };

  // The <audio> engine. A stalled element falls 50-250 ms behind at once, which a 5% nudge takes
  // seconds to undo: past seekThresholdS it seeks, aiming ahead by the seek's own (learned)
  // duration, and nudges only the residue.
  var HTML_DEFAULTS = {
    seekThresholdS: 0.08,
    seekGapMs: 1500, // at most one seek this often; meanwhile nudge at the cap
    seekLeadS: 0.05, // first guess of how long a seek takes to land
    maxSeekLeadS: 0.5,
    landingSamples: 3, // drifts measured after a seek (at rate 1) to learn its duration
    deadBandS: 0.01, // start nudging beyond this ...
    releaseS: 0.004, // ... and stop once within this (hysteresis)
    maxRateNudge: 0.05,
    rateGain: 1.5, // rate change per second of drift (30 ms -> 4.5%)
    driftSamples: 5, // decisions use the median of this many drifts (currentTime jitters)
    htmlAheadS: 0.008, // currentTime runs this far ahead of what is heard
  };

  function clientNow() {
    return root.performance.timeOrigin + root.performance.now();
  }

  function contextClass() {
    return root.AudioContext || root.webkitAudioContext || null;
  }

  function perfNow() {
    return root.performance.now();
  }

  function spread(values) {
    return Math.max.apply(null, values) - Math.min.apply(null, values);
  }

  function median(values) {
    var sorted = values.slice().sort(function (a, b) {
      return a - b;
    });
    var mid = sorted.length >> 1;
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  }

  /**
   * One sample of `performance.now()/1000 − contextTime` for the sample frame being heard: a frame
   * scheduled at context time c is heard at performance time (c + sample) s. getOutputTimestamp()
   * already names the frame at the speaker, so the reported latencies are added only without it.
   * Null while the output has not run yet.
   */
  function mappingSample(ctx, nowMs) {
    // Until the output device runs, Chromium reports an outputLatency of 0 and timestamps that
    // agree with each other but not with what will be heard.
    if (ctx.outputLatency === 0) return null;
    if (typeof ctx.getOutputTimestamp === "function") {
      var ts = ctx.getOutputTimestamp();
      if (!ts || !(ts.performanceTime > 0) || !(ts.contextTime > 0)) return null;
      return ts.performanceTime / 1000 - ts.contextTime;
    }
    if (!(ctx.currentTime > 0)) return null;
    var latency = (ctx.baseLatency || 0) + (ctx.outputLatency || 0);
    return nowMs / 1000 - ctx.currentTime + latency;
  }

  /**
   * Where to start the buffer: `at` (context time) and the track `offset` there, so that the room's
   * position is heard. `earliest` is the first context time that can still be scheduled;
   * `expectedAt(ms)` is the room's position in seconds at performance time ms.
   */
  function schedule(earliest, map, expectedAt) {
    var offset = expectedAt((earliest + map) * 1000);
    if (offset < 0) return { at: earliest - offset, offset: 0 };
    return { at: earliest, offset: offset };
  }

  function decode(ctx, data) {
    return new Promise(function (resolve, reject) {
      // The callback form too: older Safari returns no promise.
      var done = ctx.decodeAudioData(data, resolve, reject);
      if (done && done.then) done.then(resolve, reject);
    });
  }

  /* ---- drift decision (pure) ------------------------------------------------------------- */

  /**
   * What to do about `drift` seconds (actual − expected; positive = ahead of the room). The dead
   * band has hysteresis: nudging starts beyond `deadBandS` and, once `nudging`, goes on until
   * `releaseS`, so currentTime's jitter does not toggle the rate.
   */
  function decide(drift, options, nudging) {
    var o = Object.assign({}, HTML_DEFAULTS, options || {});
    var size = Math.abs(drift);
    if (size > o.seekThresholdS) return { action: "seek", rate: 1 };
    if (size <= (nudging ? o.releaseS : o.deadBandS)) return { action: "hold", rate: 1 };
    var nudge = Math.max(-o.maxRateNudge, Math.min(o.maxRateNudge, drift * o.rateGain));
    return { action: "nudge", rate: 1 - nudge };
  }

  /**
   * A seek aimed `aimedLeadS` ahead of the room landed `landedDrift` off (actual − expected): the
   * seek took `aimedLeadS − landedDrift`. Move the lead halfway there, within [0, maxSeekLeadS].
   */
  function learnSeekLead(leadS, aimedLeadS, landedDrift, options) {
    var o = Object.assign({}, HTML_DEFAULTS, options || {});
    var took = Math.max(0, Math.min(o.maxSeekLeadS, aimedLeadS - landedDrift));
    return leadS + (took - leadS) / 2;
  }

  /* ---- the <audio> engine: seek with a learned lead, then nudge the rate -------------------- */

  function HtmlAudioEngine(audio, options) {
    this.audio = audio;
    this.opts = Object.assign({}, HTML_DEFAULTS, options || {});
    this.seekLeadS = this.opts.seekLeadS;
    this.landing = null; // {lead} while the last seek's landing is being measured
    this.lastSeekAt = -Infinity;
    this.recent = [];
    this.nudging = false;
    this.lastTime = null;
  }

  HtmlAudioEngine.prototype.seek = function (position, lead) {
    try {
      this.audio.currentTime = Math.max(0, position + lead);
    } catch (e) {
      return;
    }
    this.audio.playbackRate = 1;
    this.nudging = false;
    this.recent = [];
    this.lastTime = null;
    this.landing = position + lead > 0 ? { lead: lead } : null;
    this.lastSeekAt = clientNow();
  };

  /** currentTime of what is heard now: the element reports it ahead of the speaker. */
  HtmlAudioEngine.prototype.position = function () {
    return this.audio.currentTime - this.opts.htmlAheadS;
  };

  /**
   * One control step while the element plays; `expected` is the room's position now. Returns the
   * drift measured (seconds) or null while the element is seeking, starving or just landed.
   */
  HtmlAudioEngine.prototype.tick = function (expected) {
    var audio = this.audio;
    var o = this.opts;
    if (audio.seeking || audio.readyState < 3) {
      this.lastTime = null;
      return null;
    }
    // After a seek currentTime sits on the target until output resumes: only a moving clock
    // says where playback is.
    var now = audio.currentTime;
    var moved = this.lastTime !== null && now !== this.lastTime;
    this.lastTime = now;
    if (!moved && this.landing) return null;
    var drift = this.position() - expected;
    this.recent.push(drift);
    if (this.recent.length > o.driftSamples) this.recent.shift();
    var smooth = median(this.recent);
    if (this.landing) {
      if (this.recent.length < o.landingSamples) return drift;
      this.seekLeadS = learnSeekLead(this.seekLeadS, this.landing.lead, smooth, o);
      this.landing = null;
    }
    var decision = decide(smooth, o, this.nudging);
    if (decision.action === "seek") {
      if (clientNow() - this.lastSeekAt >= o.seekGapMs) this.seek(expected, this.seekLeadS);
      else decision = decide(Math.sign(smooth) * o.seekThresholdS, o, true);
    }
    if (decision.action !== "seek") {
      this.nudging = decision.action === "nudge";
      if (Math.abs(audio.playbackRate - decision.rate) > 0.001) audio.playbackRate = decision.rate;
    }
    return drift;
  };

  /* ---- the Web Audio engine --------------------------------------------------------------- */

  function WebAudioEngine(options) {
    this.opts = Object.assign({}, DEFAULTS, options || {});
    this.ctx = null;
    this.track = null; // {url, state: "loading"|"ready"|"failed", buffer, reason}
    this.source = null; // {node, at, offset, url, key, duration, startedMs}
    this.retiring = null; // a replaced source, stopping at the context time its successor starts
    this.maps = [];
    this.firstMapMs = null;
    this.anchor = null; // the mapping sample the latest ones agree with, since stableSince
    this.stableSince = null;
    // When each step of getting to sound happened (performance.now() ms), for diagnostics.
    this.startup = { context: null, output: null, settled: null, decoded: null, heard: null };
    this.errors = [];
    this.lastError = null;
    this.restarts = 0;
    this.onChange = null; // called when loading ends or the context changes state
  }

  WebAudioEngine.supported = function () {
    return !!contextClass() && typeof root.fetch === "function";
  };

  WebAudioEngine.prototype.context = function () {
    if (!this.ctx) {
      var Ctx = contextClass();
      this.ctx = new Ctx({ latencyHint: this.opts.latencyHint });
      this.startup.context = perfNow();
      this._watchOutput();
      var self = this;
      this.ctx.onstatechange = function () {
        self.maps = [];
        self.firstMapMs = null;
        self.anchor = null;
        if (self.ctx.state === "running") self._watchOutput();
        self._changed();
      };
    }
    return this.ctx;
  };

  WebAudioEngine.prototype._changed = function () {
    if (this.onChange) this.onChange();
  };

  /** Whether a track should be played here at all (the decoded copy lives in memory). */
  WebAudioEngine.prototype.eligible = function (track) {
    return !(track.duration_ms > this.opts.maxSeconds * 1000);
  };

  /**
   * Fetch and decode `url` for the queue entry `key` (once). What plays now goes on playing until
   * the new track's start is scheduled and stops at that very context time: back to back, as the
   * room announces the next track before the playing one ends. The same audio again (a replay)
   * reuses the decoded buffer.
   */
  WebAudioEngine.prototype.load = function (url, key) {
    if (this.track && this.track.url === url && this.track.key === key) return;
    var previous = this.track;
    var entry = { url: url, key: key, state: "loading", buffer: null, reason: null };
    this.track = entry;
    if (previous && previous.url === url && previous.state === "ready") {
      entry.buffer = previous.buffer;
      entry.state = "ready";
      return;
    }
    var self = this;
    var maxBytes = this.opts.maxBytes;
    var ctx = this.context();
    var abort = root.AbortController ? new root.AbortController() : null;
    root
      .fetch(url, { credentials: "same-origin", signal: abort ? abort.signal : undefined })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        var size = Number(response.headers.get("Content-Length"));
        if (size > maxBytes) {
          if (abort) abort.abort();
          throw new Error("too large");
        }
        return response.arrayBuffer();
      })
      .then(function (data) {
        if (data.byteLength > maxBytes) throw new Error("too large");
        return decode(ctx, data);
      })
      .then(function (buffer) {
        if (self.track !== entry) return;
        entry.buffer = buffer;
        entry.state = "ready";
        if (self.startup.decoded === null) self.startup.decoded = perfNow();
        self._changed();
      })
      .catch(function (err) {
        if (self.track !== entry) return;
        entry.state = "failed";
        entry.reason = String((err && err.message) || err);
        self._changed();
      });
  };

  WebAudioEngine.prototype.state = function () {
    return this.track ? this.track.state : "idle";
  };

  /** Call from a user gesture: browsers start a context only after one (unless policy allows). */
  WebAudioEngine.prototype.unlock = function () {
    var ctx = this.context();
    if (ctx.state !== "running" && ctx.resume) {
      var attempt = ctx.resume();
      if (attempt && attempt.catch) attempt.catch(function () {});
    }
  };

  WebAudioEngine.prototype.running = function () {
    return !!this.ctx && this.ctx.state === "running";
  };

  /** The median mapping from context seconds to performance seconds, or null. */
  WebAudioEngine.prototype.map = function () {
    return this.maps.length ? median(this.maps) : null;
  };

  WebAudioEngine.prototype._sampleMap = function (nowMs) {
    var sample = mappingSample(this.ctx, nowMs);
    if (sample === null) return;
    if (this.firstMapMs === null) this.firstMapMs = nowMs;
    if (this.anchor === null || Math.abs(sample - this.anchor) > this.opts.mapSettleS) {
      this.anchor = sample;
      this.stableSince = nowMs;
    }
    if (this.startup.output === null) this.startup.output = nowMs;
    this.maps.push(sample);
    if (this.maps.length > this.opts.mapSamples) this.maps.shift();
    // A step (the output started or restarted): the newest samples agree with each other and
    // not with the rest. Keep only them, so the median follows at once instead of five ticks
    // later (a lagging median makes restarts that overshoot).
    var n = this.maps.length;
    if (n >= 6) {
      var recent = this.maps.slice(n - 3);
      var older = median(this.maps.slice(0, n - 3));
      if (spread(recent) <= this.opts.mapSettleS && Math.abs(median(recent) - older) > 0.01) {
        this.maps = recent;
      }
    }
  };

  /**
   * Until the mapping settles, sample it every `settleEveryMs` rather than at the player's ticks:
   * the first start comes as soon as the output runs, not three ticks later.
   */
  WebAudioEngine.prototype._watchOutput = function () {
    var self = this;
    var runs = Math.ceil(this.opts.settleMs / this.opts.settleEveryMs);
    clearInterval(this._watch);
    this._watch = setInterval(function () {
      runs -= 1;
      if (!self.ctx || self.ctx.state === "closed" || runs < 0) {
        clearInterval(self._watch);
        return;
      }
      var nowMs = perfNow();
      self._sampleMap(nowMs);
      if (self.maps.length && self.settled(nowMs)) {
        clearInterval(self._watch);
        self._changed();
      }
    }, this.opts.settleEveryMs);
    // Under Node (the unit tests) a pending watch must not keep the process alive.
    if (this._watch && this._watch.unref) this._watch.unref();
  };

  /** Whether the mapping can be trusted for a first start. */
  WebAudioEngine.prototype.settled = function (nowMs) {
    if (!this.maps.length) return false;
    if (nowMs - this.stableSince >= this.opts.settleHoldMs) return true;
    return nowMs - this.firstMapMs >= this.opts.settleMs;
  };

  /** The track position heard at performance time `ms`, or null when nothing is scheduled. */
  WebAudioEngine.prototype.position = function (ms) {
    var map = this.map();
    if (!this.source || map === null) return null;
    return this.source.offset + (ms / 1000 - map - this.source.at);
  };

  WebAudioEngine.prototype.playing = function () {
    if (!this.running()) return false;
    if (this.retiring && this.ctx.currentTime < this.retiring.until) return true;
    if (!this.source) return false;
    var heard = this.position(perfNow());
    return heard !== null && heard >= 0 && heard < this.source.duration;
  };

  /**
   * Keep the buffer heard where the room is. `expectedAt(ms)` gives the room's position (seconds)
   * at performance time ms. Returns the measured error (heard − expected, seconds) or null.
   */
  WebAudioEngine.prototype.tick = function (expectedAt) {
    if (!this.running() || !this.track || this.track.state !== "ready") return null;
    var nowMs = perfNow();
    this._sampleMap(nowMs);
    if (this.map() === null || (!this.source && !this.settled(nowMs))) return null;
    if (this.startup.settled === null) this.startup.settled = nowMs;
    if (!this.source || this.source.key !== this.track.key || this.source.url !== this.track.url) {
      this._start(expectedAt, nowMs);
      return null;
    }
    var error = this.position(nowMs) - expectedAt(nowMs);
    this.lastError = error;
    this.errors.push(error);
    if (this.errors.length > this.opts.errorSamples) this.errors.shift();
    var settled = nowMs - this.source.startedMs >= this.opts.rescheduleGapMs;
    if (settled && this.errors.length >= 3 && Math.abs(median(this.errors)) > this.opts.rescheduleS) {
      this._start(expectedAt, nowMs);
    }
    return error;
  };

  // Stopping the old source at the very context time the new one starts: no gap, no overlap
  // (a restart, or the last track handing over to the next).
  WebAudioEngine.prototype._start = function (expectedAt, nowMs) {
    var ctx = this.ctx;
    var buffer = this.track.buffer;
    var plan = schedule(ctx.currentTime + this.opts.scheduleAheadS, this.map(), expectedAt);
    var old = this.source;
    this.source = null;
    if (plan.offset < buffer.duration) {
      var node = ctx.createBufferSource();
      node.buffer = buffer;
      node.connect(ctx.destination);
      node.start(plan.at, plan.offset);
      this.source = {
        node: node,
        at: plan.at,
        offset: plan.offset,
        url: this.track.url,
        key: this.track.key,
        duration: buffer.duration,
        startedMs: nowMs,
      };
      if (old && old.key === this.track.key) this.restarts += 1;
      if (this.startup.heard === null) {
        this.startup.heard = (plan.at + this.map()) * 1000;
      }
    }
    if (old) {
      stopNode(old.node, this.source ? plan.at : 0);
      // Until then it still sounds (the end of the last track, or the position being left).
      this.retiring = this.source ? { node: old.node, until: plan.at } : null;
    }
    this.errors = [];
  };

  WebAudioEngine.prototype.stop = function () {
    if (this.source) stopNode(this.source.node, 0);
    if (this.retiring) stopNode(this.retiring.node, 0);
    this.source = null;
    this.retiring = null;
    this.errors = [];
    this.lastError = null;
  };

  function stopNode(node, at) {
    try {
      node.stop(at);
    } catch (e) {
      // Already stopped: nothing to do.
    }
    if (!at) node.disconnect();
  }

  var api = {
    DEFAULTS: DEFAULTS,
    HTML_DEFAULTS: HTML_DEFAULTS,
    HtmlAudioEngine: HtmlAudioEngine,
    decide: decide,
    learnSeekLead: learnSeekLead,
    median: median,
    WebAudioEngine: WebAudioEngine,
    mappingSample: mappingSample,
    schedule: schedule,
  };
  root.RoomtoneAudioEngine = api;
  if (typeof module !== "undefined" && module.exports) module.exports = api;
})(typeof window !== "undefined" ? window : globalThis);
