// Progressive enhancement only: instant catalog search (server-rendered fragment) and copy buttons.
(function () {
  "use strict";

  function instantSearch(form) {
    var results = document.getElementById(form.getAttribute("data-results"));
    var endpoint = form.getAttribute("data-fragment-url");
    if (!results || !endpoint) return;
    var timer = null;
    var inflight = null;
    var seq = 0;

    function query() {
      var params = new URLSearchParams(new FormData(form));
      params.delete("page");
      return params;
    }

    function refresh() {
      var params = query();
      var mine = ++seq;
      if (inflight) inflight.abort();
      inflight = new AbortController();
      results.setAttribute("aria-busy", "true");
      fetch(endpoint + "?" + params.toString(), {signal: inflight.signal, headers: {"Accept": "text/html"}})
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
        .then(function (html) {
          if (mine !== seq) return;  // a newer keystroke already asked
          results.innerHTML = html;
          results.removeAttribute("aria-busy");
          // Screen readers hear the new count, not the whole list, after each keystroke.
          var count = results.querySelector("#results-count");
          var status = document.getElementById("search-status");
          if (count && status) status.textContent = count.textContent.trim();
          var url = form.getAttribute("action") + (params.toString() ? "?" + params.toString() : "");
          history.replaceState(null, "", url);
        })
        .catch(function (err) {
          if (err.name !== "AbortError") results.removeAttribute("aria-busy");
        });
    }

    form.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(refresh, 150);
    });
    form.addEventListener("change", function (e) {
      if (e.target.tagName === "SELECT") { clearTimeout(timer); refresh(); }
    });
  }

  function copyButtons() {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      button.hidden = false;  // without JS the command stays visible as selectable text
      button.addEventListener("click", function () {
        var text = button.getAttribute("data-copy");
        var done = function () {
          var label = button.textContent;
          button.textContent = "Copied";
          button.setAttribute("aria-live", "polite");
          setTimeout(function () { button.textContent = label; }, 1500);
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(done, function () {});
        } else {
          var area = document.createElement("textarea");
          area.value = text;
          area.setAttribute("readonly", "");
          area.style.position = "absolute";
          area.style.left = "-9999px";
          document.body.appendChild(area);
          area.select();
          try { document.execCommand("copy"); done(); } catch (e) { /* leave the text selectable */ }
          document.body.removeChild(area);
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-instant]").forEach(instantSearch);
    copyButtons();
  });
})();
