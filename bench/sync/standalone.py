"""A tiny page that proves the capture pipeline without the app: one <audio>, one WAV with marks.

Every page is told the same wall-clock start (`?start=<epoch ms>`) and plays the track at
`now - start`, seeking on join and nudging the rate after, like the room page does, and exposes
the same `window.roomtone.sync()`. `&offset=<ms>` plays a page deliberately that far ahead, so the
bench can be checked against a known answer. Served with HTTP Range: without it seeks never land.
"""

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>sync bench</title></head>
<body>
<audio id="a" preload="auto" src="/track.wav"></audio>
<p id="s">loading</p>
<script>
(function () {
  var q = new URLSearchParams(location.search);
  var start = Number(q.get("start"));
  var offset = Number(q.get("offset") || 0) / 1000;
  var audio = document.getElementById("a");
  var lastDrift = null, settleUntil = 0;
  function now() { return performance.timeOrigin + performance.now(); }
  function expected() { return (now() - start) / 1000; }
  function target() { return expected() + offset; }
  function seek(t) {
    audio.currentTime = Math.max(0, t);
    audio.playbackRate = 1;
    settleUntil = now() + 600;
  }
  function tick() {
    var e = target();
    if (e < 0) { setTimeout(tick, Math.min(250, -e * 1000)); return; }
    if (audio.paused) { seek(e); audio.play(); }
    else if (!audio.seeking && audio.readyState >= 2 && now() >= settleUntil) {
      var d = audio.currentTime - e;
      lastDrift = d;
      if (Math.abs(d) > 0.25) seek(target());
      else if (Math.abs(d) <= 0.01) audio.playbackRate = 1;
      else audio.playbackRate = 1 - Math.max(-0.05, Math.min(0.05, d * 0.5));
    }
    setTimeout(tick, 250);
  }
  audio.addEventListener("canplay", function once() {
    audio.removeEventListener("canplay", once);
    tick();
  });
  window.roomtone = {
    sync: function () {
      return {
        offset_ms: 0, rtt_ms: 0,
        expected_s: Math.round(expected() * 1000) / 1000,
        actual_s: Math.round(audio.currentTime * 1000) / 1000,
        drift_ms: lastDrift === null ? null : Math.round(lastDrift * 10000) / 10,
        playing: !audio.paused && audio.readyState > 2,
        transport: "none",
      };
    },
  };
})();
</script>
</body></html>
"""


class Standalone:
    """Serves the page and the track on 127.0.0.1, on a port the OS picks."""

    def __init__(self, wav: bytes):
        wav_bytes = wav

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802 (http.server's name)
                if self.path.startswith("/track.wav"):
                    self._send(wav_bytes, "audio/wav")
                elif self.path.startswith("/?") or self.path == "/":
                    self._send(PAGE.encode(), "text/html; charset=utf-8", ranges=False)
                else:
                    self.send_error(404)

            def _send(self, body, ctype, ranges=True):
                m = (
                    re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
                    if ranges
                    else None
                )
                if m and (m[1] or m[2]):
                    first = int(m[1]) if m[1] else max(0, len(body) - int(m[2]))
                    last = int(m[2]) if m[1] and m[2] else len(body) - 1
                    last = min(last, len(body) - 1)
                    if first > last:
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {first}-{last}/{len(body)}")
                    body = body[first : last + 1]
                else:
                    self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                if ranges:
                    self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def url(self, *, start_ms: int, offset_ms: float = 0) -> str:
        return f"http://127.0.0.1:{self.port}/?start={start_ms}&offset={offset_ms:g}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
