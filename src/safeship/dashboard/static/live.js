// The dashboard's live updates: listen to the page's server-sent event stream and update the
// parts marked data-live. The page is complete without this file; it only keeps it current.
// textContent only (never innerHTML): every value from the server stays text.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !window.EventSource) { return; }
  var url = script.getAttribute("data-stream");
  var page = script.getAttribute("data-page");
  var status = document.getElementById("live-status");

  function say(text) { if (status) { status.textContent = text; } }
  function percent(v) { return v === null || v === undefined ? "no data" : (v * 100).toFixed(2) + "%"; }
  function ms(v) { return v === null || v === undefined ? "no data" : v.toFixed(1) + " ms"; }
  function set(root, name, text) {
    var node = root.querySelector('[data-live="' + name + '"]');
    if (node && node.textContent !== text) { node.textContent = text; }
    return node;
  }
  function trafficRows(root, rows) {
    var table = root.querySelector('[data-live="traffic"] tbody');
    if (!table) { return; }
    var fresh = document.createElement("tbody");
    rows.forEach(function (r) {
      var tr = document.createElement("tr");
      [r.release, r.weight + "%", String(r.requests), String(r.errors), percent(r.errorRate), ms(r.p95Ms)]
        .forEach(function (text) { var td = document.createElement("td"); td.textContent = text; tr.appendChild(td); });
      fresh.appendChild(tr);
    });
    if (!rows.length) {
      var tr = document.createElement("tr"), td = document.createElement("td");
      td.colSpan = 6; td.className = "muted"; td.textContent = "no router running";
      tr.appendChild(td); fresh.appendChild(tr);
    }
    table.parentNode.replaceChild(fresh, table);
  }

  // The report below the live parts (timeline, steps, rollback figures): fetched again from
  // this page's own URL when the state changes, and swapped in as parsed nodes (a parsed
  // document runs no script; the server escaped every value).
  function refreshReport() {
    fetch(window.location.pathname, {headers: {"Accept": "text/html"}, credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("article.ss-report");
        var current = document.querySelector("article.ss-report");
        if (fresh && current) { current.replaceWith(document.importNode(fresh, true)); }
      })
      .catch(function () { /* the live parts stay current; the report waits for a reload */ });
  }

  var lastState = null;
  function onDeployment(d) {
    if (d.missing) { return; }
    set(document, "state", d.state);
    set(document, "step", d.currentStep === null ? "–" : d.currentStep + "%");
    set(document, "rollback", d.rollbackReason ? (d.rollbackRule || "rule not recorded") + ": " + d.rollbackReason : "none");
    if (!d.terminal) { trafficRows(document, d.traffic); }  // a finished one keeps its last split
    if (lastState !== null && lastState !== d.state) { refreshReport(); }
    lastState = d.state;
    if (d.terminal) {
      say("Finished: " + d.status.replace("_", " ") + ".");
      var actions = document.querySelector("section.live p.actions");
      if (actions) { actions.remove(); }  // nothing to promote or abort any more
    }
  }

  function onOverview(o) {
    o.environments.forEach(function (e) {
      var section = document.querySelector('section[data-environment="' + CSS.escape(e.environment) + '"]');
      if (!section) { return; }
      var running = section.querySelector('[data-live="running"]');
      if (running) {
        var href = e.running ? "/deployments/" + encodeURIComponent(e.running.id) : null;
        var text = e.running ? e.running.version + ": " + e.running.state : "no deployment running";
        var link = running.querySelector("a");
        if (link && href && link.getAttribute("href") === href) {
          // The same deployment: change the text only (the link keeps its focus).
          if (link.textContent !== text) { link.textContent = text; }
        } else if (running.textContent !== text || (href && !link)) {
          running.textContent = "";
          if (href) {
            var a = document.createElement("a");
            a.href = href;
            a.textContent = text;
            running.appendChild(a);
          } else {
            running.textContent = text;
          }
        }
      }
      trafficRows(section, e.traffic);
    });
  }

  var source = new EventSource(url);
  source.addEventListener("open", function () { say("Live."); });
  source.addEventListener("error", function () { say("Reconnecting…"); });
  source.addEventListener("state", function (event) {
    var data = JSON.parse(event.data);
    if (page === "deployment") { onDeployment(data); } else { onOverview(data); }
    if (data.terminal) { source.close(); }
  });
})();
