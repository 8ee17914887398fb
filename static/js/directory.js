/* The directory's "Nearby venues": the browser's position, rounded to two decimals (about a
 * kilometre), sent once in a POST body (kept out of URLs and access logs) and never stored. */
(function () {
  "use strict";

  var section = document.querySelector("[data-nearby-url]");
  var button = document.getElementById("nearby-btn");
  var list = document.getElementById("nearby-list");
  var note = document.getElementById("nearby-note");
  if (!section || !button || !list) return;

  function item(room) {
    var li = document.createElement("li");
    var link = document.createElement("a");
    link.href = room.url;
    link.textContent = room.name;
    var where = document.createElement("span");
    where.className = "muted small";
    // The venue's name isolated (FSI … PDI): a right-to-left override in it cannot flip the rest.
    where.textContent = (room.venue_name ? " · \u2068" + room.venue_name + "\u2069" : "") + " · " + room.listeners + " listening";
    var left = document.createElement("span");
    left.appendChild(link);
    left.appendChild(where);
    var dist = document.createElement("span");
    dist.className = "dist";
    dist.textContent = room.distance_km < 1 ? "< 1 km" : room.distance_km + " km";
    li.appendChild(left);
    li.appendChild(dist);
    return li;
  }

  function say(text) {
    note.textContent = text;
  }

  button.addEventListener("click", function () {
    if (!navigator.geolocation) {
      say("Your browser cannot share a location.");
      return;
    }
    button.disabled = true;
    say("Finding venues near you…");
    navigator.geolocation.getCurrentPosition(
      function (position) {
        var body = new URLSearchParams();
        body.set("lat", position.coords.latitude.toFixed(2));
        body.set("lng", position.coords.longitude.toFixed(2));
        var token = section.querySelector("input[name=csrfmiddlewaretoken]");
        fetch(section.dataset.nearbyUrl, {
          method: "POST",
          body: body,
          credentials: "same-origin",
          headers: { "X-CSRFToken": token ? token.value : "", Accept: "application/json" },
        })
          .then(function (response) {
            return response.json();
          })
          .then(function (data) {
            while (list.firstChild) list.removeChild(list.firstChild);
            (data.rooms || []).forEach(function (room) {
              list.appendChild(item(room));
            });
            say(data.rooms && data.rooms.length ? "Venue rooms by distance. Your position was not stored." : "No venue rooms within 100 km.");
          })
          .catch(function () {
            say("Could not look up nearby rooms.");
          })
          .finally(function () {
            button.disabled = false;
          });
      },
      function () {
        button.disabled = false;
        say("Location not shared. Nothing was sent.");
      },
      { enableHighAccuracy: false, maximumAge: 600000, timeout: 10000 }
    );
  });
})();
