/* Roomtone room page rendering: builds every node with textContent, never HTML from data. */
(function (root) {
  "use strict";

  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === null || value === undefined || value === false) return;
        if (key === "text") node.textContent = value;
        else if (key === "className") node.className = value;
        else if (key === "dataset") Object.assign(node.dataset, value);
        else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
        else node.setAttribute(key, value === true ? "" : String(value));
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
    }
    return node;
  }

  function $(id) {
    return document.getElementById(id);
  }

  function setText(id, value) {
    var node = $(id);
    if (node) node.textContent = value === null || value === undefined ? "" : String(value);
  }

  function replaceChildren(node, children) {
    if (!node) return;
    while (node.firstChild) node.removeChild(node.firstChild);
    children.forEach(function (child) {
      node.appendChild(child);
    });
  }

  function mmss(ms) {
    var seconds = Math.max(0, Math.floor((ms || 0) / 1000));
    var rest = seconds % 60;
    return Math.floor(seconds / 60) + ":" + (rest < 10 ? "0" : "") + rest;
  }

  // First-strong isolate … pop directional isolate: a right-to-left override in a name cannot
  // flip the words around it in plain-text places (dialogs, the tab title).
  function isolate(text) {
    return "\u2068" + (text === null || text === undefined ? "" : String(text)) + "\u2069";
  }

  // "label <bdi>user text</bdi>": the name isolated from the words around it in the DOM.
  function labelled(className, label, name) {
    return el("span", { className: className }, label, el("bdi", { text: name }));
  }

  function can(state, permission) {
    return !!(state.you && state.you.permissions && state.you.permissions.indexOf(permission) !== -1);
  }

  function isMod(state) {
    return can(state, "moderate");
  }

  function trackText(track) {
    return el(
      "div",
      { className: "track-text" },
      el("span", { className: "t-title", text: track.title }),
      el("span", { className: "t-artist", text: track.artist_names })
    );
  }

  function voteButtons(item, actions, state) {
    if (!can(state, "vote")) return null;
    var mine = item.my_vote || 0;
    return el(
      "span",
      { className: "vote-btns" },
      el("button", {
        type: "button",
        className: "vote-btn up",
        "aria-label": "Vote up " + item.track.title,
        "aria-pressed": mine === 1 ? "true" : "false",
        text: "▲",
        onclick: function () {
          actions.vote(item.entry_id, mine === 1 ? 0 : 1);
        },
      }),
      el("span", { className: "t-score", text: String(item.score !== undefined ? item.score : item.up - item.down) }),
      el("button", {
        type: "button",
        className: "vote-btn down",
        "aria-label": "Vote down " + item.track.title,
        "aria-pressed": mine === -1 ? "true" : "false",
        text: "▼",
        onclick: function () {
          actions.vote(item.entry_id, mine === -1 ? 0 : -1);
        },
      })
    );
  }

  function renderQueue(state, actions) {
    var items = state.queue || [];
    setText("queue-count", items.length);
    var rows = items.map(function (item) {
      var score = item.score !== undefined ? item.score : (item.up || 0) - (item.down || 0);
      return el(
        "li",
        { className: "track-row", dataset: { entry: item.entry_id } },
        trackText(item.track),
        item.added_by ? labelled("t-by", "by ", item.added_by) : null,
        el("span", { className: "t-len", text: mmss(item.track.duration_ms) }),
        voteButtons(item, actions, state) || el("span", { className: "t-score", text: String(score) }),
        isMod(state)
          ? el("button", {
              type: "button",
              className: "mod-btn",
              "aria-label": "Remove " + item.track.title + " from the queue",
              text: "Remove",
              onclick: function () {
                actions.send({ type: "mod.remove", entry_id: item.entry_id });
              },
            })
          : null
      );
    });
    if (!rows.length) rows = [el("li", { className: "empty-row", text: "The queue is empty." })];
    replaceChildren($("queue-list"), rows);
  }

  function renderHistory(state) {
    var rows = (state.history || []).slice(0, 12).map(function (item) {
      return el(
        "li",
        { className: "track-row", dataset: { entry: item.entry_id } },
        trackText(item.track),
        el("span", { className: "t-votes", text: "▲ " + (item.up || 0) + " ▼ " + (item.down || 0) })
      );
    });
    if (!rows.length) rows = [el("li", { className: "empty-row", text: "Nothing played yet." })];
    replaceChildren($("history-list"), rows);
  }

  function renderNowPlaying(state) {
    var np = state.now_playing;
    setText("np-title", np ? np.track.title : "Nothing playing");
    setText("np-artist", np ? np.track.artist_names : "Add a track to get the room going.");
    var added = $("np-added");
    if (added) replaceChildren(added, np && np.added_by ? [document.createTextNode("added by "), el("bdi", { text: np.added_by })] : []);
    setText("np-up-n", np ? np.up || 0 : 0);
    setText("np-down-n", np ? np.down || 0 : 0);
    setText("skip-n", np ? (np.skip_votes || 0) + "/" + (np.skip_needed || 0) : "0/0");
    setText("np-duration", np ? mmss(np.track.duration_ms) : "0:00");
    var paused = !!(np && np.paused);
    var eq = document.querySelector(".np-art .eq");
    if (eq) eq.classList.toggle("is-on", !!np && !paused);
    if ($("np-paused")) $("np-paused").hidden = !paused;
    var mod = isMod(state);
    if ($("mod-pause")) $("mod-pause").hidden = !mod || !np || paused;
    if ($("mod-resume")) $("mod-resume").hidden = !mod || !paused;
    [["np-up", "vote"], ["np-down", "vote"], ["skip-btn", "skip_vote"], ["grab-btn", "favourite"]].forEach(function (pair) {
      var button = $(pair[0]);
      if (button) button.disabled = !np || !can(state, pair[1]);
    });
    var myVote = np ? np.my_vote || 0 : 0;
    if ($("np-up")) $("np-up").setAttribute("aria-pressed", myVote === 1 ? "true" : "false");
    if ($("np-down")) $("np-down").setAttribute("aria-pressed", myVote === -1 ? "true" : "false");
  }

  function renderProgress(state, serverNow) {
    var np = state.now_playing;
    var bar = $("np-progress");
    if (!bar) return;
    // The next track is announced a few seconds before it starts (the last one plays out).
    setText("np-h", np && !np.paused && serverNow < np.started_at ? "Next track" : "Now playing");
    if (!np || !np.track.duration_ms) {
      bar.style.setProperty("--p", "0");
      setText("np-elapsed", "0:00");
      return;
    }
    // A paused track holds where it was paused, whatever the clock says.
    var at = np.paused && typeof np.paused_at === "number" ? np.paused_at : serverNow;
    var elapsed = Math.min(np.track.duration_ms, Math.max(0, at - np.started_at));
    bar.style.setProperty("--p", ((100 * elapsed) / np.track.duration_ms).toFixed(2));
    setText("np-elapsed", at < np.started_at ? "starts in " + mmss(np.started_at - at + 999) : mmss(elapsed));
  }

  function chatRow(message, state, actions) {
    var mod = isMod(state) && message.user !== (state.you && state.you.username);
    return el(
      "li",
      { className: isMod(state) ? "chat-msg has-mod" : "chat-msg", dataset: { id: message.id } },
      el("span", { className: "chat-user", text: message.user, title: message.user }),
      el("span", { className: "chat-text", text: message.text }),
      isMod(state) ? chatModControls(message, mod, actions) : null
    );
  }

  function chatModControls(message, mod, actions) {
    return el(
      "span",
      { className: "chat-mod", role: "group", "aria-label": "Moderate the message from " + message.user },
      el("button", {
        type: "button",
        className: "mod-btn",
        "aria-label": "Delete message",
        title: "Delete message",
        text: "✕",
        onclick: function () {
          actions.send({ type: "mod.delete_message", message_id: message.id });
        },
      }),
      mod
        ? el("button", {
            type: "button",
            className: "mod-btn",
            title: "Mute for 10 minutes",
            text: "mute",
            onclick: function () {
              actions.send({ type: "mod.mute", username: message.user, minutes: 10 });
            },
          })
        : null,
      mod
        ? el("button", {
            type: "button",
            className: "mod-btn",
            title: "Ban from the room",
            text: "ban",
            onclick: function () {
              if (root.confirm("Ban " + isolate(message.user) + " from this room?")) {
                actions.send({ type: "mod.ban", username: message.user });
              }
            },
          })
        : null
    );
  }

  function renderChat(state, actions) {
    var list = $("chat-list");
    if (!list) return;
    // The first render opens at the latest messages; later ones follow only a reader at the bottom.
    var stick = !list.dataset.rendered || list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.dataset.rendered = "1";
    var rows = (state.chat || []).map(function (message) {
      return chatRow(message, state, actions);
    });
    if (!rows.length) rows = [el("li", { className: "empty-row", text: "Say hello." })];
    replaceChildren(list, rows);
    if (stick) list.scrollTop = list.scrollHeight;
  }

  function renderListeners(state) {
    var listeners = state.listeners || { count: 0, users: [] };
    setText("listener-count", listeners.count);
    replaceChildren(
      $("listener-list"),
      (listeners.users || []).slice(0, 30).map(function (name) {
        return el("li", { className: "person", text: name });
      })
    );
  }

  function renderDjs(state) {
    var list = $("dj-list");
    if (!list) return;
    var djs = state.djs || [];
    var rows = djs.map(function (dj) {
      return el("li", { className: "person", text: dj.username });
    });
    if (!rows.length) rows = [el("li", { className: "empty-row", text: "No DJs yet." })];
    replaceChildren(list, rows);
    var me = state.you && state.you.username;
    var seated = djs.some(function (dj) {
      return dj.username === me;
    });
    var toggle = $("dj-toggle");
    if (toggle) {
      toggle.textContent = seated ? "Leave the waitlist" : "Join the waitlist";
      toggle.dataset.seated = seated ? "1" : "";
    }
  }

  var HEX = /^#[0-9a-fA-F]{6}$/;

  function renderRoom(state) {
    var room = state.room || {};
    setText("room-name", room.name);
    setText("room-desc", room.description);
    setText("pinned-text", room.pinned_message);
    if ($("pinned")) $("pinned").hidden = !room.pinned_message;
    var box = $("room");
    var theme = room.theme || {};
    if (box) {
      if (HEX.test(theme.primary || "")) box.style.setProperty("--room-primary", theme.primary);
      if (HEX.test(theme.accent || "")) box.style.setProperty("--room-accent", theme.accent);
    }
    if (room.name) document.title = isolate(room.name) + " · Roomtone";
  }

  function renderPermissions(state) {
    var you = state.you || {};
    var chatInput = $("chat-input");
    if (chatInput) {
      var mayChat = can(state, "chat") && !you.muted;
      chatInput.disabled = !mayChat;
      chatInput.placeholder = you.muted ? "You are muted" : "Say something…";
      var send = document.querySelector("#chat-form button");
      if (send) send.disabled = !mayChat;
    }
    if ($("add-panel")) $("add-panel").hidden = !can(state, "add");
    if ($("mod-skip")) $("mod-skip").hidden = !can(state, "skip");
    if ($("dj-toggle")) $("dj-toggle").hidden = !can(state, "dj");
  }

  function renderAll(state, actions) {
    renderRoom(state);
    renderNowPlaying(state);
    renderQueue(state, actions);
    renderHistory(state);
    renderChat(state, actions);
    renderListeners(state);
    renderDjs(state);
    renderPermissions(state);
  }

  function renderSearchResults(results, onAdd) {
    var rows = results.map(function (track) {
      return el(
        "li",
        null,
        trackText(track),
        el("span", { className: "t-len", text: mmss(track.duration_ms) }),
        el("button", {
          type: "button",
          className: "btn btn-sm btn-primary",
          text: "Add",
          "aria-label": "Add " + track.title,
          onclick: function () {
            onAdd(track);
          },
        })
      );
    });
    if (!rows.length) rows = [el("li", { className: "empty-row", text: "No playable tracks match." })];
    replaceChildren($("add-results"), rows);
  }

  root.RoomtoneRender = {
    el: el,
    isolate: isolate,
    mmss: mmss,
    can: can,
    renderAll: renderAll,
    renderRoom: renderRoom,
    renderNowPlaying: renderNowPlaying,
    renderProgress: renderProgress,
    renderQueue: renderQueue,
    renderHistory: renderHistory,
    renderChat: renderChat,
    renderListeners: renderListeners,
    renderDjs: renderDjs,
    renderPermissions: renderPermissions,
    renderSearchResults: renderSearchResults,
    replaceChildren: replaceChildren,
  };
})(window);
