/* Roomtone transports: one interface over a WebSocket or over server-sent events plus POSTs.
 *
 * Every transport has `name`, `connect()`, `send(frame) -> bool`, `isOpen()`, `close()` and
 * calls `handlers.open()`, `handlers.frame(frame)`, `handlers.down()`, `handlers.final(text)`.
 * `AutoTransport` tries the WebSocket and falls back to SSE when the socket cannot connect or
 * keeps dying (docs/client.md, "Transports"). Frames are the same on both (docs/protocol.md).
 */
(function (root) {
  "use strict";

  var FINAL_CLOSE_CODES = {
    4401: "This room is private: open it with its invite link.",
    4403: "You cannot join this room.",
    4404: "This room is gone.",
    4429: "Too many listeners from your network: sign in to listen here.",
  };
  var FINAL_ERRORS = { invite_required: 4401, banned: 4403, not_found: 4404, too_many_connections: 4429 };
  // The server dropped a socket that fell behind the room: reconnect and resync from the new
  // socket's snapshot. Not a sign of a broken network, so it never pushes the page to SSE.
  var CLOSE_TOO_SLOW = 4008;

  // Exponential backoff with full jitter, so a restarted server is not hit by every fan at once.
  function backoff(attempt) {
    var ceiling = Math.min(15000, 500 * Math.pow(2, attempt));
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  function parseObject(text) {
    try {
      var value = JSON.parse(text);
      return value && typeof value === "object" ? value : null;
    } catch (e) {
      return null;
    }
  }

  function parse(text) {
    var frame = parseObject(text);
    return frame && typeof frame.type === "string" ? frame : null;
  }

  /* ---- WebSocket ------------------------------------------------------------------------- */

  function WebSocketTransport(path, handlers) {
    this.path = path;
    this.handlers = handlers;
    this.name = "websocket";
    this.attempt = 0;
    this.socket = null;
    this.closed = false;
    this._retry = null;
  }

  WebSocketTransport.prototype.url = function () {
    var scheme = root.location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + root.location.host + this.path;
  };

  WebSocketTransport.prototype.connect = function () {
    var self = this;
    var socket;
    if (this.closed) return;
    try {
      socket = new root.WebSocket(this.url());
    } catch (e) {
      this.handlers.down({ opened: false });
      this._scheduleReconnect();
      return;
    }
    this.socket = socket;
    var opened = false;
    socket.onopen = function () {
      opened = true;
      self.attempt = 0;
      self.handlers.open();
    };
    socket.onmessage = function (event) {
      var frame = parse(event.data);
      if (frame) self.handlers.frame(frame);
    };
    socket.onclose = function (event) {
      if (self.socket === socket) self.socket = null;
      if (self.closed) return;
      if (FINAL_CLOSE_CODES[event.code]) {
        self.closed = true;
        self.handlers.final(FINAL_CLOSE_CODES[event.code]);
        return;
      }
      // A dropped reader waits at least one backoff step, so a room's worth of them spreads out.
      if (event.code === CLOSE_TOO_SLOW) self.attempt = Math.max(self.attempt, 1);
      self.handlers.down({ opened: opened, code: event.code });
      self._scheduleReconnect();
    };
  };

  // Both transports reconnect the same way: exponential backoff with jitter, one timer at a time.
  function scheduleReconnect() {
    var self = this;
    if (this.closed) return;
    var delay = backoff(this.attempt);
    this.attempt += 1;
    clearTimeout(this._retry);
    this._retry = setTimeout(function () {
      self.connect();
    }, delay);
  }

  WebSocketTransport.prototype._scheduleReconnect = scheduleReconnect;

  WebSocketTransport.prototype.send = function (frame) {
    if (!this.isOpen()) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  };

  WebSocketTransport.prototype.isOpen = function () {
    return !!this.socket && this.socket.readyState === 1;
  };

  WebSocketTransport.prototype.close = function () {
    this.closed = true;
    clearTimeout(this._retry);
    if (this.socket) {
      var socket = this.socket;
      this.socket = null;
      socket.onopen = socket.onmessage = socket.onclose = null;
      try {
        socket.close();
      } catch (e) {
        /* already closing */
      }
    }
  };

  /* ---- server-sent events + POST --------------------------------------------------------- */

  function SseTransport(urls, handlers) {
    this.eventsUrl = urls.events;
    this.actionsUrl = urls.actions;
    this.handlers = handlers;
    this.name = "sse";
    this.attempt = 0;
    this.source = null;
    this.stream = ""; // names this page's listening session to the actions endpoint
    this.csrf = urls.csrf || "";
    this.closed = false;
    this._retry = null;
    this._open = false;
  }

  SseTransport.prototype.connect = function () {
    var self = this;
    if (this.closed) return;
    var source;
    try {
      source = new root.EventSource(this.eventsUrl);
    } catch (e) {
      this.handlers.down({ opened: false });
      this._scheduleReconnect();
      return;
    }
    this.source = source;
    // Open means a frame arrived, not just headers: some proxies answer and then hold the body.
    source.addEventListener("stream", function (event) {
      var info = parseObject(event.data);
      if (!info) return;
      self.stream = info.stream || "";
      if (info.csrf) self.csrf = info.csrf;
    });
    source.onmessage = function (event) {
      var frame = parse(event.data);
      if (!frame) return;
      if (!self._open) {
        self._open = true;
        self.attempt = 0;
        self.handlers.open();
      }
      self.handlers.frame(frame);
    };
    source.addEventListener("close", function (event) {
      var info = parseObject(event.data) || {};
      self._drop(source);
      self.closed = true;
      self.handlers.final(FINAL_CLOSE_CODES[info.code] || "The room closed the connection.");
    });
    source.onerror = function () {
      // EventSource retries by itself without backoff; this transport does its own instead.
      var opened = self._open;
      self._drop(source);
      if (self.closed) return;
      if (source.readyState === 2 && !opened) {
        // Refused before a single frame (a 403/404 answer): ask the actions endpoint why.
        self._probe();
        return;
      }
      // A dropped reader waits at least one backoff step, so a room's worth of them spreads out.
      if (event.code === CLOSE_TOO_SLOW) self.attempt = Math.max(self.attempt, 1);
      self.handlers.down({ opened: opened, code: event.code });
      self._scheduleReconnect();
    };
  };

  SseTransport.prototype._drop = function (source) {
    source.onmessage = source.onerror = null;
    source.close();
    if (this.source === source) this.source = null;
    this._open = false;
    this.stream = "";
  };

  SseTransport.prototype._probe = function () {
    var self = this;
    this._post({ type: "time.ping", t0: 0 })
      .then(function (frames) {
        var refusal = (frames || []).filter(function (f) {
          return f.type === "error" && FINAL_ERRORS[f.code];
        })[0];
        if (refusal) {
          self.closed = true;
          self.handlers.final(FINAL_CLOSE_CODES[FINAL_ERRORS[refusal.code]]);
          return;
        }
        self.handlers.down({ opened: false });
        self._scheduleReconnect();
      })
      .catch(function () {
        self.handlers.down({ opened: false });
        self._scheduleReconnect();
      });
  };

  SseTransport.prototype._scheduleReconnect = scheduleReconnect;

  SseTransport.prototype._post = function (frame) {
    var headers = { "Content-Type": "application/json", Accept: "application/json" };
    if (this.csrf) headers["X-CSRFToken"] = this.csrf;
    if (this.stream) headers["X-Roomtone-Stream"] = this.stream;
    return root
      .fetch(this.actionsUrl, {
        method: "POST",
        headers: headers,
        body: JSON.stringify(frame),
        credentials: "same-origin",
        cache: "no-store",
      })
      .then(function (response) {
        return response
          .json()
          .catch(function () {
            return {};
          })
          .then(function (data) {
            if (data && Array.isArray(data.frames)) return data.frames;
            throw new Error("HTTP " + response.status);
          });
      });
  };

  SseTransport.prototype.send = function (frame) {
    var self = this;
    if (!this.isOpen()) return false;
    this._post(frame)
      .then(function (frames) {
        frames.forEach(function (reply) {
          if (reply && typeof reply.type === "string") self.handlers.frame(reply);
        });
      })
      .catch(function () {
        // Pings and audio reports are retried by their senders; actions tell the fan.
        if (frame.type === "time.ping" || frame.type === "audio.state") return;
        self.handlers.frame({
          type: "error",
          code: "network",
          message: "Could not reach the room; try again.",
          request_type: frame.type,
          ref: frame.ref === undefined ? null : frame.ref,
        });
      });
    return true;
  };

  SseTransport.prototype.isOpen = function () {
    return this._open && !!this.source;
  };

  SseTransport.prototype.close = function () {
    this.closed = true;
    clearTimeout(this._retry);
    if (this.source) this._drop(this.source);
  };

  /* ---- WebSocket first, SSE when the socket does not work -------------------------------- */

  var REMEMBER_KEY = "roomtone.transport";
  var REMEMBER_MS = 30 * 60 * 1000;

  /**
   * options: {wsPath, events, actions, force: "websocket"|"sse"|"", openTimeoutMs,
   *           maxFailedOpens, maxFailedReopens, maxShortLives, shortLifeMs}
   *
   * Before a socket has ever opened on this page: fall back after `maxFailedOpens` failed
   * attempts or `openTimeoutMs` without an open (a proxy holding the upgrade). After one has
   * opened, a server restart must not push the page off sockets, so it takes `maxShortLives`
   * sockets in a row that die within `shortLifeMs`, or `maxFailedReopens` failed reconnects.
   */
  function AutoTransport(options, handlers) {
    this.opts = Object.assign(
      {
        openTimeoutMs: 4000,
        maxFailedOpens: 2,
        maxFailedReopens: 5,
        maxShortLives: 3,
        shortLifeMs: 30000,
      },
      options
    );
    this.handlers = handlers;
    this.current = null;
    this.name = "websocket";
    this.fellBack = false;
    this._everOpened = false;
    this._failedOpens = 0;
    this._shortLives = 0;
    this._openedAt = 0;
    this._openTimer = null;
  }

  AutoTransport.prototype._remembered = function () {
    try {
      var saved = JSON.parse(root.sessionStorage.getItem(REMEMBER_KEY) || "null");
      return !!saved && saved.name === "sse" && Date.now() - saved.at < REMEMBER_MS;
    } catch (e) {
      return false;
    }
  };

  AutoTransport.prototype._remember = function () {
    try {
      root.sessionStorage.setItem(REMEMBER_KEY, JSON.stringify({ name: "sse", at: Date.now() }));
    } catch (e) {
      /* storage may be disabled; the next page just tries the socket again */
    }
  };

  AutoTransport.prototype.connect = function () {
    var force = this.opts.force;
    var noSocket = typeof root.WebSocket !== "function";
    if (force === "sse" || (force !== "websocket" && (noSocket || this._remembered()))) {
      this._useSse();
    } else {
      this._useWebSocket();
    }
  };

  AutoTransport.prototype._useWebSocket = function () {
    var self = this;
    var mayFallBack = this.opts.force !== "websocket";
    this.name = "websocket";
    this.current = new WebSocketTransport(this.opts.wsPath, {
      open: function () {
        clearTimeout(self._openTimer);
        self._everOpened = true;
        self._failedOpens = 0;
        self._openedAt = Date.now();
        self.handlers.open();
      },
      frame: this.handlers.frame,
      down: function (info) {
        if (info && info.code === CLOSE_TOO_SLOW) {
          // Closed by the server for reading too slowly (1006 when even the close could not be
          // read, counted as a network failure below): reconnect and resync, no fallback.
          self.handlers.down();
          return;
        }
        if (info && info.opened) {
          var shortLived = Date.now() - self._openedAt < self.opts.shortLifeMs;
          self._shortLives = shortLived ? self._shortLives + 1 : 0;
        } else {
          self._failedOpens += 1;
        }
        self.handlers.down();
        var limit = self._everOpened ? self.opts.maxFailedReopens : self.opts.maxFailedOpens;
        if (mayFallBack && (self._failedOpens >= limit || self._shortLives >= self.opts.maxShortLives)) {
          self._fallBack();
        }
      },
      final: this.handlers.final,
    });
    if (mayFallBack) {
      this._openTimer = setTimeout(function () {
        if (!self._everOpened) self._fallBack();
      }, this.opts.openTimeoutMs);
    }
    this.current.connect();
  };

  AutoTransport.prototype._fallBack = function () {
    clearTimeout(this._openTimer);
    if (this.current) this.current.close();
    this.fellBack = true;
    // Only a network where sockets never worked is remembered for the next pages.
    if (!this._everOpened) this._remember();
    this._useSse();
  };

  AutoTransport.prototype._useSse = function () {
    this.name = "sse";
    this.current = new SseTransport({ events: this.opts.events, actions: this.opts.actions }, this.handlers);
    this.current.connect();
  };

  AutoTransport.prototype.send = function (frame) {
    return !!this.current && this.current.send(frame);
  };

  AutoTransport.prototype.isOpen = function () {
    return !!this.current && this.current.isOpen();
  };

  AutoTransport.prototype.close = function () {
    clearTimeout(this._openTimer);
    if (this.current) this.current.close();
  };

  var api = {
    AutoTransport: AutoTransport,
    SseTransport: SseTransport,
    WebSocketTransport: WebSocketTransport,
    FINAL_CLOSE_CODES: FINAL_CLOSE_CODES,
    CLOSE_TOO_SLOW: CLOSE_TOO_SLOW,
    backoff: backoff,
  };
  root.RoomtoneTransport = api;
  if (typeof module !== "undefined" && module.exports) module.exports = api;
})(typeof window !== "undefined" ? window : globalThis);
