/* Haven: small progressive enhancements. Every page works without this file. */
(function () {
  "use strict";

  // GOV.UK pattern: after a failed submit, move focus to the error summary so it is read out.
  function focusErrorSummary() {
    var summary = document.querySelector("[data-focus-on-load]");
    if (summary) { summary.focus(); }
  }

  // Pupil picker: filter the list as you type, asking the server so the whole roll is searched.
  function pupilPicker() {
    var search = document.getElementById("pupil-search");
    var select = document.getElementById("pupil_id");
    var count = document.getElementById("pupil-count");
    if (!search || !select || !window.fetch) { return; }
    Array.prototype.forEach.call(document.querySelectorAll("[data-without-js]"), function (el) {
      el.parentNode.removeChild(el);
    });

    var timer = null;
    var controller = null;
    var lastQuery = search.value.trim();

    function label(p) {
      var where = [p.year_group, p.form].filter(Boolean).join(", ");
      return where ? p.name + " \u2014 " + where : p.name;
    }

    function show(pupils) {
      var chosen = select.selectedIndex >= 0 ? select.options[select.selectedIndex] : null;
      var keep = chosen ? { value: chosen.value, text: chosen.text } : null;
      while (select.options.length) { select.remove(0); }
      var seen = false;
      pupils.forEach(function (p) {
        var option = new Option(label(p), String(p.id));
        if (keep && keep.value === String(p.id)) { option.selected = true; seen = true; }
        select.add(option);
      });
      if (keep && !seen) {  // never silently drop the child already chosen
        var kept = new Option(keep.text, keep.value, true, true);
        select.add(kept, 0);
      }
      var n = pupils.length;
      count.textContent = n ? n + (n === 1 ? " pupil" : " pupils") + " listed." : "No pupils match that search.";
    }

    function query() {
      var q = search.value.trim();
      if (q === lastQuery) { return; }
      lastQuery = q;
      if (controller) { controller.abort(); }
      controller = window.AbortController ? new AbortController() : null;
      var url = select.getAttribute("data-search-url") + "?limit=100&q=" + encodeURIComponent(q);
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" },
                   signal: controller ? controller.signal : undefined })
        .then(function (r) {
          if (!r.ok) { throw new Error(r.status === 401 ? "signed-out" : "failed"); }
          return r.json();
        })
        .then(show)
        .catch(function (err) {
          if (err.name === "AbortError") { return; }
          count.textContent = err.message === "signed-out"
            ? "Your session has ended. Copy your account somewhere safe, then sign in again."
            : "The pupil search did not answer. Choose from the list, or try again.";
        });
    }

    search.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(query, 200);
    });
    search.addEventListener("keydown", function (e) {
      if (e.key === "Enter") {  // searching must never submit the incident
        e.preventDefault();
        window.clearTimeout(timer);
        query();
        if (select.options.length === 1) { select.selectedIndex = 0; }
      } else if (e.key === "ArrowDown" && select.options.length) {
        e.preventDefault();
        select.focus();
        if (select.selectedIndex < 0) { select.selectedIndex = 0; }
      }
    });
  }

  // A category's default recipients are always alerted by the server; tick them here so the
  // form shows what will happen, and say why.
  function alertSuggestions() {
    var form = document.getElementById("incident-form");
    var note = document.getElementById("dsl-suggestion");
    if (!form || !note) { return; }
    var boxes = form.querySelectorAll("input[name=category_ids]");
    var names = { dsl: "the DSL team", slt: "SLT" };

    function groupsFor(box) {
      var groups = (box.getAttribute("data-alert-groups") || "").split(" ").filter(Boolean);
      if (box.getAttribute("data-sensitivity") === "safeguarding" && groups.indexOf("dsl") < 0) {
        groups.push("dsl");
      }
      return groups;
    }

    function update() {
      var because = {};
      Array.prototype.forEach.call(boxes, function (box) {
        if (!box.checked) { return; }
        var label = form.querySelector("label[for='" + box.id + "']");
        groupsFor(box).forEach(function (g) {
          (because[g] = because[g] || []).push(label ? label.textContent.trim() : "this category");
        });
      });
      var lines = [];
      Object.keys(because).forEach(function (g) {
        var target = document.getElementById("alert-" + g);
        if (target) { target.checked = true; }
        lines.push((names[g] || g).replace(/^./, function (c) { return c.toUpperCase(); }) +
                   " will be alerted because you chose " + because[g].join(" and ") + ".");
      });
      note.textContent = lines.join(" ");
      note.hidden = lines.length === 0;
    }

    Array.prototype.forEach.call(boxes, function (box) { box.addEventListener("change", update); });
    update();
  }

  // The session ends after a spell of inactivity; someone still typing a long account must not
  // lose it to that. Only recent typing keeps the session alive, so an abandoned screen still times out.
  function keepAliveWhileWriting() {
    var form = document.getElementById("incident-form");
    if (!form || !window.fetch) { return; }
    var lastInput = 0;
    form.addEventListener("input", function () { lastInput = Date.now(); });
    window.setInterval(function () {
      if (Date.now() - lastInput < 10 * 60 * 1000) {
        fetch("/api/v1/session", { credentials: "same-origin", headers: { Accept: "application/json" } })
          .catch(function () {});
      }
    }, 4 * 60 * 1000);
  }

  function ready(fn) {
    if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", fn); } else { fn(); }
  }

  ready(function () {
    focusErrorSummary();
    pupilPicker();
    alertSuggestions();
    keepAliveWhileWriting();
  });
})();
