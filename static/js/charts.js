// Roomtone analytics charts: small SVG line charts drawn from the JSON beside each figure.
// No library and no network: the page carries its own data.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var W = 640, H = 220, PAD = { l: 56, r: 12, t: 12, b: 28 };

  function el(name, attrs, parent) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(node);
    return node;
  }

  function niceMax(v) {
    if (v <= 0) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= v) return steps[i] * p;
    return 10 * p;
  }

  function fmt(v) {
    if (v >= 1e6) return (v / 1e6).toFixed(1).replace(/\.0$/, "") + "M";
    if (v >= 1e4) return (v / 1e3).toFixed(0) + "k";
    if (v >= 1e3) return (v / 1e3).toFixed(1).replace(/\.0$/, "") + "k";
    return Math.round(v * 10) / 10 + "";
  }

  function label(iso, granularity) {
    var d = new Date(iso);
    var m = d.toLocaleString("en", { month: "short", timeZone: "UTC" });
    if (granularity === "hour") return m + " " + d.getUTCDate() + " " + String(d.getUTCHours()).padStart(2, "0") + ":00";
    return m + " " + d.getUTCDate();
  }

  function draw(figure) {
    var data = JSON.parse(figure.querySelector("script[type='application/json']").textContent);
    var box = figure.querySelector(".an-canvas");
    var gran = figure.dataset.granularity || "day";
    var pts = data.points;
    var max = niceMax(Math.max.apply(null, pts.map(function (p) { return p[1]; }).concat([0])));
    var iw = W - PAD.l - PAD.r, ih = H - PAD.t - PAD.b;
    var n = Math.max(pts.length - 1, 1);
    function x(i) { return PAD.l + (pts.length === 1 ? iw / 2 : (i / n) * iw); }
    function y(v) { return PAD.t + ih - (v / max) * ih; }

    var svg = el("svg", { viewBox: "0 0 " + W + " " + H, class: "an-svg", preserveAspectRatio: "none" });
    for (var t = 0; t <= 4; t++) {
      var v = (max * t) / 4;
      el("line", { x1: PAD.l, x2: W - PAD.r, y1: y(v), y2: y(v), class: "an-grid" }, svg);
      el("text", { x: PAD.l - 6, y: y(v) + 4, class: "an-tick", "text-anchor": "end" }, svg).textContent = fmt(v);
    }
    var every = Math.max(1, Math.ceil(pts.length / 6));
    pts.forEach(function (p, i) {
      if (i % every === 0) {
        el("text", { x: x(i), y: H - 8, class: "an-tick", "text-anchor": "middle" }, svg).textContent = label(p[0], gran);
      }
    });
    if (pts.length) {
      var line = pts.map(function (p, i) { return (i ? "L" : "M") + x(i).toFixed(1) + " " + y(p[1]).toFixed(1); }).join(" ");
      el("path", { d: line + " L" + x(pts.length - 1) + " " + y(0) + " L" + x(0) + " " + y(0) + " Z", class: "an-area" }, svg);
      el("path", { d: line, class: "an-line" }, svg);
    }
    var dot = el("circle", { r: 4, class: "an-dot", visibility: "hidden" }, svg);
    var tip = document.createElement("div");
    tip.className = "an-tip";
    tip.hidden = true;
    box.appendChild(svg);
    box.appendChild(tip);
    svg.addEventListener("mousemove", function (ev) {
      var r = svg.getBoundingClientRect();
      var px = ((ev.clientX - r.left) / r.width) * W;
      var i = Math.round(((px - PAD.l) / iw) * n);
      i = Math.min(pts.length - 1, Math.max(0, i));
      if (!pts.length) return;
      dot.setAttribute("cx", x(i)); dot.setAttribute("cy", y(pts[i][1]));
      dot.setAttribute("visibility", "visible");
      tip.hidden = false;
      tip.textContent = label(pts[i][0], gran) + ": " + pts[i][1].toLocaleString("en");
      tip.style.left = (x(i) / W) * 100 + "%";
    });
    svg.addEventListener("mouseleave", function () { tip.hidden = true; dot.setAttribute("visibility", "hidden"); });
    figure.classList.add("an-drawn");
  }

  function poll(job) {
    var bar = job.querySelector("progress"), status = job.querySelector(".an-job-status");
    var link = job.querySelector(".an-job-link");
    function tick() {
      fetch(job.dataset.poll, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (s) {
        bar.max = Math.max(s.rows_total, 1); bar.value = s.rows_done;
        status.textContent = s.status + ": " + s.rows_done + " of " + s.rows_total + " rows" + (s.error ? " — " + s.error : "");
        if (s.status === "done") { link.hidden = false; return; }
        if (s.status !== "failed") setTimeout(tick, 1500);
      }).catch(function () { setTimeout(tick, 5000); });
    }
    tick();
  }

  function init() {
    document.querySelectorAll(".an-chart").forEach(draw);
    document.querySelectorAll(".an-job[data-poll]").forEach(poll);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
