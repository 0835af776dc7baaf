/* Behaviour shared by every page (no inline script: the CSP forbids it). */
document.addEventListener("click", function (event) {
  var back = event.target.closest("[data-back]");
  if (back && window.history.length > 1) {
    event.preventDefault();
    window.history.back();
  }
  if (event.target.closest("[data-print]")) {
    window.print();
  }
});
