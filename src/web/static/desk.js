// The csirtd web desk: progressive enhancement only; every page works without it.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // A merge cannot be undone: ask once more.
  document.querySelectorAll("button.danger").forEach(function (b) {
    b.addEventListener("click", function (e) {
      if (!window.confirm("Merge this ticket? This cannot be undone.")) {
        e.preventDefault();
      }
    });
  });
});
