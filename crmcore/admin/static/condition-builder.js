/* The condition builder: fields from the entity's metadata, operators that fit their type, value widgets
   that fit (choices, dates, numbers, users by name, other records picked by name from a search), AND/OR groups, a live count and sample, and the JSON
   as an advanced view (none with data-advanced="off"). It writes the condition tree into a hidden input the form posts. Everything shown
   is set with textContent or as a property: nothing the server or the user typed is parsed as HTML. */
(function () {
  "use strict";
  var T = JSON.parse(document.getElementById("condition-builder-text").textContent);
  var metaCache = {};
  function offset() {  // the browser's UTC offset, as +08:00: a time picked in the form is local time
    var minutes = -new Date().getTimezoneOffset();
    var sign = minutes < 0 ? "-" : "+";
    minutes = Math.abs(minutes);
    return sign + ("0" + Math.floor(minutes / 60)).slice(-2) + ":" + ("0" + (minutes % 60)).slice(-2);
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; } else if (k === "cls") { node.className = attrs[k]; }
      else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { node.appendChild(c); });
    return node;
  }
  function option(value, label, selected) {
    var o = el("option", {text: label});
    o.value = value;
    o.selected = !!selected;
    return o;
  }
  function csrf() {
    var input = document.querySelector("input[name=csrf_token]");
    return input ? input.value : "";
  }
  function loadMeta(url, entity) {
    if (!metaCache[entity]) {
      metaCache[entity] = fetch(url + encodeURIComponent(entity), {credentials: "same-origin"})
        .then(function (r) { if (!r.ok) { throw new Error(r.statusText); } return r.json(); });
    }
    return metaCache[entity];
  }

  // ---- the tree <-> JSON ----
  function parse(node) {
    if (node && (node.all || node.any)) {
      var mode = node.all ? "all" : "any";
      return {group: mode, items: (node[mode] || []).map(parse)};
    }
    if (node && typeof node.field === "string" && Object.keys(node).every(function (k) {
      return k === "field" || k === "op" || k === "value"; })) {
      return {field: node.field, op: node.op || "eq", value: node.value};
    }
    return {raw: node};  // predicates, "not": kept as they are, edited in the advanced view
  }
  function serialise(g) {
    if (g.raw !== undefined) { return g.raw; }
    if (g.group === undefined) {
      var leaf = {field: g.field, op: g.op};
      if (g.value !== undefined) { leaf.value = g.value; }
      return leaf;
    }
    var items = g.items.map(serialise);
    var out = {};
    out[g.group] = items;
    return out;
  }
  function rootOf(json) {
    if (json === null || json === undefined || (typeof json === "object" && !Object.keys(json).length)) {
      return {group: "all", items: [], bare: true};
    }
    var tree = parse(json);
    return tree.group !== undefined ? tree : {group: "all", items: [tree], bare: true};
  }
  function rootJson(root) {
    if (!root.items.length) { return null; }
    if (root.bare && root.items.length === 1 && root.group === "all") { return serialise(root.items[0]); }
    return serialise(root);
  }

  // ---- values ----
  function readValue(field, op, raw) {
    if (!field) { return raw; }
    var t = field.type;
    function one(v) {
      if (t === "int") { return v === "" ? null : parseInt(v, 10); }
      if (t === "num" || t === "money") { return v === "" ? null : Number(v); }
      if (t === "datetime" && v && v.length === 16) { return v + ":00" + offset(); }
      if (field.related === "user" || /_id$/.test(field.name)) { var n = parseInt(v, 10); return isNaN(n) ? v : n; }
      return v;
    }
    if (op === "in" || op === "not_in") { return raw.map(one); }
    return one(raw);
  }
  // ---- records picked by name: a search box, suggestions (keys and mouse), the picked ones by name ----
  var labelCache = {};
  function records(entity, params) {
    var query = "entity=" + encodeURIComponent(entity) + "&" + params;
    return fetch(T.records + (T.records.indexOf("?") < 0 ? "?" : "&") + query, {credentials: "same-origin"})
      .then(function (r) { if (!r.ok) { throw new Error(r.statusText); } return r.json(); })
      .then(function (data) {
        data.records.forEach(function (rec) { labelCache[entity + ":" + rec.value] = rec.label; });
        return data.records;
      });
  }
  function picker(field, leaf, many, changed) {
    var entity = field.related;
    var wrap = el("span", {cls: "cb-picker d-inline-flex flex-wrap align-items-center mr-1"});
    wrap.style.position = "relative";
    var picked = el("span", {cls: "cb-picked"});
    var input = el("input", {cls: "form-control form-control-sm cb-search", type: "text", role: "combobox",
      "aria-autocomplete": "list", "aria-expanded": "false", "aria-label": T.value, autocomplete: "off"});
    input.placeholder = T.search;
    var list = el("div", {cls: "list-group cb-suggestions shadow-sm", role: "listbox"});
    list.style.cssText = "position:absolute;top:100%;left:0;z-index:1000;min-width:16em;max-height:18em;overflow-y:auto;display:none";
    var items = [], active = -1, timer = null, asked = 0;
    function values() {
      if (many) { return (leaf.value || []).slice(); }
      return leaf.value === undefined || leaf.value === null || leaf.value === "" ? [] : [leaf.value];
    }
    function show() {
      picked.textContent = "";
      values().forEach(function (v) {
        var known = labelCache[entity + ":" + v];
        var chip = el("span", {cls: "badge badge-light border mr-1 cb-chip", text: known !== undefined ? known : "#" + v});
        if (known === undefined && labelCache[entity + ":" + v + ":unseen"]) { chip.title = T.unseen; chip.className += " text-muted"; }
        chip.setAttribute("data-value", String(v));
        var x = el("button", {type: "button", cls: "btn btn-link btn-sm p-0 ml-1 cb-chip-remove", "aria-label": T.remove, text: "\u00d7"});
        x.addEventListener("click", function () {
          if (many) { leaf.value = values().filter(function (w) { return String(w) !== String(v); }); } else { delete leaf.value; }
          show();
          changed();
        });
        chip.appendChild(x);
        picked.appendChild(chip);
      });
    }
    function close() { list.style.display = "none"; input.setAttribute("aria-expanded", "false"); items = []; active = -1; }
    function mark(i) {
      active = i;
      items.forEach(function (node, j) { node.classList.toggle("active", j === i); });
      if (items[i]) { items[i].scrollIntoView({block: "nearest"}); }
    }
    function choose(rec) {
      labelCache[entity + ":" + rec.value] = rec.label;
      if (many) {
        var now = values();
        if (now.map(String).indexOf(String(rec.value)) < 0) { now.push(rec.value); }
        leaf.value = now;
      } else { leaf.value = rec.value; }
      input.value = "";
      close();
      show();
      changed();
    }
    function suggest() {
      var text = input.value.trim();
      if (!text) { close(); return; }
      var mine = ++asked;
      records(entity, "q=" + encodeURIComponent(text)).then(function (found) {
        if (mine !== asked) { return; }
        list.textContent = "";
        items = found.map(function (rec) {
          var node = el("button", {type: "button", role: "option", cls: "list-group-item list-group-item-action py-1 cb-suggestion", text: rec.label});
          node.addEventListener("mousedown", function (event) { event.preventDefault(); choose(rec); });
          node.rec = rec;
          list.appendChild(node);
          return node;
        });
        if (!found.length) { list.appendChild(el("div", {cls: "list-group-item py-1 text-muted cb-no-match", text: T.noMatch})); }
        list.style.display = "block";
        input.setAttribute("aria-expanded", "true");
        mark(found.length ? 0 : -1);
      }).catch(function () { close(); });
    }
    input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(suggest, 250); });
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown" && items.length) { event.preventDefault(); mark((active + 1) % items.length); }
      else if (event.key === "ArrowUp" && items.length) { event.preventDefault(); mark((active - 1 + items.length) % items.length); }
      else if (event.key === "Enter") { event.preventDefault(); if (items[active]) { choose(items[active].rec); } }
      else if (event.key === "Escape") { close(); }
    });
    input.addEventListener("blur", function () { setTimeout(close, 150); });
    var unknown = values().filter(function (v) { return labelCache[entity + ":" + v] === undefined; });
    if (unknown.length) {  // a saved condition: its records by name
      records(entity, "ids=" + encodeURIComponent(unknown.join(","))).then(function () {
        unknown.forEach(function (v) { if (labelCache[entity + ":" + v] === undefined) { labelCache[entity + ":" + v + ":unseen"] = true; } });
        show();
      }).catch(function () { show(); });
    }
    show();
    wrap.appendChild(picked);
    wrap.appendChild(input);
    wrap.appendChild(list);
    return wrap;
  }
  function valueWidget(meta, field, leaf, changed) {
    var op = leaf.op;
    if (["is_null", "is_true", "is_false", "changed"].indexOf(op) >= 0) { return el("span"); }
    var many = op === "in" || op === "not_in";
    var choices = field && field.choices && field.choices.length ? field.choices : null;
    if (field && !choices && field.related === "user") { choices = meta.users; }
    if (field && !choices && field.related && T.records && ["eq", "ne", "in", "not_in"].indexOf(op) >= 0) {
      return picker(field, leaf, many, changed);
    }
    var input;
    if (choices) {
      input = el("select", {cls: "form-control form-control-sm mr-1 cb-value", "aria-label": T.value});
      if (many) { input.multiple = true; input.size = Math.min(5, choices.length); }
      var current = many ? (leaf.value || []).map(String) : [String(leaf.value)];
      if (!many) { input.appendChild(option("", "—", leaf.value === undefined)); }
      choices.forEach(function (c) { input.appendChild(option(c.value, c.label, current.indexOf(String(c.value)) >= 0)); });
      input.addEventListener("change", function () {
        var picked = Array.prototype.filter.call(input.options, function (o) { return o.selected && o.value !== ""; })
          .map(function (o) { return o.value; });
        leaf.value = readValue(field, op, many ? picked : (picked[0] || ""));
        changed();
      });
      return input;
    }
    var type = {int: "number", num: "number", money: "number", date: "date", datetime: "datetime-local"}[field && field.type] || "text";
    input = el("input", {cls: "form-control form-control-sm mr-1 cb-value", type: many ? "text" : type, "aria-label": T.value});
    if (type === "number") { input.step = field.type === "int" ? "1" : "any"; }
    if (many) { input.placeholder = T.commas; }
    var shown = leaf.value === undefined || leaf.value === null ? "" : (many ? (leaf.value || []).join(", ") : String(leaf.value));
    if (type === "datetime-local") { shown = shown.slice(0, 16); }
    input.value = shown;
    input.addEventListener("input", function () {
      var raw = many ? input.value.split(",").map(function (s) { return s.trim(); }).filter(Boolean) : input.value;
      leaf.value = readValue(field, op, raw);
      changed();
    });
    var wrap = el("span", {cls: "cb-value-wrap"}, [input]);
    if (field && field.type === "money") { wrap.appendChild(el("span", {cls: "small text-muted mr-1", text: T.currency})); }
    return wrap;
  }

  // ---- rendering ----
  function stored(text) {  // the posted condition; a value that is not JSON (never the builder's) starts it empty,
    try { return text ? JSON.parse(text) : null; } catch (e) { return null; }  // the server's message says why
  }

  function Builder(box) {
    this.box = box;
    this.input = document.getElementById(box.getAttribute("data-target"));
    this.root = rootOf(stored(this.input.value));
    this.entity = box.getAttribute("data-entity");
    var from = box.getAttribute("data-entity-from");
    var self = this;
    if (from) {
      var select = document.querySelector(from);
      this.entity = select.value;
      select.addEventListener("change", function () { self.entity = select.value; self.load(); });
    }
    this.load();
  }
  Builder.prototype.load = function () {
    var self = this;
    loadMeta(this.box.getAttribute("data-meta"), this.entity).then(function (meta) {
      self.meta = meta;
      self.fields = {};
      meta.fields.forEach(function (f) { self.fields[f.name] = f; });
      self.render();
    }).catch(function () { self.box.textContent = T.unavailable; });
  };
  Builder.prototype.changed = function () {
    var json = rootJson(this.root);
    this.input.value = json === null ? "" : JSON.stringify(json);
    if (this.advanced) { this.advanced.value = json === null ? "" : JSON.stringify(json, null, 2); }
    var self = this;
    clearTimeout(this.timer);
    this.timer = setTimeout(function () { self.count(json); }, 300);
  };
  Builder.prototype.count = function (json) {
    var out = this.result;
    if (!out || !this.box.getAttribute("data-matches")) { return; }
    fetch(this.box.getAttribute("data-matches") + encodeURIComponent(this.entity), {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf()},
      body: JSON.stringify({condition: json, limit: 5})
    }).then(function (r) { return r.json(); }).then(function (data) {
      out.textContent = "";
      if (data.errors) {
        Object.keys(data.errors).forEach(function (k) {
          [].concat(data.errors[k]).forEach(function (m) { out.appendChild(el("div", {cls: "text-danger", text: m})); });
        });
        return;
      }
      out.appendChild(el("strong", {cls: "cb-count", text: String(data.count)}));
      out.appendChild(document.createTextNode(" " + T.matching + (data.sample.length ? ": " : "")));
      out.appendChild(document.createTextNode(data.sample.map(function (s) { return s.title; }).join(", ")));
    }).catch(function () { out.textContent = T.unavailable; });
  };
  Builder.prototype.render = function () {
    var self = this;
    this.box.textContent = "";
    this.box.appendChild(this.group(this.root, null));
    this.result = el("div", {cls: "small cb-result mt-1", "aria-live": "polite"});
    this.box.appendChild(this.result);
    if (this.box.getAttribute("data-advanced") === "off") { this.advanced = null; this.changed(); return; }  // no JSON shown
    var details = el("details", {cls: "mt-1 cb-advanced"}, [el("summary", {cls: "small", text: T.advanced})]);
    this.advanced = el("textarea", {cls: "form-control form-control-sm text-monospace", rows: "4", "aria-label": T.advanced});
    var apply = el("button", {type: "button", cls: "btn btn-sm btn-outline-secondary mt-1 cb-apply", text: T.apply});
    var problem = el("div", {cls: "small text-danger"});
    apply.addEventListener("click", function () {
      try {
        var text = self.advanced.value.trim();
        self.root = rootOf(text ? JSON.parse(text) : null);
        problem.textContent = "";
        self.render();
      } catch (e) { problem.textContent = T.badJson + " " + e.message; }
    });
    details.appendChild(this.advanced);
    details.appendChild(apply);
    details.appendChild(problem);
    this.box.appendChild(details);
    this.changed();
  };
  Builder.prototype.group = function (g, parent) {
    var self = this;
    var box = el("div", {cls: "cb-group border-left pl-2 mb-1"});
    var mode = el("select", {cls: "form-control form-control-sm d-inline-block w-auto mr-1 cb-mode", "aria-label": T.match});
    mode.appendChild(option("all", T.all, g.group === "all"));
    mode.appendChild(option("any", T.any, g.group === "any"));
    mode.addEventListener("change", function () { g.group = mode.value; g.bare = false; self.changed(); });
    var head = el("div", {cls: "form-inline mb-1"}, [mode]);
    var addLeaf = el("button", {type: "button", cls: "btn btn-sm btn-outline-primary mr-1 cb-add", text: T.addCondition});
    addLeaf.addEventListener("click", function () {
      var first = self.meta.fields[0];
      g.items.push({field: first.name, op: self.meta.operators[first.type][0]});
      self.render();
    });
    var addGroup = el("button", {type: "button", cls: "btn btn-sm btn-outline-secondary mr-1 cb-add-group", text: T.addGroup});
    addGroup.addEventListener("click", function () { g.items.push({group: "any", items: []}); self.render(); });
    head.appendChild(addLeaf);
    head.appendChild(addGroup);
    if (parent) { head.appendChild(this.remover(parent, g)); }
    box.appendChild(head);
    g.items.forEach(function (item) {
      box.appendChild(item.group !== undefined ? self.group(item, g) : item.raw !== undefined ? self.raw(item, g) : self.leaf(item, g));
    });
    return box;
  };
  Builder.prototype.remover = function (parent, item) {
    var self = this;
    var b = el("button", {type: "button", cls: "btn btn-sm btn-link text-danger cb-remove", text: T.remove});
    b.addEventListener("click", function () { parent.items.splice(parent.items.indexOf(item), 1); self.render(); });
    return b;
  };
  Builder.prototype.raw = function (item, parent) {
    if (this.box.getAttribute("data-advanced") === "off") {  // kept as it is, shown in words only
      return el("div", {cls: "form-inline mb-1 cb-raw"}, [el("span", {cls: "small text-muted mr-1", text: T.rawKept}),
        this.remover(parent, item)]);
    }
    return el("div", {cls: "form-inline mb-1"}, [el("code", {cls: "mr-1", text: JSON.stringify(item.raw)}),
      el("span", {cls: "small text-muted mr-1", text: T.rawHint}), this.remover(parent, item)]);
  };
  Builder.prototype.leaf = function (leaf, parent) {
    var self = this;
    var row = el("div", {cls: "form-inline mb-1 cb-leaf"});
    var fieldSel = el("select", {cls: "form-control form-control-sm mr-1 cb-field", "aria-label": T.field});
    var groups = {};
    if (!this.fields[leaf.field]) { fieldSel.appendChild(option(leaf.field, leaf.field, true)); }
    this.meta.fields.forEach(function (f) {
      var key = f.source;
      if (!groups[key]) { groups[key] = el("optgroup", {label: T.sources[key] || key}); fieldSel.appendChild(groups[key]); }
      groups[key].appendChild(option(f.name, f.label, f.name === leaf.field));
    });
    var field = this.fields[leaf.field];
    var opSel = el("select", {cls: "form-control form-control-sm mr-1 cb-op", "aria-label": T.operator});
    var ops = field ? this.meta.operators[field.type] : Object.keys(T.ops);
    if (field && field.type === "str" && field.choices.length) {
      ops = ops.filter(function (o) { return ["eq", "ne", "in", "not_in", "is_null"].indexOf(o) >= 0; });
    }
    ops.forEach(function (o) { opSel.appendChild(option(o, T.ops[o] || o, o === leaf.op)); });
    fieldSel.addEventListener("change", function () {
      leaf.field = fieldSel.value;
      var f = self.fields[leaf.field];
      var allowed = f ? self.meta.operators[f.type] : [];
      if (allowed.indexOf(leaf.op) < 0) { leaf.op = allowed[0]; }
      delete leaf.value;
      self.render();
    });
    opSel.addEventListener("change", function () {
      var before = leaf.op;
      leaf.op = opSel.value;
      if ((before === "in" || before === "not_in") !== (leaf.op === "in" || leaf.op === "not_in")) { delete leaf.value; }
      if (leaf.op === "is_null") { leaf.value = true; } else if (["is_true", "is_false", "changed"].indexOf(leaf.op) >= 0) { delete leaf.value; }
      self.render();
    });
    row.appendChild(fieldSel);
    row.appendChild(opSel);
    row.appendChild(valueWidget(this.meta, field, leaf, function () { self.changed(); }));
    row.appendChild(this.remover(parent, leaf));
    return row;
  };

  // One record picked by name outside a condition (the check page's record): a box with data-record-picker, its
  // record type read from the select data-entity-from names, the id written into the input data-target names
  // (a number input without the script; hidden once the picker stands in for it).
  // A box with data-entity instead (a workflow state's field that holds a record) picks from that record type.
  function recordPicker(box) {
    var target = document.getElementById(box.getAttribute("data-target"));
    var fixed = box.getAttribute("data-entity");
    var from = fixed ? null : document.querySelector(box.getAttribute("data-entity-from"));
    if (!target || !(fixed || from)) { return; }
    target.type = "hidden";
    Array.prototype.forEach.call(box.parentNode.querySelectorAll(".set-record-label"), function (n) { n.hidden = true; });
    function draw() {
      var id = parseInt(target.value, 10);
      var leaf = isNaN(id) ? {} : {value: id};
      box.textContent = "";
      box.appendChild(picker({related: fixed || from.value}, leaf, false, function () {
        target.value = leaf.value === undefined ? "" : String(leaf.value);
      }));
    }
    if (from) { from.addEventListener("change", function () { target.value = ""; draw(); }); }
    draw();
  }
  function start() {
    Array.prototype.forEach.call(document.querySelectorAll(".condition-builder"), function (box) {
      if (!box.builder) { box.builder = new Builder(box); }
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-record-picker]"), function (box) {
      if (!box.picker) { box.picker = true; recordPicker(box); }
    });
  }
  // "Add" buttons of repeated blocks (tiers, states, transitions): a copy of a <template>, numbered
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-repeat]") : null;
    if (!button) { return; }
    var template = document.getElementById(button.getAttribute("data-repeat"));
    var into = document.getElementById(button.getAttribute("data-into"));
    var next = parseInt(into.getAttribute("data-next") || "0", 10);
    into.setAttribute("data-next", String(next + 1));
    var copy = template.content.cloneNode(true);
    Array.prototype.forEach.call(copy.querySelectorAll("[name],[id],[for],[data-target],[data-removes],[data-into],[data-state]"), function (node) {
      ["name", "id", "for", "data-target", "data-removes", "data-into", "data-state"].forEach(function (attr) {
        var v = node.getAttribute(attr);
        if (v) { node.setAttribute(attr, v.split("__i__").join(String(next))); }
      });
    });
    into.appendChild(copy);
    start();
  });
  document.addEventListener("change", function (event) {
    var box = event.target.getAttribute && event.target.getAttribute("data-removes");
    var node = box ? document.getElementById(box) : null;
    if (node) { node.classList.toggle("text-muted", event.target.checked); }
  });
  window.crmConditionBuilders = start;
  document.addEventListener("DOMContentLoaded", start);
})();
