// Keel: small progressive enhancements. Pages work without JavaScript.
(function () {
  "use strict";

  var FINAL_STATES = ["succeeded", "failed", "cancelled"];
  var POLL_MS = 1000;
  var MAX_BACKOFF_MS = 10000;

  function isFinal(state) {
    return FINAL_STATES.indexOf(state) !== -1;
  }

  function setState(el, state) {
    el.dataset.jobState = state;
    el.className = el.className.replace(/\bstate-\w+/g, "").replace(/\bfailed\b/g, "").trim();
    el.classList.add("state-" + state);
    if (state === "failed") el.classList.add("failed");
  }

  // The progress component (templates jobs/progress.html): refresh its inside from its endpoint every second
  // until the job has ended, then stop, announce it, and reload the page if the component asks for it.
  function watchJob(el) {
    var url = el.dataset.jobProgress;
    var delay = POLL_MS;
    if (!url || isFinal(el.dataset.jobState)) return;

    function finished(state) {
      el.dispatchEvent(new CustomEvent("keel:job-finished", { bubbles: true, detail: { state: state } }));
      if (el.dataset.reloadOnFinish) window.location.reload();
    }

    function poll() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" }, cache: "no-store" })
        .then(function (response) {
          if (response.status === 401 || response.status === 403 || response.status === 404) {
            throw { stop: true };
          }
          if (!response.ok) throw { stop: false };
          var state = response.headers.get("X-Job-State");
          if (response.redirected || !state) throw { stop: true }; // e.g. the session ended: keep the page as is
          return response.text().then(function (html) {
            return { state: state, html: html };
          });
        })
        .then(function (data) {
          el.innerHTML = data.html;
          delay = POLL_MS;
          if (data.state) setState(el, data.state);
          if (isFinal(data.state)) finished(data.state);
          else window.setTimeout(poll, delay);
        })
        .catch(function (problem) {
          if (problem && problem.stop) return;
          delay = Math.min(delay * 2, MAX_BACKOFF_MS); // the server is busy or away: try again, less often
          window.setTimeout(poll, delay);
        });
    }

    window.setTimeout(poll, delay);
  }

  // <button data-dialog-open="ID"> opens <dialog id="ID">; [data-dialog-close] inside a dialog closes it.
  // Without JavaScript such buttons should sit beside a link to an equivalent confirmation page.
  function wireDialogs(root) {
    root.querySelectorAll("[data-dialog-open]").forEach(function (button) {
      button.addEventListener("click", function (event) {
        var dialog = document.getElementById(button.dataset.dialogOpen);
        if (dialog && typeof dialog.showModal === "function") {
          event.preventDefault();
          dialog.showModal();
        }
      });
    });
    root.querySelectorAll("dialog [data-dialog-close]").forEach(function (button) {
      button.addEventListener("click", function (event) {
        event.preventDefault();
        button.closest("dialog").close();
      });
    });
  }

  function thousands(n) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  // The same words as keel/datacontrol/labels.py (duration_text).
  function durationText(seconds) {
    if (seconds < 60) return "Less than a minute";
    var minutes = Math.round(seconds / 60);
    if (minutes < 60) return "About " + minutes + " minute" + (minutes === 1 ? "" : "s");
    var hours = Math.floor(minutes / 60);
    minutes = minutes % 60;
    var text = "About " + hours + " hour" + (hours === 1 ? "" : "s");
    return minutes ? text + " " + minutes + " minute" + (minutes === 1 ? "" : "s") : text;
  }

  function setText(id, text) {
    var el = document.getElementById(id);
    if (el) el.textContent = text;
  }

  function showDeletionStatus(s) {
    document.getElementById("deletion-progress-fill").style.width = s.progress.percent + "%";
    document.querySelector("#deletion-status [role=progressbar]").setAttribute("aria-valuenow", s.progress.percent);
    setText("deletion-percent", s.progress.percent);
    setText("deletion-step", s.step);
    setText("deletion-count", s.progress.total
      ? thousands(s.progress.done) + " of " + thousands(s.progress.total) + " rows and files deleted"
      : "Counting what is to be deleted…");
    setText("deletion-eta", s.seconds_left ? durationText(s.seconds_left) + " left" : "Estimating the time left…");
  }

  // The public status page of a company deletion (datacontrol/deletion_status.html): poll its JSON status, move the
  // progress bar, and reload when the state changes. A failed deletion is started again automatically: its page keeps
  // watching too.
  function watchDeletionStatus(box) {
    if (!box || box.dataset.state === "succeeded") return;
    var every = box.dataset.state === "failed" ? 10000 : 1000;
    function poll() {
      fetch(box.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "omit" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (s) {
          if (!s) { window.setTimeout(poll, 3000); return; }
          if (s.state !== box.dataset.state) { window.location.reload(); return; }
          showDeletionStatus(s);
          window.setTimeout(poll, every);
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    }
    window.setTimeout(poll, every);
  }

  // "Delete all CRM Records" (datacontrol/crm_deletion_panel.html): the counts are loaded when the dialog opens,
  // because counting a large CRM on every visit of the contacts page would slow it.
  function wireCrmDeletionCounts() {
    var button = document.getElementById("crm-delete-all");
    var box = document.querySelector("#crm-deletion-dialog [data-crm-deletion-counts]");
    if (!button || !box) return;
    button.addEventListener("click", function () {
      fetch(box.dataset.crmDeletionCounts, { credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (!response.ok) throw new Error(response.status);
          return response.text();
        })
        .then(function (html) { box.innerHTML = html; })
        .catch(function () {
          box.innerHTML = "";
          var problem = document.createElement("p");
          problem.className = "field-error";
          problem.textContent = "The counts could not be loaded. ";
          var link = document.createElement("a");
          link.href = button.href;
          link.textContent = "Open the confirmation page";
          problem.appendChild(link);
          problem.appendChild(document.createTextNode(" to see them."));
          box.appendChild(problem);
        });
    });
  }

  function start() {
    document.querySelectorAll("[data-job-progress]").forEach(watchJob);
    watchDeletionStatus(document.getElementById("deletion-status"));
    wireCrmDeletionCounts();
    wireDialogs(document);
    document.documentElement.classList.add("js");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();

  window.Keel = { watchJob: watchJob };
})();
