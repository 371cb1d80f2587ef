// Capture upload: the file goes as the raw request body (streamed to disk by the server,
// never parsed as a form), then the job's progress fragment polls itself through htmx.
(function () {
  "use strict";

  function start() {
    var form = document.getElementById("upload-form");
    if (!form) { return; }
    var input = document.getElementById("upload-file");
    var error = document.getElementById("upload-error");

    function show(message) {
      error.textContent = message;
      error.hidden = !message;
    }

    function send(file) {
      show("");
      var csrf = document.body.getAttribute("data-csrf") || "";
      var url = form.getAttribute("data-endpoint") + "?filename=" + encodeURIComponent(file.name);
      fetch(url, {
        method: "POST",
        body: file,
        credentials: "same-origin",
        headers: { "Content-Type": "application/octet-stream", "X-CSRF-Token": csrf }
      }).then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      }).then(function (result) {
        if (!result.ok) {
          show(typeof result.body.detail === "string" ? result.body.detail : "The upload was refused.");
          return;
        }
        var list = document.getElementById("job-list");
        var empty = document.getElementById("no-jobs");
        if (empty) { empty.remove(); }
        var holder = document.createElement("div");
        holder.setAttribute("hx-get", "/jobs/" + result.body.id);
        holder.setAttribute("hx-trigger", "load");
        holder.setAttribute("hx-swap", "outerHTML");
        list.prepend(holder);
        window.htmx.process(holder);
      }).catch(function () { show("The upload failed: is the server reachable?"); });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (input.files.length) { send(input.files[0]); } else { show("Choose a capture file first."); }
    });
    form.addEventListener("dragover", function (event) {
      event.preventDefault();
      form.classList.add("over");
    });
    form.addEventListener("dragleave", function () { form.classList.remove("over"); });
    form.addEventListener("drop", function (event) {
      event.preventDefault();
      form.classList.remove("over");
      if (event.dataTransfer.files.length) { send(event.dataTransfer.files[0]); }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
