"use strict";
// leakhound report page: sortable tables, flame graph zoom and search.
// Hand-written, no library: the page must work offline from one file.
(function () {
  // Tables: a click on a header sorts by that column; cells with data-v sort
  // by that number, others by their text.
  function cellKey(td) {
    if (!td) return "";
    var v = td.getAttribute("data-v");
    if (v !== null && v !== "" && !isNaN(Number(v))) return Number(v);
    return td.textContent;
  }
  function sortTable(table, col, th) {
    var desc = !th.classList.contains("desc");
    table.querySelectorAll("th").forEach(function (h) { h.classList.remove("asc", "desc"); });
    th.classList.add(desc ? "desc" : "asc");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellKey(a.cells[col]), y = cellKey(b.cells[col]);
      var c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
      return desc ? -c : c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("thead th").forEach(function (th, col) {
      th.addEventListener("click", function () { sortTable(table, col, th); });
    });
  });

  // Charts: the hovered point's series, time and value under the chart.
  var units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  function human(v, unit) {  // report/units.cpp human_bytes, group_thousands
    if (unit !== "bytes") return Number.isInteger(v) ? v.toLocaleString("en-US") : v.toPrecision(3);
    var a = Math.abs(v), u = 0;
    while (u + 1 < units.length && Math.round(a * 10) / 10 >= 1024) { a /= 1024; u++; }
    return (v < 0 ? "-" : "") + (u === 0 ? a.toFixed(0) : a.toFixed(1)) + " " + units[u];
  }
  document.querySelectorAll("figure.chart").forEach(function (fig) {
    var out = fig.querySelector(".readout");
    fig.addEventListener("mouseover", function (e) {
      var c = e.target;
      if (!out || c.tagName !== "circle") return;
      var g = c.parentNode;
      out.textContent = g.getAttribute("data-name") + ": " +
        human(Number(c.getAttribute("data-v")), fig.getAttribute("data-unit")) + " at " +
        Number(c.getAttribute("data-t")).toFixed(1) + " s";
    });
  });

  // Live pages (the daemon's) reload themselves; zooming or searching pauses
  // that, so the view the user made stays.
  var live = document.querySelector("input.live");
  var every = Number(document.body.getAttribute("data-refresh")) || 0;
  function pause() { if (live) live.checked = false; }
  if (every > 0) {
    setInterval(function () {
      if (!live || live.checked) location.reload();
    }, every * 1000);
  }

  // Flame graphs: every frame carries its span [data-x, data-x + data-w) as a
  // share of the root; zooming maps a frame's span to the full width.
  function zoom(section, x0, w0, d0) {
    section.querySelectorAll(".fr").forEach(function (f) {
      var x = Number(f.getAttribute("data-x")), w = Number(f.getAttribute("data-w"));
      var d = Number(f.getAttribute("data-d"));
      var inside = x + w > x0 + 1e-9 && x < x0 + w0 - 1e-9;
      if (!inside) { f.classList.add("off"); return; }
      f.classList.remove("off");
      var left = Math.max(0, (x - x0) / w0), right = Math.min(1, (x + w - x0) / w0);
      f.style.left = (left * 100) + "%";
      f.style.width = ((right - left) * 100) + "%";
      f.classList.toggle("above", d < d0);
    });
  }
  function search(section, text) {
    var total = Number(section.getAttribute("data-total")) || 0;
    var matched = 0, covered = -1;
    var q = text.trim().toLowerCase();
    section.querySelectorAll(".fr").forEach(function (f) {
      var hit = q !== "" && f.getAttribute("data-name").toLowerCase().indexOf(q) >= 0;
      f.classList.toggle("hit", hit);
      if (!hit) return;
      // A match inside another match is already counted.
      var x = Number(f.getAttribute("data-x"));
      if (x >= covered) {
        matched += Number(f.getAttribute("data-v"));
        covered = x + Number(f.getAttribute("data-w"));
      }
    });
    var out = section.querySelector(".match");
    if (out) out.textContent = q === "" ? "" : "matched " + (total > 0 ? (100 * matched / total).toFixed(1) : "0") + "%";
  }
  document.querySelectorAll("section.flame").forEach(function (section) {
    section.querySelectorAll(".fr").forEach(function (f) {
      f.addEventListener("click", function () {
        pause();
        zoom(section, Number(f.getAttribute("data-x")), Number(f.getAttribute("data-w")) || 1,
             Number(f.getAttribute("data-d")));
      });
    });
    var reset = section.querySelector("button.reset");
    if (reset) reset.addEventListener("click", function () { zoom(section, 0, 1, 0); });
    var box = section.querySelector("input[type=search]");
    if (box) box.addEventListener("input", function () { pause(); search(section, box.value); });
  });
})();
