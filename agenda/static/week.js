// "Ma semaine SNP": the capacity only matters for a floating window (progressive
// enhancement; a static file, no inline script under the CSP).
(function () {
  "use strict";
  var form = document.querySelector("#ajouter form");
  if (!form) {
    return;
  }
  function sync() {
    var floating = form.querySelector("input[name=kind][value=floating]");
    form.querySelectorAll("[data-floating-only]").forEach(function (el) {
      el.hidden = !(floating && floating.checked);
    });
  }
  form.addEventListener("change", sync);
  sync();
})();
