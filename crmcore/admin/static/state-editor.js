/* The workflow state editor: "on entering, set" rows whose value input follows the chosen field's type (a choice
   or a user as a select of labels, yes/no as a checkbox, a date, a number, text, another record through the
   condition builder's record picker), rows and actions added from <template>s, and the field lists following the
   workflow's record type and state field. The page works without it (server-drawn rows plus an empty one).
   Everything is built with DOM calls and textContent: nothing the server or the user typed is parsed as HTML. */
(function () {
  "use strict";
  var dataNode = document.getElementById("state-editor-data");
  if (!dataNode) { return; }
  var D = JSON.parse(dataNode.getAttribute("data-editor"));  // an attribute: no user text inside a <script>
  var entitySel = document.getElementById("entity");
  var stateFieldSel = document.getElementById("state_field");

  function fields() { return D.fields[entitySel ? entitySel.value : ""] || []; }
  function byName(name) {
    var list = fields();
    for (var i = 0; i < list.length; i++) { if (list[i].name === name) { return list[i]; } }
    return null;
  }
  function el(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; } else if (k === "cls") { node.className = attrs[k]; }
      else { node.setAttribute(k, attrs[k]); }
    });
    return node;
  }
  function option(value, label, selected) {
    var o = el("option", {text: label});
    o.value = String(value);
    o.selected = !!selected;
    return o;
  }

  function fillFields(select) {  // the fields of the chosen record type, never the state field itself
    var current = select.value;
    while (select.options.length > 1) { select.remove(1); }
    var found = false;
    fields().forEach(function (f) {
      if (stateFieldSel && f.name === stateFieldSel.value) { return; }
      if (f.name === current) { found = true; }
      select.appendChild(option(f.name, f.label, f.name === current));
    });
    if (!found) { select.value = ""; }
    return found || !current;
  }

  function valueWidget(row, spec) {  // a new, empty input that fits the field
    var box = row.querySelector(".set-value-box");
    var old = box.querySelector("[name]");
    var name = old.getAttribute("name");
    var id = name.replace(/-/g, "_");
    var label = old.getAttribute("aria-label") || "";
    var node;
    box.textContent = "";
    if (spec && spec.kind === "bool") {
      node = el("label", {cls: "mr-1 mb-0 set-value-wrap"});
      var check = el("input", {type: "checkbox", cls: "set-value", name: name, value: "1"});
      node.appendChild(check);
      node.appendChild(document.createTextNode(" " + D.text.yes));
    } else if (spec && (spec.choices.length || spec.related === "user")) {
      node = el("select", {cls: "form-control form-control-sm mr-1 set-value", name: name, "aria-label": label});
      node.appendChild(option("", "\u2014", true));
      (spec.choices.length ? spec.choices : D.users.map(function (u) { return [u.value, u.label]; }))
        .forEach(function (c) { node.appendChild(option(c[0], c[1], false)); });
    } else if (spec && spec.related) {
      node = el("span", {cls: "mr-1 set-value-wrap"});
      node.appendChild(el("span", {"data-record-picker": "", "data-entity": spec.related, "data-target": id}));
      node.appendChild(el("input", {cls: "form-control form-control-sm set-value", type: "number", id: id, name: name,
        "aria-label": label}));
    } else {
      var type = {int: "number", num: "number", money: "number", date: "date", datetime: "datetime-local"}[spec && spec.kind] || "text";
      node = el("input", {cls: "form-control form-control-sm mr-1 set-value", type: type, name: name, "aria-label": label});
      if (type === "number") { node.step = spec.kind === "int" ? "1" : "any"; }
      if (spec && spec.max_length) { node.maxLength = spec.max_length; }
    }
    box.appendChild(node);
    if (spec && spec.related && spec.related !== "user" && window.crmConditionBuilders) { window.crmConditionBuilders(); }
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.classList && target.classList.contains("set-field")) {
      valueWidget(target.closest(".set-row"), byName(target.value));
    } else if (target === entitySel || target === stateFieldSel) {
      var offered = D.offered[entitySel ? entitySel.value : ""] || [];
      Array.prototype.forEach.call(document.querySelectorAll(".workflow-states .act-name option"), function (o) {
        var off = o.value !== "" && offered.indexOf(o.value) < 0;  // an action for other records: not offered
        o.hidden = off;
        o.disabled = off;
        if (off && o.selected) { o.parentNode.value = ""; }
      });
      Array.prototype.forEach.call(document.querySelectorAll(".workflow-states .state-acts-box"), function (box) {
        box.hidden = !offered.length;
        box.parentNode.querySelector(".no-actions").hidden = !!offered.length;
      });
      Array.prototype.forEach.call(document.querySelectorAll(".workflow-states .set-field"), function (select) {
        var before = select.value;
        fillFields(select);
        if (select.value !== before) { valueWidget(select.closest(".set-row"), null); }
      });
    }
  });

  // "+ Add a field to set" / "+ Add an action": a copy of the row's <template>, numbered in its state
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-add-row]") : null;
    if (!button) { return; }
    var template = document.getElementById(button.getAttribute("data-add-row"));
    var into = document.getElementById(button.getAttribute("data-into"));
    var state = button.getAttribute("data-state");
    var next = parseInt(into.getAttribute("data-next") || "0", 10);
    into.setAttribute("data-next", String(next + 1));
    var copy = template.content.cloneNode(true);
    Array.prototype.forEach.call(copy.querySelectorAll("[name],[id],[data-removes],[data-field]"), function (node) {
      ["name", "id", "data-removes", "data-field"].forEach(function (attr) {
        var v = node.getAttribute(attr);
        if (v) { node.setAttribute(attr, v.split("__s__").join(state).split("__i__").join(String(next))); }
      });
    });
    var select = copy.querySelector(".set-field");
    if (select) { fillFields(select); }
    into.appendChild(copy);
    var focus = into.lastElementChild && into.lastElementChild.querySelector("select");
    if (focus) { focus.focus(); }
  });
})();
