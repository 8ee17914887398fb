// Roomtone analytics charts: small SVG line charts drawn from the JSON beside each figure.
// No library and no network: the page carries its own data.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var H = 220, PAD = { l: 52, r: 16, t: 14, b: 30 };

  function el(name, attrs, parent) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(node);
    return node;
  }

  // A round tick step (1, 2 or 5 × 10^k) giving at most five intervals: whole-number stats
  // get whole-number ticks.
  function niceStep(v) {
    if (v <= 0) return 1;
    var raw = v / 4, p = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= raw) return steps[i] * p;
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

  function draw(figure, index) {
    var data = JSON.parse(figure.querySelector("script[type='application/json']").textContent);
    var box = figure.querySelector(".an-canvas");
    box.textContent = "";
    var gran = figure.dataset.granularity || "day";
    var pts = data.points;
    // Drawn at the box's own width, so text and strokes are never stretched.
    var W = Math.max(320, Math.round(box.clientWidth || 640));
    var top = Math.max.apply(null, pts.map(function (p) { return p[1]; }).concat([0]));
    var step = niceStep(top), ticks = Math.max(1, Math.ceil(top / step)), max = step * ticks;
    var iw = W - PAD.l - PAD.r, ih = H - PAD.t - PAD.b;
    var n = Math.max(pts.length - 1, 1);
    function x(i) { return PAD.l + (pts.length === 1 ? iw / 2 : (i / n) * iw); }
    function y(v) { return PAD.t + ih - (v / max) * ih; }

    var svg = el("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, class: "an-svg" });
    var gid = "an-fill-" + index;
    var grad = el("linearGradient", { id: gid, x1: 0, x2: 0, y1: 0, y2: 1 }, el("defs", {}, svg));
    el("stop", { offset: "0%", class: "an-stop", "stop-opacity": 0.35 }, grad);
    el("stop", { offset: "100%", class: "an-stop", "stop-opacity": 0.02 }, grad);
    for (var t = 0; t <= ticks; t++) {
      var v = step * t;
      el("line", { x1: PAD.l, x2: W - PAD.r, y1: y(v), y2: y(v), class: t ? "an-grid" : "an-axis" }, svg);
      el("text", { x: PAD.l - 8, y: y(v) + 4, class: "an-tick", "text-anchor": "end" }, svg).textContent = fmt(v);
    }
    var every = Math.max(1, Math.ceil(pts.length / Math.max(2, Math.floor(iw / 90))));
    pts.forEach(function (p, i) {
      if (i % every === 0) {
        el("text", { x: x(i), y: H - 8, class: "an-tick", "text-anchor": "middle" }, svg).textContent = label(p[0], gran);
      }
    });
    if (pts.length) {
      var line = pts.map(function (p, i) { return (i ? "L" : "M") + x(i).toFixed(1) + " " + y(p[1]).toFixed(1); }).join(" ");
      el("path", { d: line + " L" + x(pts.length - 1).toFixed(1) + " " + y(0) + " L" + x(0).toFixed(1) + " " + y(0) + " Z", class: "an-area", fill: "url(#" + gid + ")" }, svg);
      el("path", { d: line, class: "an-line" }, svg);
      if (pts.length <= 40) {
        pts.forEach(function (p, i) { el("circle", { cx: x(i), cy: y(p[1]), r: 2.5, class: "an-point" }, svg); });
      }
    }
    var dot = el("circle", { r: 5, class: "an-dot", visibility: "hidden" }, svg);
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

  function drawAll() { document.querySelectorAll(".an-chart").forEach(draw); }

  function init() {
    drawAll();
    var pending;
    window.addEventListener("resize", function () {
      clearTimeout(pending);
      pending = setTimeout(drawAll, 150);
    });
    document.querySelectorAll(".an-job[data-poll]").forEach(poll);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
