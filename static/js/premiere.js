/* The premiere countdown on the room page.
 *
 * Counts down to the premiere's `starts_at` on the server's clock (the room page's estimated
 * offset once it has one), then turns into the track the room is playing. The server switches
 * the room to the premiere a few seconds early with `started_at` = `starts_at`, so at zero the
 * audio starts together everywhere and the box only has to say so.
 *
 * room.js hands over every change of the room's premiere (`window.roomtonePremiere.set`): one
 * scheduled, moved or dropped while the page is open shows without a reload.
 */
(function () {
  "use strict";

  var box = document.getElementById("premiere");
  var count = document.getElementById("premiere-count");
  var live = document.getElementById("premiere-live");
  var titleNode = document.getElementById("premiere-title");
  if (!box || !count || !live) return;
  var startsAt = Number(box.dataset.startsAt) || null;
  var title = titleNode ? titleNode.textContent : "";
  // A premiere the server stops naming this close to its start has begun, not been dropped.
  var STARTED_MARGIN_MS = 60000;

  function clientNow() {
    var perf = window.performance;
    return perf && perf.timeOrigin ? perf.timeOrigin + perf.now() : Date.now();
  }

  function serverNow() {
    var rt = window.roomtone;
    var sync = rt && rt.sync ? rt.sync() : null;
    var offset = sync && typeof sync.offset_ms === "number" ? sync.offset_ms : 0;
    return clientNow() + offset;
  }

  function countdown(left) {
    var s = Math.floor(left / 1000);
    var d = Math.floor(s / 86400);
    var hh = String(Math.floor((s % 86400) / 3600)).padStart(2, "0");
    var mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
    var ss = String(s % 60).padStart(2, "0");
    return (d ? d + "d " : "") + hh + ":" + mm + ":" + ss;
  }

  function playingTitle() {
    var rt = window.roomtone;
    var state = rt && rt.state ? rt.state() : null;
    var playing = state && state.now_playing;
    if (playing && playing.started_at === startsAt && playing.track) {
      // Each name isolated (FSI … PDI): a right-to-left override in one cannot flip the rest.
      var isolate = function (text) {
        return "\u2068" + text + "\u2069";
      };
      return isolate(playing.track.title) + (playing.track.artist_names ? " — " + isolate(playing.track.artist_names) : "");
    }
    return "";
  }

  var timer = null;
  function tick() {
    clearTimeout(timer);
    timer = null;
    if (!startsAt) return;
    var left = startsAt - serverNow();
    if (left > 0) {
      count.textContent = countdown(left);
      // Wake right at the moment, not up to a tick late.
      timer = setTimeout(tick, Math.min(250, Math.max(left, 10)));
      return;
    }
    box.classList.add("is-live");
    box.dataset.state = "live";
    count.hidden = true;
    var playing = playingTitle();
    live.textContent = playing ? "Live now: " + playing : "Live now";
    live.hidden = false;
    // The playing track may arrive a moment later (a join right at the start): keep looking.
    if (!playing) timer = setTimeout(tick, 500);
  }

  function set(premiere) {
    if (premiere && typeof premiere.starts_at === "number") {
      if (premiere.starts_at === startsAt && premiere.title === title) return;
      startsAt = premiere.starts_at;
      title = premiere.title || "";
      if (titleNode) titleNode.textContent = title;
      box.dataset.startsAt = String(startsAt);
      box.classList.remove("is-live");
      box.dataset.state = "countdown";
      count.hidden = false;
      live.hidden = true;
      box.hidden = false;
      tick();
      return;
    }
    if (startsAt && (box.dataset.state === "live" || startsAt - serverNow() < STARTED_MARGIN_MS)) {
      return;
    }
    clearTimeout(timer);
    startsAt = null;
    box.dataset.startsAt = "";
    box.dataset.state = "none";
    box.hidden = true;
  }

  if (startsAt) {
    box.dataset.state = "countdown";
    tick();
  } else {
    box.dataset.state = "none";
  }
  // The room may have changed between the page's render and this script (room.js ran first).
  var rt = window.roomtone;
  var state = rt && rt.state ? rt.state() : null;
  if (state && Object.prototype.hasOwnProperty.call(state, "premiere")) set(state.premiere);

  window.roomtonePremiere = {
    set: set,
    state: function () {
      return {
        starts_at: startsAt,
        title: startsAt ? title : null,
        left_ms: startsAt ? Math.max(0, startsAt - serverNow()) : null,
        live: box.dataset.state === "live",
      };
    },
    stop: function () {
      clearTimeout(timer);
    },
  };
})();
