// Review site behaviour: letter-page highlights and the index filters. Values are shown with
// textContent only: extracted values come from letters and are never parsed as markup.
(function () {
  "use strict";

  function letterPage() {
    var data = document.getElementById("field-values");
    var panel = document.getElementById("field-panel");
    if (!data || !panel) return;
    var values = JSON.parse(data.textContent);

    function show(mark) {
      var path = mark.getAttribute("data-field");
      var info = values[path] || {};
      panel.replaceChildren();
      var title = document.createElement("div");
      title.className = "path";
      title.textContent = path + (info.source ? "  (" + info.source + ")" : "");
      var value = document.createElement("div");
      value.className = "value";
      value.textContent = info.value === undefined ? "" : info.value;
      panel.append(title, value);
      document.querySelectorAll("mark.hl.selected").forEach(function (m) { m.classList.remove("selected"); });
      document.querySelectorAll("mark.hl").forEach(function (m) {
        if (m.getAttribute("data-field") === path) m.classList.add("selected");
      });
      document.querySelectorAll("tr.active").forEach(function (r) { r.classList.remove("active"); });
      var item = mark.getAttribute("data-item");
      var row = item === null
        ? document.querySelector('table.fields tr[data-field="' + path.split("[")[0] + '"]')
        : document.querySelector('#items tr[data-item="' + item + '"]');
      if (row) row.classList.add("active");
      return row;
    }

    function target(event) {
      return event.target instanceof Element ? event.target.closest("mark.hl") : null;
    }
    document.addEventListener("mouseover", function (e) { var m = target(e); if (m) show(m); });
    document.addEventListener("focusin", function (e) { var m = target(e); if (m) show(m); });
    document.addEventListener("click", function (e) {
      var m = target(e);
      if (m) {
        var row = show(m);
        if (row) row.scrollIntoView({ block: "nearest" });
        return;
      }
      var tr = e.target instanceof Element ? e.target.closest("#items tr[data-item]") : null;
      if (tr) {
        var first = document.querySelector('mark.hl[data-item="' + tr.getAttribute("data-item") + '"]');
        if (first) { show(first); first.scrollIntoView({ block: "center" }); }
      }
    });
  }

  // A link to "letter.html#items[2].request" (the report's item lists) opens with that field marked and in view;
  // a field with no mark (a record without spans) brings its item's row into view instead.
  function openLinkedField() {
    var wanted = decodeURIComponent(location.hash.slice(1));
    if (!wanted) return;
    var marks = document.querySelectorAll("mark.hl");
    for (var i = 0; i < marks.length; i++) {
      if (marks[i].getAttribute("data-field") === wanted) {
        marks[i].dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
        marks[i].scrollIntoView({ block: "center" });
        return;
      }
    }
    var item = /^items\[(\d+)\]/.exec(wanted);
    var row = item && document.querySelector('#items tr[data-item="' + item[1] + '"]');
    if (row) { row.classList.add("active"); row.scrollIntoView({ block: "center" }); }
  }

  function indexPage() {
    var form = document.getElementById("filters");
    var table = document.getElementById("letters");
    if (!form || !table) return;
    function apply() {
      var flagged = form.elements.flagged.checked;
      var decision = form.elements.decision.value;
      var category = form.elements.category.value;
      var layout = form.elements.layout.value;
      var rows = table.tBodies[0].rows, shown = 0;
      for (var i = 0; i < rows.length; i++) {
        var r = rows[i];
        var ok = (!flagged || r.dataset.flagged === "yes")
          && (!decision || r.dataset.decisions.split(" ").indexOf(decision) >= 0)
          && (!category || r.dataset.categories.split(" ").indexOf(category) >= 0)
          && (!layout || r.dataset.layout === layout);
        r.hidden = !ok;
        if (ok) shown++;
      }
      document.getElementById("shown").textContent = shown + " of " + rows.length + " shown";
    }
    form.addEventListener("change", apply);
    apply();
  }

  letterPage();
  openLinkedField();
  indexPage();
})();
