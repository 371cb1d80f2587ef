// Uploads (capture, SBOM, advisory): the file goes as the raw request body (streamed to
// disk by the server, never parsed as a form), with the form's other fields as query
// parameters; then the job's progress fragment polls itself through htmx.
(function () {
  "use strict";

  function setUp(form) {
    var input = form.querySelector("input[type=file]");
    var error = form.querySelector(".upload-error");

    function show(message) {
      error.textContent = message;
      error.hidden = !message;
    }

    function send(file) {
      show("");
      var csrf = document.body.getAttribute("data-csrf") || "";
      var params = new URLSearchParams({ filename: file.name });
      form.querySelectorAll("[data-param]").forEach(function (field) {
        var value = field.type === "checkbox" ? String(field.checked) : field.value.trim();
        if (value) { params.set(field.getAttribute("data-param"), value); }
      });
      fetch(form.getAttribute("data-endpoint") + "?" + params.toString(), {
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
      if (input.files.length) { send(input.files[0]); } else { show("Choose a file first."); }
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

  function start() {
    document.querySelectorAll("form.drop[data-endpoint]").forEach(setUp);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
