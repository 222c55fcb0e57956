// The review server's keyboard: the queue (j/k, Enter) and the letter page's decisions (j/k, a, p, m, e, Enter, Esc, q).
// Decisions are htmx forms; this script only moves the selection and submits them. No inline script, no eval.
(function () {
  "use strict";

  function rows() { return Array.from(document.querySelectorAll("form.decide, tr.entry")); }
  function current() { return document.querySelector(".selected-row"); }

  function select(row) {
    if (!row) { return; }
    rows().forEach(function (r) { r.classList.remove("selected-row"); });
    row.classList.add("selected-row");
    if (row.matches("form.decide")) { row.focus({ preventScroll: true }); }
    row.scrollIntoView({ block: "nearest" });
    document.querySelectorAll("mark.hl.selected").forEach(function (m) { m.classList.remove("selected"); });
    var item = row.dataset.item;
    if (item !== undefined && item !== "") {
      var marks = document.querySelectorAll('mark.hl[data-item="' + item + '"]');
      marks.forEach(function (m) { m.classList.add("selected"); });
      if (marks.length) { marks[0].scrollIntoView({ block: "nearest" }); }
    }
  }

  function move(step) {
    var all = rows();
    if (!all.length) { return; }
    var at = all.indexOf(current());
    select(all[Math.max(0, Math.min(all.length - 1, at < 0 ? 0 : at + step))]);
  }

  function decide(form, action) {
    if (action !== "correct" && !form.querySelector('button[data-action="' + action + '"]')) { return; }
    form.querySelector('input[name="action"]').value = action;
    form.requestSubmit();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-action]");
    if (button) { decide(button.closest("form.decide"), button.dataset.action); return; }
    var row = event.target.closest("form.decide, tr.entry");
    if (row) { select(row); }
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var target = event.target;
    if (target.matches("form.decide input[name=value]")) {
      if (event.key === "Enter") { event.preventDefault(); decide(target.form, "correct"); }
      else if (event.key === "Escape") { target.form.focus(); }
      return;
    }
    if (target.matches("input, select, textarea")) { return; }
    var row = current();
    switch (event.key) {
      case "j": case "ArrowDown": move(1); break;
      case "k": case "ArrowUp": move(-1); break;
      case "q": window.location.href = "/"; break;
      case "Enter": case "o":
        if (row && row.dataset.href) { window.location.href = row.dataset.href; }
        else { return; }
        break;
      case "a": if (row && row.matches("form.decide")) { decide(row, "accept"); } break;
      case "p": if (row && row.matches("form.decide")) { decide(row, "parser"); } break;
      case "m": if (row && row.matches("form.decide")) { decide(row, "model"); } break;
      case "e":
        if (row && row.matches("form.decide")) { var input = row.querySelector("input[name=value]"); input.focus(); input.select(); }
        break;
      default: return;
    }
    event.preventDefault();
  });

  // A refused decision (409 someone else decided first, 422 the value is invalid) still replaces the row:
  // it carries the reason and the current value.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status === 409 || status === 422) { event.detail.shouldSwap = true; event.detail.isError = false; }
  });

  // After a decision, go on to the next undecided value (from the top after the last); after a refusal, stay.
  document.addEventListener("htmx:afterSettle", function (event) {
    var row = event.detail.elt && event.detail.elt.id ? document.getElementById(event.detail.elt.id) : null;
    if (!row || !row.matches("form.decide")) { return; }
    if (row.classList.contains("problem")) { select(row); return; }
    var all = rows();
    var at = all.indexOf(row);
    var undecided = function (r) { return !r.classList.contains("decided"); };
    select(all.slice(at + 1).find(undecided) || all.slice(0, at).find(undecided) || row);
  });

  function start() {
    var wanted = window.location.hash ? document.getElementById(window.location.hash.slice(1)) : null;
    select(wanted || rows().find(function (r) { return !r.classList.contains("decided") && !r.classList.contains("resolved"); }) || rows()[0]);
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
