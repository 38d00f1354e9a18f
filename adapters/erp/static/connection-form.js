// The ERP connection form: only the chosen adapter's settings and streams are shown (without this
// script every adapter's group is on the page, titled by its adapter, and only the chosen one is used).
(function () {
  "use strict";
  var select = document.getElementById("adapter");
  if (!select) { return; }
  var groups = document.querySelectorAll("fieldset[data-erp-adapter]");
  function show() {
    groups.forEach(function (group) { group.hidden = group.getAttribute("data-erp-adapter") !== select.value; });
  }
  select.addEventListener("change", show);
  show();
}());
