/* Haven: small progressive enhancements. Every page works without this file: each button here
   also works by sending the form to the server, which answers with the same change made. */
(function () {
  "use strict";

  var each = function (list, fn) { Array.prototype.forEach.call(list, fn); };
  var byId = function (id) { return document.getElementById(id); };

  // GOV.UK pattern: after a failed submit, move focus to the error summary so it is read out.
  function focusErrorSummary() {
    var summary = document.querySelector("[data-focus-on-load]");
    if (summary) { summary.focus(); }
  }

  function removeNoJsButtons() {
    each(document.querySelectorAll("[data-without-js]"), function (el) { el.parentNode.removeChild(el); });
  }

  function csrfToken(form) {
    var field = form && form.querySelector("input[name=csrf_token]");
    return field ? field.value : "";
  }

  // --- pupil pickers: filter the list as you type, asking the server so the whole roll is searched ---
  // The list is radio buttons whose labels wrap (year and form first), not a <select size>: at 320 px
  // or 200 % zoom a select cuts off what tells two children of the same name apart.
  function pupilLabel(p) {
    var where = [p.year_group, p.form].filter(Boolean).join(" \u00b7 ");
    var text = where ? where + " \u2014 " + p.name : p.name;
    if (p.legal_name && p.legal_name !== p.name) { text += " (legal name " + p.legal_name + ")"; }
    return text;
  }

  // The chosen radio of a picker ({value, text, input}), or null.
  function chosenPupil(list) {
    var input = list && list.querySelector("input[type=radio]:checked");
    if (!input) { return null; }
    var label = list.querySelector("label[for='" + input.id + "']");
    return { value: input.value, text: label ? label.textContent : "", input: input };
  }

  function pupilChoice(list, id, text, checked) {
    var row = document.createElement("div");
    row.className = "radio pupil-choice";
    var input = document.createElement("input");
    input.className = "radio__input";
    input.type = "radio";
    input.name = list.getAttribute("data-name");
    input.id = list.id + "-" + id;
    input.value = id;
    input.checked = !!checked;
    var label = document.createElement("label");
    label.className = "radio__label";
    label.htmlFor = input.id;
    label.textContent = text;
    row.appendChild(input);
    row.appendChild(label);
    list.appendChild(row);
    return input;
  }

  function picker(search) {
    var list = byId(search.getAttribute("data-picker"));
    var count = byId(search.getAttribute("data-picker-count"));
    if (!list || !window.fetch) { return; }
    var timer = null;
    var controller = null;
    var lastQuery = search.value.trim();

    function say(text) { if (count) { count.textContent = text; } }
    function radios() { return list.querySelectorAll("input[type=radio]"); }

    function show(pupils) {
      var keep = chosenPupil(list);
      list.textContent = "";
      var seen = false;
      pupils.forEach(function (p) {
        var checked = keep && keep.value === String(p.id);
        seen = seen || checked;
        pupilChoice(list, String(p.id), pupilLabel(p), checked);
      });
      if (keep && !seen) {  // never silently drop the child already chosen
        var input = pupilChoice(list, keep.value, keep.text, true);
        list.insertBefore(input.parentNode, list.firstChild);
      }
      var n = pupils.length;
      say(n ? n + (n === 1 ? " pupil" : " pupils") + " listed." : "No pupils match that search.");
    }

    function query() {
      var q = search.value.trim();
      if (q === lastQuery) { return; }
      lastQuery = q;
      if (controller) { controller.abort(); }
      controller = window.AbortController ? new AbortController() : null;
      var url = list.getAttribute("data-search-url") + "?limit=100&q=" + encodeURIComponent(q);
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" },
                   signal: controller ? controller.signal : undefined })
        .then(function (r) {
          if (!r.ok) { throw new Error(r.status === 401 ? "signed-out" : "failed"); }
          return r.json();
        })
        .then(show)
        .catch(function (err) {
          if (err.name === "AbortError") { return; }
          say(err.message === "signed-out"
            ? "Your session has ended. Press Save: what you have written is kept, and comes back after you sign in again."
            : "The pupil search did not answer. Choose from the list, or try again.");
        });
    }

    search.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(query, 200);
    });
    search.addEventListener("keydown", function (e) {
      var all = radios();
      if (e.key === "Enter") {  // searching must never submit the form
        e.preventDefault();
        window.clearTimeout(timer);
        query();
        if (all.length === 1) { all[0].checked = true; }
      } else if (e.key === "ArrowDown" && all.length) {
        e.preventDefault();  // into the list: the arrow keys then move between the children listed
        var chosen = chosenPupil(list);
        (chosen ? chosen.input : all[0]).focus();
      }
    });
  }

  // A category's default recipients are always alerted by the server; tick them here so the
  // form shows what will happen, and say why.
  function alertSuggestions() {
    var form = byId("incident-form");
    var note = byId("dsl-suggestion");
    if (!form || !note) { return; }
    var boxes = form.querySelectorAll("input[name=category_ids]");
    var count = byId("category-count");
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
      var chosen = 0;
      each(boxes, function (box) {
        if (!box.checked) { return; }
        chosen += 1;
        var label = form.querySelector("label[for='" + box.id + "']");
        groupsFor(box).forEach(function (g) {
          (because[g] = because[g] || []).push(label ? label.textContent.trim() : "this category");
        });
      });
      var lines = [];
      Object.keys(because).forEach(function (g) {
        var target = byId("alert-" + g);
        if (target) { target.checked = true; }
        lines.push((names[g] || g).replace(/^./, function (c) { return c.toUpperCase(); }) +
                   " will be alerted because you chose " + because[g].join(" and ") + ".");
      });
      note.textContent = lines.join(" ");
      note.hidden = lines.length === 0;
      if (count) {
        count.textContent = chosen > 3 ? "You have chosen " + chosen + ". Choose at most 3."
          : chosen ? chosen + " of up to 3 chosen." : "";
        count.classList.toggle("hint--problem", chosen > 3);
      }
    }

    each(boxes, function (box) { box.addEventListener("change", update); });
    update();
  }

  // "Who did you tell?" only matters once "Yes" is chosen.
  function conditionalReveals() {
    each(document.querySelectorAll("[data-reveal-when]"), function (block) {
      var radio = byId(block.getAttribute("data-reveal-when"));
      if (!radio) { return; }
      var group = document.querySelectorAll("input[name='" + radio.name + "']");
      function update() {
        block.hidden = !radio.checked;  // no aria-expanded: a radio may not carry it (aria-controls says what it shows)
      }
      each(group, function (r) { r.addEventListener("change", update); });
      update();
    });
  }

  // Rows copied from a <template>: "__N__" in ids and names becomes the row's number.
  function fromTemplate(id, n) {
    var template = byId(id);
    var holder = document.createElement("div");
    holder.innerHTML = template.innerHTML.replace(/__N__/g, String(n)).trim();
    return holder.firstElementChild;
  }

  function nextIndex(container, selector) {
    var highest = -1;
    each(container.querySelectorAll(selector), function (row) {
      var n = parseInt(row.id.replace(/^\D+/, ""), 10);
      if (n > highest) { highest = n; }
    });
    return highest + 1;
  }

  // --- linked pupils -------------------------------------------------------------------------
  function linkedPupils(onChange) {
    var list = byId("linked-list");
    var status = byId("linked-status");
    if (!list || !byId("linked-row-template")) { return; }
    var mainList = byId("pupil_id");

    function linkedIds() {
      var ids = [];
      each(list.querySelectorAll("[data-linked-row]"), function (row) { ids.push(row.getAttribute("data-pupil-id")); });
      return ids;
    }

    function addRow(id, label, role) {
      var row = fromTemplate("linked-row-template", nextIndex(list, "[data-linked-row]"));
      row.setAttribute("data-pupil-id", id);
      row.querySelector("[data-field=pupil_id]").value = id;
      row.querySelector("[data-field=label]").value = label;
      each(row.querySelectorAll("[data-label-text]"), function (el) { el.textContent = label; });
      if (role) { row.querySelector("[data-field=role]").value = role; }
      list.appendChild(row);
      return row;
    }

    function say(text) { status.textContent = text; }

    list.addEventListener("click", function (e) {
      var button = e.target.closest("[data-remove-link]");
      if (!button) { return; }
      e.preventDefault();
      var row = button.closest("[data-linked-row]");
      var name = row.querySelector("[data-field=label]").value;
      row.parentNode.removeChild(row);
      say(name + " is no longer linked.");
      byId("linked-search").focus();
      onChange();
    });

    byId("link-pupil").addEventListener("click", function (e) {
      e.preventDefault();
      var pick = byId("linked_pick");
      var chosen = chosenPupil(pick);
      if (!chosen) { say("Choose the pupil to link from the list first."); byId("linked-search").focus(); return; }
      var main = chosenPupil(mainList);
      if (main && chosen.value === main.value) { say("That is the pupil the record is about; choose another pupil to link."); return; }
      if (linkedIds().indexOf(chosen.value) >= 0) { say("That pupil is already linked."); return; }
      var row = addRow(chosen.value, chosen.text, "");
      chosen.input.checked = false;
      say(chosen.text + " linked. Choose their role.");
      row.querySelector("[data-field=role]").focus();
      onChange();
    });

    var siblings = byId("add-siblings");
    siblings.addEventListener("click", function (e) {
      if (!window.fetch) { return; }
      e.preventDefault();
      var main = chosenPupil(mainList);
      if (!main) { say("Choose the pupil first; then their siblings can be added."); byId("pupil-search").focus(); return; }
      var url = siblings.getAttribute("data-siblings-url").replace("{id}", encodeURIComponent(main.value));
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) { throw new Error("failed"); } return r.json(); })
        .then(function (found) {
          var have = linkedIds();
          var added = 0;
          found.forEach(function (s) {
            if (have.indexOf(String(s.id)) >= 0 || s.on_roll === false || String(s.id) === main.value) { return; }
            addRow(String(s.id), pupilLabel(s), "sibling");
            added += 1;
          });
          say(!found.length ? "No siblings are recorded for this pupil."
            : added ? "Added " + added + (added === 1 ? " sibling" : " siblings") + " as linked pupils."
            : "Their siblings are already linked.");
          if (added) { onChange(); }
        })
        .catch(function () { say("The siblings could not be found just now. Link them one by one below."); });
    });
  }

  // --- the body map --------------------------------------------------------------------------
  function bodyMap() {
    var svg = byId("body-map-svg");
    var marks = byId("marks");
    var error = byId("body-map-error");
    var status = byId("marks-status");
    var regionSelect = byId("mark_region");
    if (!marks || !byId("mark-template")) { return; }
    var dots = byId("body-map-dots");
    var SVG_NS = "http://www.w3.org/2000/svg";

    function regions(side) {
      var found = [];
      each(regionSelect.options, function (o) {
        if (o.value && o.getAttribute("data-side") === side) {
          found.push({ x: parseFloat(o.getAttribute("data-x")), y: parseFloat(o.getAttribute("data-y")),
                       name: o.getAttribute("data-name") });
        }
      });
      return found;
    }

    function describe(side, x, y) {
      var best = null;
      var bestDistance = Infinity;
      regions(side).forEach(function (r) {
        var d = Math.pow(r.x - x, 2) + Math.pow((r.y - y) * 2, 2);
        if (d < bestDistance) { best = r; bestDistance = d; }
      });
      var name = side.charAt(0).toUpperCase() + side.slice(1);
      return best ? name + ", near the " + best.name : name;
    }

    function showError(text) {
      error.textContent = text;
      error.hidden = !text;
    }

    function renumber() {
      var rows = marks.querySelectorAll("[data-mark-row]");
      each(rows, function (row, i) {
        each(row.querySelectorAll("[data-mark-number]"), function (el) { el.textContent = String(i + 1); });
        var dot = dots && dots.querySelector("[data-dot='" + row.getAttribute("data-index") + "']");
        if (dot) { dot.querySelector("text").textContent = String(i + 1); }
      });
      status.textContent = rows.length ? "" : "No marks added.";
    }

    function drawDot(index, side, x, y) {
      if (!svg || !dots) { return; }
      var group = svg.querySelector(".body-map__side[data-side='" + side + "']");
      var cx = parseFloat(group.getAttribute("data-left")) + x * parseFloat(svg.getAttribute("data-box-width"));
      var cy = parseFloat(group.getAttribute("data-top")) + y * parseFloat(svg.getAttribute("data-box-height"));
      var g = document.createElementNS(SVG_NS, "g");
      g.setAttribute("class", "body-map__dot");
      g.setAttribute("data-dot", String(index));
      var circle = document.createElementNS(SVG_NS, "circle");
      circle.setAttribute("cx", cx.toFixed(1));
      circle.setAttribute("cy", cy.toFixed(1));
      circle.setAttribute("r", "9");
      var text = document.createElementNS(SVG_NS, "text");
      text.setAttribute("x", cx.toFixed(1));
      text.setAttribute("y", (cy + 4).toFixed(1));
      text.setAttribute("text-anchor", "middle");
      g.appendChild(circle);
      g.appendChild(text);
      dots.appendChild(g);
    }

    function addMark(side, x, y) {
      var index = nextIndex(marks, "[data-mark-row]");
      var row = fromTemplate("mark-template", index);
      row.setAttribute("data-index", String(index));
      row.querySelector("[data-field=side]").value = side;
      row.querySelector("[data-field=x]").value = x.toFixed(4);
      row.querySelector("[data-field=y]").value = y.toFixed(4);
      var where = describe(side, x, y);
      row.querySelector("[data-mark-where]").textContent = where;
      marks.appendChild(row);
      drawDot(index, side, x, y);
      renumber();
      showError("");
      status.textContent = "Mark " + marks.querySelectorAll("[data-mark-row]").length + " added: " + where +
        ". Describe it below.";
      row.querySelector("[data-field=mark_type]").focus();
    }

    function inside(polygon, px, py) {
      var points = polygon.points;
      var isInside = false;
      for (var i = 0, j = points.numberOfItems - 1; i < points.numberOfItems; j = i++) {
        var a = points.getItem(i);
        var b = points.getItem(j);
        if ((a.y > py) !== (b.y > py) && px < (b.x - a.x) * (py - a.y) / (b.y - a.y) + a.x) { isInside = !isInside; }
      }
      return isInside;
    }

    if (svg) {
      svg.addEventListener("click", function (e) {
        var point = svg.createSVGPoint();
        point.x = e.clientX;
        point.y = e.clientY;
        var p = point.matrixTransform(svg.getScreenCTM().inverse());
        var boxWidth = parseFloat(svg.getAttribute("data-box-width"));
        var boxHeight = parseFloat(svg.getAttribute("data-box-height"));
        var placed = false;
        each(svg.querySelectorAll(".body-map__side"), function (group) {
          if (placed) { return; }
          var x = (p.x - parseFloat(group.getAttribute("data-left"))) / boxWidth;
          var y = (p.y - parseFloat(group.getAttribute("data-top"))) / boxHeight;
          if (x < 0 || x > 1 || y < 0 || y > 1) { return; }
          if (inside(group.querySelector("polygon"), p.x, p.y)) {
            placed = true;
            addMark(group.getAttribute("data-side"), x, y);
          }
        });
        if (!placed) {
          showError("That place is outside the body outline. Click or tap on the body itself to place a mark.");
        }
      });
    }

    byId("add-mark").addEventListener("click", function (e) {
      e.preventDefault();
      var option = regionSelect.options[regionSelect.selectedIndex];
      if (!option || !option.value) {
        showError("Choose where the mark is, then press Add mark.");
        regionSelect.focus();
        return;
      }
      addMark(option.getAttribute("data-side"), parseFloat(option.getAttribute("data-x")),
              parseFloat(option.getAttribute("data-y")));
    });

    marks.addEventListener("click", function (e) {
      var button = e.target.closest("[data-remove-mark]");
      if (!button) { return; }
      e.preventDefault();
      var row = button.closest("[data-mark-row]");
      var dot = dots && dots.querySelector("[data-dot='" + row.getAttribute("data-index") + "']");
      if (dot) { dot.parentNode.removeChild(dot); }
      row.parentNode.removeChild(row);
      renumber();
      status.textContent = "Mark removed. The other marks have been renumbered.";
      regionSelect.focus();
    });
  }

  // --- full names of linked pupils in the text ------------------------------------------------
  function nameCheck() {
    var form = byId("incident-form");
    var panel = byId("name-warning");
    if (!form || !panel || !window.fetch) { return function () {}; }
    var timer = null;
    var labels = { account: "What happened", childs_words: "The child's own words",
                   others_present: "Who else was present" };

    function check() {
      var linked = [];
      each(form.querySelectorAll("#linked-list [data-field=pupil_id]"), function (input) {
        var id = parseInt(input.value, 10);
        if (id) { linked.push({ pupil_id: id }); }
      });
      if (!linked.length) { panel.hidden = true; panel.textContent = ""; return; }
      var body = { linked_pupils: linked };
      Object.keys(labels).forEach(function (k) { body[k] = form.elements[k] ? form.elements[k].value : null; });
      fetch(form.getAttribute("data-check-text-url"), {
        method: "POST", credentials: "same-origin", body: JSON.stringify(body),
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrfToken(form) }
      }).then(function (r) { if (!r.ok) { throw new Error("failed"); } return r.json(); })
        .then(function (answer) {
          var warnings = answer.warnings || [];
          panel.textContent = "";
          panel.hidden = !warnings.length;
          if (!warnings.length) { return; }
          var title = document.createElement("p");
          title.className = "warning-panel__title";
          title.textContent = "Check the names";
          panel.appendChild(title);
          var list = document.createElement("ul");
          warnings.forEach(function (w) {
            var item = document.createElement("li");
            item.textContent = (labels[w.field] || "The text") + ": " + w.message + ".";
            list.appendChild(item);
          });
          panel.appendChild(list);
        })
        .catch(function () {});
    }

    function soon() {
      window.clearTimeout(timer);
      timer = window.setTimeout(check, 700);
    }
    each(form.querySelectorAll("[data-name-check]"), function (box) { box.addEventListener("input", soon); });
    check();
    return soon;
  }

  // Enter in a one-line box must not send the incident (or press "Find pupil"): only the buttons do.
  function noImplicitSubmit() {
    var form = byId("incident-form");
    if (!form) { return; }
    form.addEventListener("keydown", function (e) {
      var t = e.target;
      if (e.key === "Enter" && t.tagName === "INPUT" && ["checkbox", "radio", "submit", "button", "file"].indexOf(t.type) < 0) {
        e.preventDefault();
      }
    });
  }

  // --- the session's time-out (WCAG 2.2.1: warned before the end, and one press to stay) -----------
  // The server ends a session after data-session-idle-seconds without activity. Any activity here
  // (keys, pointer, scrolling, focus, typing) tells it so, at most every so often; asking how long is
  // left does not count, so a tab left open still times out. Before the end a dialog says so, with
  // "Stay signed in" focused. If the session ends all the same, a form sent afterwards is kept by the
  // server and comes back after signing in again (web/resume.py).
  function sessionTimeout() {
    var body = document.body;
    var idle = parseInt(body.getAttribute("data-session-idle-seconds") || "", 10);
    var url = body.getAttribute("data-activity-url");
    var dialog = byId("session-dialog");
    if (!idle || !url || !dialog || !window.fetch || typeof dialog.showModal !== "function") { return; }
    var warnBefore = Math.min(120, Math.floor(idle / 2));
    var tellEvery = Math.max(5, Math.min(60, Math.floor(idle / 4))) * 1000;
    var deadline = Date.now() + idle * 1000;
    var lastTold = 0;
    var asking = false;
    var ended = false;
    var returnFocus = null;
    var left = byId("session-dialog-left");

    function ask(method) {
      var headers = { Accept: "application/json" };
      if (method === "POST") { headers["X-CSRF-Token"] = body.getAttribute("data-csrf-token"); }
      return fetch(url, { method: method, credentials: "same-origin", headers: headers })
        .then(function (r) {
          if (r.status === 401) { return null; }
          if (!r.ok) { throw new Error("failed"); }
          return r.json();
        })
        .then(function (answer) {
          if (answer === null) { end(); } else { deadline = Date.now() + answer.seconds_left * 1000; }
          return answer;
        });
    }

    function activity() {
      if (ended || dialog.open || Date.now() - lastTold < tellEvery) { return; }
      lastTold = Date.now();
      ask("POST").catch(function () { lastTold = 0; });  // try again at the next movement
    }

    function duration(seconds) {
      var m = Math.floor(seconds / 60);
      var s = seconds % 60;
      var parts = [];
      if (m) { parts.push(m + (m === 1 ? " minute" : " minutes")); }
      if (s || !m) { parts.push(s + (s === 1 ? " second" : " seconds")); }
      return parts.join(" ");
    }

    function showState(isEnded) {
      each(dialog.querySelectorAll("[data-when-live]"), function (el) { el.hidden = isEnded; });
      each(dialog.querySelectorAll("[data-when-ended]"), function (el) { el.hidden = !isEnded; });
      dialog.setAttribute("aria-labelledby", isEnded ? "session-dialog-ended-title" : "session-dialog-title");
    }

    function open(focus) {
      if (!dialog.open) {
        returnFocus = document.activeElement;
        dialog.showModal();
      }
      byId(focus).focus();
    }

    function close() {
      if (!dialog.open) { return; }
      dialog.close();
      if (returnFocus && document.contains(returnFocus) && returnFocus.focus) { returnFocus.focus(); }
      returnFocus = null;
    }

    function warn() {
      showState(false);
      left.textContent = duration(Math.max(0, Math.round((deadline - Date.now()) / 1000)));
      open("session-stay");
    }

    function end() {
      if (ended) { return; }
      ended = true;
      showState(true);
      open("session-close");
    }

    function stay() {
      ask("POST").then(function (answer) {
        if (answer) { lastTold = Date.now(); close(); }
      }).catch(function () {
        left.textContent = "a moment (Haven did not answer: press Stay signed in again)";
      });
    }

    function check() {  // before warning, or at the end: another tab may have kept the session alive
      if (asking) { return; }
      asking = true;
      ask("GET").then(function (answer) {
        asking = false;
        if (!answer) { return; }
        if (answer.seconds_left > warnBefore) { close(); } else if (!dialog.open) { warn(); }
      }).catch(function () { asking = false; });
    }

    function tick() {
      if (ended) { return; }
      var seconds = Math.round((deadline - Date.now()) / 1000);
      if (seconds <= 0 || (seconds <= warnBefore && !dialog.open)) {
        check();
      } else if (dialog.open) {
        left.textContent = duration(seconds);  // not a live region: read when the dialog opens, not every second
      }
    }

    byId("session-stay").addEventListener("click", stay);
    byId("session-close").addEventListener("click", close);
    dialog.addEventListener("cancel", function (e) {  // Escape: stay signed in (or, once ended, back to the page)
      e.preventDefault();
      if (ended) { close(); } else { stay(); }
    });
    dialog.addEventListener("keydown", function (e) {  // Enter outside the buttons: stay signed in
      if (e.key === "Enter" && e.target.tagName !== "BUTTON" && !ended) { e.preventDefault(); stay(); }
    });
    ["keydown", "pointerdown", "pointermove", "wheel", "touchstart", "input", "focusin", "scroll"].forEach(function (name) {
      document.addEventListener(name, activity, { capture: true, passive: true });
    });
    ask("GET").catch(function () {});  // the page's own request was counted to the minute: start from the server's clock
    window.setInterval(tick, 1000);
  }

  // --- hide the screen (a visitor walks up to the desk) ------------------------------------------------
  // The header's button or Alt+Shift+B blurs the page and covers it; any key (but a lone modifier) or a
  // click shows it again. All in the page: no request, no reload.
  function blurScreen() {
    var button = byId("blur-screen");
    var overlay = byId("blur-overlay");
    if (!button || !overlay || typeof overlay.showModal !== "function") { return; }
    var text = byId("blur-overlay-text");
    var returnFocus = null;
    var MODIFIERS = ["Alt", "Shift", "Control", "Meta", "AltGraph", "CapsLock"];

    function hide() {
      if (overlay.open) { return; }
      returnFocus = document.activeElement;
      body().classList.add("is-screen-hidden");
      overlay.showModal();
      text.focus();
    }

    function reveal() {
      if (!overlay.open) { return; }
      overlay.close();
      body().classList.remove("is-screen-hidden");
      if (returnFocus && document.contains(returnFocus) && returnFocus.focus) { returnFocus.focus(); }
      returnFocus = null;
    }

    function body() { return document.body; }
    function isShortcut(e) { return e.altKey && e.shiftKey && !e.ctrlKey && !e.metaKey && e.code === "KeyB"; }

    button.hidden = false;
    button.addEventListener("click", hide);
    document.addEventListener("keydown", function (e) {
      if (isShortcut(e)) { e.preventDefault(); hide(); }
    });
    overlay.addEventListener("keydown", function (e) {
      e.preventDefault();
      e.stopPropagation();  // the key shows the page; it does nothing else
      if (MODIFIERS.indexOf(e.key) < 0) { reveal(); }
    });
    overlay.addEventListener("cancel", function (e) { e.preventDefault(); reveal(); });
    overlay.addEventListener("click", reveal);
  }

  // A decision not to refer must say why: make that plain as soon as it is chosen.
  function decisionReasons() {
    var form = byId("decision-form");
    if (!form) { return; }
    var reason = byId("reason");
    var hint = byId("reason-hint");
    function update() {
      var noReferral = byId("decision_type-no_referral");
      var on = noReferral && noReferral.checked;
      reason.setAttribute("aria-required", on ? "true" : "false");
      hint.classList.toggle("hint--emphasis", !!on);
    }
    each(form.querySelectorAll("input[name=decision_type]"), function (r) { r.addEventListener("change", update); });
    update();
  }

  // Roll import: preview in the page, so the chosen file stays chosen for the import itself.
  function rollPreview() {
    var form = byId("roll-import-form");
    var button = byId("preview-import");
    if (!form || !button || !window.fetch || !window.FormData || !window.DOMParser) { return; }
    button.addEventListener("click", function (e) {
      e.preventDefault();
      var data = new FormData(form);
      data.set("action", "preview");
      button.disabled = true;
      fetch(form.getAttribute("action"), { method: "POST", body: data, credentials: "same-origin" })
        .then(function (r) { return r.text(); })
        .then(function (html) {
          var page = new DOMParser().parseFromString(html, "text/html");
          ["import-errors", "file-problems", "import-report"].forEach(function (id) {
            var fresh = page.getElementById(id);
            byId(id).innerHTML = fresh ? fresh.innerHTML : "";
          });
          var fileField = byId("file").closest(".field");
          fileField.classList.toggle("field--error", !!byId("file-error"));
          byId("file").setAttribute("aria-invalid", byId("file-error") ? "true" : "false");
          var target = byId("import-errors").querySelector(".error-summary") || byId("report-title");
          if (target) { target.setAttribute("tabindex", "-1"); target.focus(); }
        })
        .catch(function () {
          byId("import-report").textContent = "The preview did not answer. Try again, or press Import.";
        })
        .then(function () { button.disabled = false; });
    });
  }

  // Correcting a record: choosing the field shows the form for it (without JavaScript, "Choose" does).
  function amendFieldChooser() {
    var form = byId("amend-form");
    var field = byId("field");
    if (!form || !field) { return; }
    field.addEventListener("change", function () {
      if (field.value) { window.location.assign(form.getAttribute("action") + "?field=" + encodeURIComponent(field.value)); }
    });
  }

  function ready(fn) {
    if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", fn); } else { fn(); }
  }

  ready(function () {
    focusErrorSummary();
    removeNoJsButtons();
    each(document.querySelectorAll("input[data-picker]"), picker);
    alertSuggestions();
    conditionalReveals();
    var recheckNames = nameCheck();
    linkedPupils(recheckNames);
    bodyMap();
    noImplicitSubmit();
    sessionTimeout();
    blurScreen();
    decisionReasons();
    rollPreview();
    amendFieldChooser();
  });
})();
