/* Doctor's week page. */
(function () {
  // Progressive enhancement: the capacity only matters for a floating window.
  var form = document.querySelector("#ajouter form");
  if (!form) return;
  function sync() {
    var floating = form.querySelector("input[name=kind][value=floating]").checked;
    form.querySelectorAll("[data-floating-only]").forEach(function (el) { el.hidden = !floating; });
  }
  form.addEventListener("change", sync);
  sync();
})();
