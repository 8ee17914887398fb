/* Roomtone room page: keeps the server-rendered room live over /ws/rooms/<slug>/ (or its HTTP
 * fallback, see transport.js) and plays it in sync. Frames are described in docs/protocol.md; the
 * client's behaviour in docs/client.md. */
(function () {
  "use strict";

  var R = window.RoomtoneRender;
  var S = window.RoomtoneSync;
  var T = window.RoomtoneTransport;
  var box = document.getElementById("room");
  var initial = document.getElementById("room-snapshot");
  if (!box || !initial || !R || !S || !T) return;

  var state = JSON.parse(initial.textContent);
  var lastSeq = typeof state.seq === "number" ? state.seq : null;
  var myVotes = {};
  var awaitingSnapshot = false;
  var awaitingTimer = null;
  var connection = null;

  /* ---- transport: WebSocket, or SSE + POST where sockets are blocked (transport.js) ------ */

  function transportOptions() {
    var wsPath = box.dataset.wsPath;
    var cut = wsPath.indexOf("?");
    var query = cut >= 0 ? wsPath.slice(cut) : "";
    var base = "/rooms/" + encodeURIComponent(box.dataset.slug) + "/";
    var force = new URLSearchParams(window.location.search).get("transport") || "";
    return {
      wsPath: wsPath,
      events: box.dataset.eventsPath || base + "events/" + query,
      actions: box.dataset.actionsPath || base + "actions/" + query,
      force: force === "sse" || force === "websocket" ? force : "",
    };
  }

  /* ---- sync ------------------------------------------------------------------------------ */

  var audio = document.getElementById("audio");
  var clockSync = new S.ClockSync(function (frame) {
    return connection && connection.send(frame);
  });
  var player = new S.SyncPlayer(audio, clockSync);
  var listenButton = document.getElementById("listen-btn");
  var indicator = document.getElementById("sync-indicator");
  var offline = false;

  function roomPaused() {
    return !!(state.now_playing && state.now_playing.paused);
  }

  // While the room is paused the player holds nothing, so it stops and reports its audio as
  // stopped; the resuming `now_playing` starts it again at the position the room held.
  function playNowPlaying() {
    player.setNowPlaying(roomPaused() ? null : state.now_playing);
    showSync(player.state());
  }

  function showSync(sync) {
    if (!indicator) return;
    var text;
    var kind = sync.status;
    if (offline) {
      text = "Reconnecting…";
      kind = "offline";
    } else if (roomPaused()) {
      text = "Paused by the room";
      kind = "paused";
    } else if (kind === "synced") {
      text = "In sync ±" + Math.max(1, Math.round(Math.abs(sync.drift_ms || 0))) + " ms";
    } else if (kind === "syncing") {
      text = "Syncing…";
    } else if (kind === "blocked") {
      text = "Press Listen to hear the room";
    } else if (kind === "idle") {
      text = "Nothing playing";
    } else {
      text = "Not listening";
    }
    // The player reports ten times a second; the page redraws only what changed, and the drift
    // figure at most once a second (each redraw is layout and paint, on every fan's machine).
    var now = Date.now();
    var fresh = indicator.dataset.state !== kind || now - shownAt >= 1000;
    if (fresh && indicator.textContent !== text) {
      indicator.textContent = text;
      shownAt = now;
    }
    if (indicator.dataset.state !== kind) indicator.dataset.state = kind;
    if (listenButton) {
      var label = player.wanted ? "■ Stop" : "▶ Listen";
      if (listenButton.textContent !== label) {
        listenButton.textContent = label;
        listenButton.classList.toggle("is-playing", player.wanted);
        listenButton.setAttribute("aria-pressed", player.wanted ? "true" : "false");
      }
    }
  }
  var shownAt = 0;

  player.onStateChange = showSync;
  player.onAudioState = function (playing) {
    send({ type: "audio.state", playing: playing }, true);
  };
  clockSync.onReady = function () {
    player._tick();
  };
  if (listenButton) {
    listenButton.addEventListener("click", function () {
      if (player.wanted) player.stop();
      else player.listen();
    });
  }

  /* ---- applying frames ------------------------------------------------------------------- */

  // Only a snapshot knows this fan's votes; room-wide events carry nobody's in particular.
  function withMyVotes(items, fromSnapshot) {
    return (items || []).map(function (item) {
      if (fromSnapshot && typeof item.my_vote === "number") myVotes[item.entry_id] = item.my_vote;
      return Object.assign({}, item, { my_vote: myVotes[item.entry_id] || 0 });
    });
  }

  function requestSnapshot() {
    if (awaitingSnapshot) return;
    awaitingSnapshot = true;
    clearTimeout(awaitingTimer);
    awaitingTimer = setTimeout(function () {
      awaitingSnapshot = false;
    }, 5000);
    send({ type: "sync" }, true);
  }

  function applySnapshot(snapshot) {
    myVotes = {};
    state = snapshot;
    state.queue = withMyVotes(snapshot.queue, true);
    if (state.now_playing && state.now_playing.my_vote) myVotes[state.now_playing.entry_id] = state.now_playing.my_vote;
    lastSeq = snapshot.seq;
    awaitingSnapshot = false;
    R.renderAll(state, actions);
    showPremiere();
    playNowPlaying();
  }

  function showPremiere() {
    if (window.roomtonePremiere) window.roomtonePremiere.set(state.premiere || null);
  }

  function pick(frame, key) {
    return Object.prototype.hasOwnProperty.call(frame, key) ? frame[key] : undefined;
  }

  var handlers = {
    "now_playing": function (frame) {
      var np = pick(frame, "now_playing");
      state.now_playing = np === undefined ? frame.entry || null : np;
      if (state.now_playing) state.now_playing.my_vote = myVotes[state.now_playing.entry_id] || 0;
      if (frame.history) state.history = frame.history;
      if (frame.queue) state.queue = withMyVotes(frame.queue);
      R.renderNowPlaying(state);
      // Draw the bar now, not at the next tick: a pause must freeze it where the room held.
      R.renderProgress(state, serverNow());
      R.renderHistory(state);
      R.renderQueue(state, actions);
      playNowPlaying();
    },
    "queue.updated": function (frame) {
      state.queue = withMyVotes(frame.queue);
      R.renderQueue(state, actions);
    },
    "votes": function (frame) {
      var np = state.now_playing;
      if (np && np.entry_id === frame.entry_id) {
        ["up", "down", "skip_votes", "skip_needed"].forEach(function (key) {
          if (frame[key] !== undefined) np[key] = frame[key];
        });
        R.renderNowPlaying(state);
      }
    },
    "chat.message": function (frame) {
      var message = frame.message || frame;
      state.chat = (state.chat || []).concat([{ id: message.id, user: message.user, text: message.text, created_at: message.created_at }]).slice(-100);
      R.renderChat(state, actions);
    },
    "chat.deleted": function (frame) {
      var id = frame.id !== undefined ? frame.id : frame.message_id;
      state.chat = (state.chat || []).filter(function (message) {
        return message.id !== id;
      });
      R.renderChat(state, actions);
    },
    "listeners": function (frame) {
      state.listeners = frame.listeners || { count: frame.count || 0, users: frame.users || [] };
      R.renderListeners(state);
    },
    "djs.updated": function (frame) {
      state.djs = frame.djs || [];
      R.renderDjs(state);
    },
    "room.updated": function (frame) {
      state.room = Object.assign({}, state.room, frame.room || {});
      R.renderRoom(state);
    },
    // Personal, unnumbered: the room's next premiere after a change to the room.
    "premiere": function (frame) {
      state.premiere = frame.premiere || null;
      showPremiere();
    },
    "you": function (frame) {
      state.you = Object.assign({}, state.you, frame.you || {});
      R.renderAll(state, actions);
    },
  };
  handlers["skip.updated"] = handlers.votes;
  handlers["now_playing.votes"] = handlers.votes;
  // The audit trail of a moderator action; its effects arrive as their own events.
  handlers.moderation = function () {};
  handlers["you.updated"] = handlers.you;

  function onFrame(frame) {
    if (frame.type === "time.pong") {
      clockSync.handlePong(frame);
      return;
    }
    if (frame.type === "snapshot") {
      applySnapshot(frame);
      return;
    }
    if (frame.type === "ack") return;
    if (frame.type === "error") {
      toast(frame.message || "That did not work.", true);
      // An optimistic vote the server refused: redraw from the truth.
      if (frame.request_type === "vote") requestSnapshot();
      return;
    }
    if (typeof frame.seq === "number") {
      if (lastSeq !== null && frame.seq <= lastSeq) return; // already applied (or in a snapshot)
      if (lastSeq !== null && frame.seq > lastSeq + 1) {
        // Something was missed: the database has the truth, fetch it rather than guess.
        requestSnapshot();
        return;
      }
      if (awaitingSnapshot) return;
      lastSeq = frame.seq;
    }
    var handler = handlers[frame.type];
    if (handler) handler(frame);
    else if (typeof frame.seq === "number") requestSnapshot();
  }

  /* ---- actions --------------------------------------------------------------------------- */

  function send(frame, quiet) {
    if (connection && connection.send(frame)) return true;
    if (!quiet) toast("Not connected — retrying…", true);
    return false;
  }

  var actions = {
    send: send,
    vote: function (entryId, value) {
      if (!send({ type: "vote", entry_id: entryId, value: value })) return;
      myVotes[entryId] = value;
      state.queue = withMyVotes(state.queue);
      R.renderQueue(state, actions);
    },
  };

  var toastTimer = null;
  function toast(text, isError) {
    var node = document.getElementById("toast");
    if (!node) return;
    node.textContent = text;
    node.classList.toggle("is-error", !!isError);
    node.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () {
      node.hidden = true;
    }, 4000);
  }

  function on(id, event, fn) {
    var node = document.getElementById(id);
    if (node) node.addEventListener(event, fn);
  }

  function voteNowPlaying(value) {
    var np = state.now_playing;
    if (!np) return;
    var current = myVotes[np.entry_id] || 0;
    var next = current === value ? 0 : value;
    if (send({ type: "vote", entry_id: np.entry_id, value: next })) {
      myVotes[np.entry_id] = next;
      np.my_vote = next;
      R.renderNowPlaying(state);
    }
  }

  on("np-up", "click", function () {
    voteNowPlaying(1);
  });
  on("np-down", "click", function () {
    voteNowPlaying(-1);
  });
  on("skip-btn", "click", function () {
    send({ type: "skip.vote" });
  });
  on("grab-btn", "click", function () {
    if (state.now_playing && send({ type: "favourite.add" })) {
      toast("Saved to your favourites.");
    }
  });
  on("mod-skip", "click", function () {
    send({ type: "mod.skip" });
  });
  on("mod-pause", "click", function () {
    send({ type: "mod.pause" });
  });
  on("mod-resume", "click", function () {
    send({ type: "mod.resume" });
  });
  on("dj-toggle", "click", function (event) {
    send({ type: event.currentTarget.dataset.seated ? "dj.leave" : "dj.join" });
  });
  on("chat-form", "submit", function (event) {
    event.preventDefault();
    var input = document.getElementById("chat-input");
    var text = input.value.trim();
    if (!text) return;
    if (send({ type: "chat.send", text: text.slice(0, 300) })) input.value = "";
  });

  // Add-track search: debounced, latest answer wins.
  var searchTimer = null;
  var searchSerial = 0;
  on("add-form", "submit", function (event) {
    event.preventDefault();
  });
  on("add-input", "input", function (event) {
    var query = event.target.value.trim();
    clearTimeout(searchTimer);
    if (query.length < 2) {
      R.replaceChildren(document.getElementById("add-results"), []);
      return;
    }
    searchTimer = setTimeout(function () {
      var serial = ++searchSerial;
      var url = box.dataset.searchUrl + "?q=" + encodeURIComponent(query) + "&room=" + encodeURIComponent(box.dataset.slug);
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) throw new Error("search failed");
          return response.json();
        })
        .then(function (data) {
          if (serial !== searchSerial) return;
          R.renderSearchResults(data.results || [], function (track) {
            if (send({ type: "queue.add", track_id: track.id })) {
              toast("Added “" + track.title + "”.");
              document.getElementById("add-input").value = "";
              R.replaceChildren(document.getElementById("add-results"), []);
            }
          });
        })
        .catch(function () {
          toast("Search is not available right now.", true);
        });
    }, 250);
  });

  /* ---- clocks on screen ------------------------------------------------------------------ */

  function serverNow() {
    return clockSync.clock.ready() ? clockSync.clock.serverNow() : Date.now();
  }
  // The premiere's countdown is premiere.js's; the progress bar is drawn here.
  setInterval(function () {
    R.renderProgress(state, serverNow());
  }, 500);

  /* ---- start ----------------------------------------------------------------------------- */

  connection = new T.AutoTransport(transportOptions(), {
    open: function () {
      offline = false;
      player.transport = connection.name;
      clockSync.start();
      showSync(player.state());
    },
    frame: onFrame,
    down: function () {
      // Any drop (4008 "too slow", 1006, a restart): the transport reconnects with backoff and
      // the new connection's first frame is a snapshot, which replaces the state and `lastSeq`.
      offline = true;
      clockSync.stop();
      showSync(player.state());
    },
    final: function (message) {
      offline = true;
      clockSync.stop();
      player.stop();
      toast(message, true);
    },
  });
  R.renderAll(state, actions);
  playNowPlaying();
  connection.connect();
  // Join playing if the browser allows sound without a click; otherwise Listen says what to do.
  player.listen();

  window.roomtone = {
    sync: function () {
      // Everything the player reports (engine included), with the transport actually in use
      // right now and whether the room holds its track.
      return Object.assign({}, player.state(), { transport: connection.name, paused: roomPaused() });
    },
    state: function () {
      return state;
    },
    connected: function () {
      return connection.isOpen();
    },
    send: send,
  };
})();
