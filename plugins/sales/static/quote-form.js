// The quote editor: prices a line from the chosen price list when a product is picked, computes line
// totals and the quote's totals as you type (the server computes them again when saving), adds lines.
(function () {
  "use strict";
  var form = document.getElementById("crm-quote-form");
  if (!form) { return; }
  var prices = JSON.parse(form.getAttribute("data-prices") || "{}");
  var locale = form.getAttribute("data-locale") || "en";
  var body = document.querySelector("#crm-quote-lines tbody");
  var priceList = form.querySelector("[name=price_list_id]");

  function num(value) {
    var n = parseFloat(String(value || "").replace(/[,\s]/g, ""));
    return isNaN(n) ? null : n;
  }
  function cents(n) { return Math.round((n + Number.EPSILON) * 100) / 100; }
  function listPrice(productId) {
    var chosen = priceList ? priceList.value : "";
    var own = (prices[chosen] || {})[productId];
    return own || (prices[""] || {})[productId] || null;  // [price, currency]
  }
  function currency() {
    var opt = priceList && priceList.selectedOptions[0];
    if (opt && opt.getAttribute("data-currency")) { return opt.getAttribute("data-currency"); }
    if (form.getAttribute("data-currency")) { return form.getAttribute("data-currency"); }
    var first = body.querySelector("select[name$=-product_id]");
    var found = first && first.value && listPrice(first.value);
    return found ? found[1] : "CNY";
  }
  function money(n) {
    try {
      return new Intl.NumberFormat(locale, {style: "currency", currency: currency()}).format(n);
    } catch (e) { return n.toFixed(2); }
  }
  function field(row, name) { return row.querySelector("[name$=-" + name + "]"); }

  function recompute() {
    var listTotal = 0, subtotal = 0, largest = 0;
    body.querySelectorAll("tr.crm-quote-line").forEach(function (row) {
      var product = field(row, "product_id").value;
      var qty = num(field(row, "quantity").value);
      if (qty === null) { qty = 1; }
      var unit = num(field(row, "unit_price").value);
      var listed = product ? listPrice(product) : null;
      var list = listed ? num(listed[0]) : unit;
      if (unit === null) { unit = list; }
      var cell = row.querySelector("[data-line-total]");
      if (unit === null || (!product && !field(row, "description").value)) { cell.textContent = ""; return; }
      var disc = num(field(row, "discount_percent").value) || 0;
      var total = cents(qty * unit * (100 - disc) / 100);
      cell.textContent = money(total);
      listTotal += qty * list;
      subtotal += total;
      if (qty * list > 0) { largest = Math.max(largest, (1 - total / (qty * list)) * 100); }
    });
    listTotal = cents(listTotal);
    subtotal = cents(subtotal);
    var overall = num(form.querySelector("[name=discount_percent]").value) || 0;
    var discountTotal = cents(subtotal * overall / 100);
    var total = cents(subtotal - discountTotal);
    if (listTotal > 0) { largest = Math.max(largest, (1 - total / listTotal) * 100); }
    var shown = {list_total: money(listTotal), subtotal: money(subtotal), discount_total: money(discountTotal),
                 total: money(total), largest_discount: (Math.round(largest * 100) / 100) + "%"};
    Object.keys(shown).forEach(function (key) {
      form.querySelector("[data-total=" + key + "]").textContent = shown[key];
    });
  }

  body.addEventListener("change", function (event) {
    var target = event.target;
    if (target.name && /-product_id$/.test(target.name)) {
      var row = target.closest("tr");
      var listed = target.value ? listPrice(target.value) : null;
      if (listed) {
        field(row, "unit_price").value = listed[0];
        var description = field(row, "description");
        if (!description.value && prices[""][target.value]) { description.value = prices[""][target.value][2]; }
      }
    }
    recompute();
  });
  form.addEventListener("input", recompute);
  if (priceList) { priceList.addEventListener("change", recompute); }

  var add = document.getElementById("crm-add-line");
  add.classList.remove("d-none");
  add.addEventListener("click", function () {
    var rows = body.querySelectorAll("tr.crm-quote-line");
    var copy = rows[rows.length - 1].cloneNode(true);
    var index = rows.length;
    copy.querySelectorAll("[name]").forEach(function (input) {
      input.name = input.name.replace(/^lines-\d+-/, "lines-" + index + "-");
      input.value = "";
    });
    copy.querySelectorAll(".invalid-feedback").forEach(function (el) { el.remove(); });
    copy.querySelector("[data-line-total]").textContent = "";
    body.appendChild(copy);
  });
  recompute();
}());
