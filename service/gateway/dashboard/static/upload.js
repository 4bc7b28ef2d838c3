// The Upload page: pick or drop a file, send it with XMLHttpRequest (for upload
// progress) to the dashboard's own upload route with the session's CSRF token, then
// follow the upload's status until ingest has decided. Text only goes in with
// textContent, never as HTML.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form) { return; }
  var input = document.getElementById("file");
  var drop = document.getElementById("drop");
  var chosen = document.getElementById("chosen");
  var send = document.getElementById("send");
  var progress = document.getElementById("progress");
  var outcome = document.getElementById("outcome");
  var statusLine = document.getElementById("outcome-status");
  var errorsBox = document.getElementById("outcome-errors");
  var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10);
  var file = null;

  function choose(f) {
    file = f || null;
    chosen.textContent = file ? file.name + " (" + file.size.toLocaleString() + " bytes)" : "";
    send.disabled = !file;
    if (file && file.size > maxBytes) {
      chosen.textContent += " is larger than the limit";
      send.disabled = true;
    }
  }

  input.addEventListener("change", function () { choose(input.files[0]); });
  ["dragenter", "dragover"].forEach(function (ev) {
    drop.addEventListener(ev, function (e) { e.preventDefault(); drop.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (ev) {
    drop.addEventListener(ev, function (e) { e.preventDefault(); drop.classList.remove("over"); });
  });
  drop.addEventListener("drop", function (e) {
    if (e.dataTransfer && e.dataTransfer.files.length) { choose(e.dataTransfer.files[0]); }
  });

  function show(text, kind) {
    outcome.hidden = false;
    statusLine.textContent = text;
    statusLine.className = kind || "";
  }

  function link(href, text) {
    var a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    return a;
  }

  function showErrors(errors, total) {
    errorsBox.textContent = "";
    if (!errors || !errors.length) { return; }
    var p = document.createElement("p");
    p.textContent = total + " problem" + (total === 1 ? "" : "s") + (total > errors.length ? "; the first " + errors.length + " are shown" : "") + ":";
    errorsBox.appendChild(p);
    var table = document.createElement("table");
    table.className = "errors stack-sm";
    var labels = ["Line", "Field", "Product #", "Code", "Reason"];
    var head = table.createTHead().insertRow();
    labels.forEach(function (h) {
      var th = document.createElement("th");
      th.scope = "col";
      th.textContent = h;
      head.appendChild(th);
    });
    var body = table.createTBody();
    errors.forEach(function (e) {
      var row = body.insertRow();
      [e.line, e.field, e.product_index, e.code, e.message].forEach(function (v, i) {
        var cell = row.insertCell();
        cell.textContent = v === null || v === undefined ? "\u2013" : String(v);
        cell.setAttribute("data-label", labels[i]);
        if (i === 4) { cell.className = "reason"; }
      });
    });
    var wrap = document.createElement("div");
    wrap.className = "table-wrap";
    wrap.appendChild(table);
    errorsBox.appendChild(wrap);
  }

  function follow(info, rounds) {
    fetch(info.status_url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (s.status === "received") {
          show("Received for " + info.sales_date + "; waiting for ingest to check and store it\u2026", "wait");
          if (rounds < 240) { setTimeout(function () { follow(info, rounds + 1); }, 500); }
          return;
        }
        var text = {
          stored: "Stored: " + s.products_stored + " products of " + s.sales_date + (s.products_rejected ? ", " + s.products_rejected + " rejected" : "") + ".",
          rejected: "Rejected: nothing of this file was stored.",
          duplicate: "Duplicate: " + s.sales_date + " was already collected; nothing was stored."
        }[s.status] || s.status;
        show(text, s.status === "stored" ? "ok" : "bad");
        statusLine.setAttribute("data-status", s.status);
        statusLine.appendChild(document.createTextNode(" "));
        statusLine.appendChild(link(info.page_url, "Upload details"));
        if (s.status === "stored") {
          statusLine.appendChild(document.createTextNode(" \u00b7 "));
          statusLine.appendChild(link("/ui/days/" + s.sales_date, "Open the day"));
        }
        showErrors(s.errors, s.errors_total || 0);
      })
      .catch(function () { show("Could not read the upload's status; see the Uploads page.", "bad"); });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (!file) { return; }
    send.disabled = true;
    progress.hidden = false;
    progress.value = 0;
    errorsBox.textContent = "";
    show("Sending " + file.name + "\u2026", "wait");
    var xhr = new XMLHttpRequest();
    xhr.open("POST", "/ui/upload");
    xhr.setRequestHeader("Content-Type", "application/xml");
    xhr.setRequestHeader("X-CSRF-Token", form.getAttribute("data-csrf"));
    xhr.upload.addEventListener("progress", function (ev) {
      if (ev.lengthComputable) { progress.value = Math.round(ev.loaded * 100 / ev.total); }
    });
    xhr.addEventListener("load", function () {
      send.disabled = false;
      progress.value = 100;
      var body = {};
      try { body = JSON.parse(xhr.responseText); } catch (err) { body = {}; }
      if (xhr.status === 202) {
        statusLine.removeAttribute("data-status");
        follow(body, 0);
        return;
      }
      statusLine.setAttribute("data-status", "refused");
      show("Refused (" + xhr.status + " " + (body.code || "") + "): " + (body.message || "the gateway said no"), "bad");
      showErrors(body.errors, body.errors ? body.errors.length : 0);
    });
    xhr.addEventListener("error", function () {
      send.disabled = false;
      show("The upload did not reach the gateway; try again.", "bad");
    });
    xhr.send(file);
  });
})();
