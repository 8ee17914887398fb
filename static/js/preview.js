/* Room previews in a side panel: fetched as an HTML fragment, parsed inertly, and copied node by
 * node (elements from an allow-list, text as text) so nothing in it can run. */
(function () {
  "use strict";

  var panel = document.getElementById("preview-panel");
  if (!panel) return;
  var body = panel.querySelector(".preview-body");
  var lastTrigger = null;
  var ALLOWED = { DIV: 1, H2: 1, H3: 1, P: 1, SPAN: 1, OL: 1, UL: 1, LI: 1, A: 1 };
  var ATTRS = { class: 1, style: 1, href: 1 };

  function copySafe(source) {
    if (source.nodeType === Node.TEXT_NODE) return document.createTextNode(source.textContent);
    if (source.nodeType !== Node.ELEMENT_NODE || !ALLOWED[source.tagName]) return null;
    var node = document.createElement(source.tagName.toLowerCase());
    Array.prototype.forEach.call(source.attributes, function (attr) {
      if (!ATTRS[attr.name]) return;
      if (attr.name === "href" && !/^\/(?!\/)/.test(attr.value)) return; // same-site paths only
      if (attr.name === "style" && !/^width: [0-9.]+%$/.test(attr.value)) return;
      node.setAttribute(attr.name, attr.value);
    });
    Array.prototype.forEach.call(source.childNodes, function (child) {
      var copy = copySafe(child);
      if (copy) node.appendChild(copy);
    });
    return node;
  }

  function close() {
    panel.hidden = true;
    while (body.firstChild) body.removeChild(body.firstChild);
    if (lastTrigger) lastTrigger.focus();
  }

  function open(url, trigger) {
    lastTrigger = trigger;
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (html) {
        var parsed = new DOMParser().parseFromString(html, "text/html");
        while (body.firstChild) body.removeChild(body.firstChild);
        Array.prototype.forEach.call(parsed.body.childNodes, function (child) {
          var copy = copySafe(child);
          if (copy) body.appendChild(copy);
        });
        panel.hidden = false;
        panel.querySelector(".preview-close").focus();
      })
      .catch(function () {
        while (body.firstChild) body.removeChild(body.firstChild);
        var p = document.createElement("p");
        p.textContent = "This room cannot be previewed right now.";
        body.appendChild(p);
        panel.hidden = false;
      });
  }

  document.addEventListener("click", function (event) {
    var trigger = event.target.closest ? event.target.closest("[data-preview]") : null;
    if (trigger) {
      event.preventDefault();
      open(trigger.dataset.preview, trigger);
    }
  });
  panel.querySelector(".preview-close").addEventListener("click", close);
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !panel.hidden) close();
  });
})();
