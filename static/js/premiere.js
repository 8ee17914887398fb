/* The premiere countdown on the room page.
 *
 * Counts down to the premiere's `starts_at` on the server's clock (the room page's estimated
 * offset once it has one), then turns into the track the room is playing. The server switches
 * the room to the premiere a few seconds early with `started_at` = `starts_at`, so at zero the
 * audio starts together everywhere and the box only has to say so.
 */
(function () {
  "use strict";

  var box = document.getElementById("premiere");
  if (!box) return;
  var startsAt = Number(box.dataset.startsAt);
  var count = document.getElementById("premiere-count");
  var live = document.getElementById("premiere-live");
  if (!startsAt || !live) return;

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

  function playingTitle() {
    var rt = window.roomtone;
    var state = rt && rt.state ? rt.state() : null;
    var playing = state && state.now_playing;
    if (playing && playing.started_at === startsAt && playing.track) {
      return playing.track.title + (playing.track.artist_names ? " — " + playing.track.artist_names : "");
    }
    return "";
  }

  var timer = null;
  function tick() {
    var left = startsAt - serverNow();
    if (left > 0) {
      // Wake right at the moment, not up to a tick late.
      timer = setTimeout(tick, Math.min(250, Math.max(left, 10)));
      return;
    }
    box.classList.add("is-live");
    box.dataset.state = "live";
    if (count) count.hidden = true;
    var title = playingTitle();
    live.textContent = title ? "Live now: " + title : "Live now";
    live.hidden = false;
    // The playing track may arrive a moment later (a join right at the start): keep looking.
    if (!title) timer = setTimeout(tick, 500);
  }
  tick();

  window.roomtonePremiere = {
    state: function () {
      return { starts_at: startsAt, left_ms: Math.max(0, startsAt - serverNow()), live: box.dataset.state === "live" };
    },
    stop: function () {
      if (timer) clearTimeout(timer);
    },
  };
})();
