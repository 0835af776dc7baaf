// The commune field (templates/booking/_commune.html): suggestions as you type, from
// /communes/recherche (by name, by postcode — every commune sharing it —, by INSEE code
// only as "insee:44110"). Choosing a suggestion fills the field with "Name (postcode)" and
// the hidden INSEE code; typing again clears that code, so the server resolves the text
// (and lists the candidates when it is ambiguous: nothing is ever chosen silently).
// No dependency, no inline script (the pages run under a strict CSP).
(function () {
  "use strict";

  function setup(box) {
    var input = box.querySelector("[data-commune-input]");
    var code = box.querySelector("[data-commune-insee]");
    var list = box.querySelector(".commune-list");
    var url = box.getAttribute("data-url");
    var timer = null;
    var seq = 0;
    var active = -1;
    if (!input || !code || !list || !url) {
      return;
    }

    function close() {
      list.hidden = true;
      list.innerHTML = "";
      active = -1;
      input.setAttribute("aria-expanded", "false");
    }

    function choose(item) {
      input.value = item.label;
      code.value = item.insee;
      close();
      var candidates = box.querySelector(".commune-candidates");
      if (candidates) {
        candidates.remove();
      }
    }

    function highlight(index) {
      var options = list.querySelectorAll("[role=option]");
      options.forEach(function (el, i) {
        el.setAttribute("aria-selected", i === index ? "true" : "false");
      });
      active = index;
    }

    function show(items) {
      list.innerHTML = "";
      active = -1;
      if (!items.length) {
        close();
        return;
      }
      items.forEach(function (item, i) {
        var li = document.createElement("li");
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        li.id = input.id + "-opt-" + i;
        li.dataset.insee = item.insee;
        li.textContent = item.name + " (" + item.postcodes + ") — " + item.department;
        li.addEventListener("mousedown", function (event) {
          event.preventDefault();  // keep the focus in the field
          choose(item);
        });
        list.appendChild(li);
      });
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      list._items = items;
    }

    function lookup() {
      var q = input.value.trim();
      if (q.length < 2) {
        close();
        return;
      }
      var mine = ++seq;
      fetch(url + "?limit=20&q=" + encodeURIComponent(q), {
        credentials: "same-origin",
        headers: {"Accept": "application/json"}
      }).then(function (resp) {
        return resp.ok ? resp.json() : [];
      }).then(function (items) {
        if (mine === seq) {
          show(items);
        }
      }).catch(function () {
        close();  // the server resolves the text on submit
      });
    }

    input.addEventListener("input", function () {
      code.value = "";
      clearTimeout(timer);
      timer = setTimeout(lookup, 150);
    });
    input.addEventListener("keydown", function (event) {
      var items = list._items || [];
      if (list.hidden || !items.length) {
        return;
      }
      if (event.key === "ArrowDown") {
        event.preventDefault();
        highlight(Math.min(active + 1, items.length - 1));
      } else if (event.key === "ArrowUp") {
        event.preventDefault();
        highlight(Math.max(active - 1, 0));
      } else if (event.key === "Enter" && active >= 0) {
        event.preventDefault();
        choose(items[active]);
      } else if (event.key === "Escape") {
        close();
      }
    });
    input.addEventListener("blur", function () {
      setTimeout(close, 150);
    });
  }

  document.querySelectorAll("[data-commune-finder]").forEach(setup);
})();
