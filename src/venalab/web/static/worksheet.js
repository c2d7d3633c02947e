// venalab worksheet: the exam document as a form. No clinical rule lives here: the engine
// interprets (POST /api/worksheet/assess), the model validates (its problems are shown beside
// the fields), and the controls are described by the model's schema (#worksheet-spec, built
// by web/worksheet_form.py).
//
// Nothing is lost: the document is read as the document the page was opened with, changed
// only where a control was changed. A field without a control is kept as it was (and listed);
// an untouched control gives back exactly the stored value. Nothing is misread: numbers and
// dates are read by worksheet-values.js, which notes or refuses anything not plain.
(function () {
  "use strict";
  const form = document.getElementById("worksheet");
  if (!form) return;
  const V = window.VenalabValues;
  const SPEC = JSON.parse(document.getElementById("worksheet-spec").textContent);
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const SIDES = ["left", "right"];
  const SEG_FIELDS = SPEC.segment_fields.concat(SPEC.thrombus_fields);
  const FIELD = Object.fromEntries(SEG_FIELDS.map((f) => [f.path, f]));
  const GRID = SPEC.segment_fields.filter((f) => SPEC.grid_columns.includes(f.key));
  const DETAILS = SEG_FIELDS.filter((f) => !SPEC.grid_columns.includes(f.key));
  const VEIN_NAME = Object.fromEntries(SPEC.veins.map((v) => [v.value, v.name]));
  const KNEE = SPEC.site_presets; // [{key, title, site, label, veins}]

  // ------------------------------------------------------------------ small helpers
  const clone = (x) => (x === undefined ? undefined : JSON.parse(JSON.stringify(x)));
  function tokens(path) {
    const out = [];
    path.replace(/([^.[\]]+)|\[(\d+)\]/g, (_, name, i) => { out.push(i !== undefined ? Number(i) : name); return ""; });
    return out;
  }
  function getPath(obj, path) {
    return tokens(path).reduce((o, k) => (o == null ? undefined : o[k]), obj);
  }
  function hasPath(obj, path) {
    const keys = tokens(path);
    let o = obj;
    for (const k of keys) {
      if (o == null || typeof o !== "object" || !(k in o)) return false;
      o = o[k];
    }
    return true;
  }
  function setPath(obj, path, value) {
    const keys = tokens(path);
    let o = obj;
    keys.slice(0, -1).forEach((k) => {
      if (o[k] === undefined || o[k] === null || typeof o[k] !== "object") o[k] = {};
      o = o[k];
    });
    o[keys[keys.length - 1]] = value;
  }
  function deletePath(obj, path) {
    const keys = tokens(path);
    const parent = keys.length > 1 ? getPath(obj, path.replace(/(\.[^.[\]]+|\[\d+\])$/, "")) : obj;
    if (parent && typeof parent === "object") delete parent[keys[keys.length - 1]];
  }
  function canonical(x) { // key order does not matter when comparing documents
    if (Array.isArray(x)) return "[" + x.map(canonical).join(",") + "]";
    if (x && typeof x === "object") {
      return "{" + Object.keys(x).sort().map((k) => JSON.stringify(k) + ":" + canonical(x[k])).join(",") + "}";
    }
    return JSON.stringify(x);
  }
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v; else e.setAttribute(k, v === true ? "" : String(v));
    }
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function announce(side, text) {
    const p = form.querySelector(`.leg-status[data-side="${side}"]`);
    if (p) p.textContent = text;
  }

  // ------------------------------------------------------------------ controls
  // Every control remembers the text it was filled with (`_orig`) and the stored value
  // (`_value`, `_present`); untouched, it gives back the stored value exactly.
  function valueText(value, kind) {
    if (value === undefined || value === null) return "";
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }
  function ensureOption(select, text) {
    if (text === "" || Array.from(select.options).some((o) => o.value === text)) return;
    // a value the choices lack (a draft, an older format): shown as it is, never replaced
    select.appendChild(el("option", { value: text, "data-foreign": "1" }, text + " (not a choice)"));
  }
  function fillControl(c, value, present) {
    const text = valueText(value, c.dataset.kind);
    if (c.tagName === "SELECT") ensureOption(c, text);
    c.value = text;
    c._orig = c.value;
    c._value = clone(value);
    c._present = present;
  }
  function touched(c) { return c._orig === undefined ? c.value !== "" : c.value !== c._orig; }

  // The reading of one control: {empty} | {value, note?} | {error} | {question}
  function readControl(c) {
    const kind = c.dataset.kind;
    const raw = c.value;
    if (kind === "number" || kind === "int") {
      if (c.tagName === "SELECT") return raw === "" ? { empty: true } : { value: Number(raw) };
      const r = V.parseNumber(raw, kind);
      if (r.value !== undefined && touched(c)) {
        const unit = c.dataset.unit;
        const q = V.smallUnitQuestion(r.value, unit, SPEC.small_unit_questions[unit]);
        if (q && c._confirmed !== raw) return Object.assign({}, r, { question: q });
      }
      return r;
    }
    if (kind === "date") return V.parseDate(raw);
    if (raw === "") return { empty: true };
    if (kind === "bool") return raw === "true" ? { value: true } : raw === "false" ? { value: false } : { error: `"${raw}" is not yes or no` };
    return { value: raw };
  }

  // Client-side messages beside a control (notes, refusals, questions).
  function setNote(c, r) {
    const cell = c.closest("td, label, .field") || c.parentElement;
    let note = cell.querySelector(`:scope > .client-note[data-for="${c._noteId}"]`);
    if (!c._noteId) c._noteId = "n" + Math.random().toString(36).slice(2);
    const text = r.error || (r.question && r.question.text) || r.note || "";
    if (!text) { if (note) note.remove(); c.classList.remove("invalid", "asking"); c.removeAttribute("aria-invalid"); return; }
    if (!note || note.dataset.text !== text) {
      if (note) note.remove();
      note = el("span", { class: "client-note " + (r.error ? "field-error" : r.question ? "question" : "note"), "data-for": c._noteId, role: r.note && !r.error && !r.question ? null : "alert" });
      note.dataset.text = text;
      note.appendChild(document.createTextNode(text + " "));
      if (r.question) {
        const yes = el("button", { type: "button", class: "small-button" }, `It is ${r.question.converted} ${c.dataset.unit}`);
        const no = el("button", { type: "button", class: "small-button secondary" }, `Keep ${c.value} ${c.dataset.unit}`);
        yes.addEventListener("click", () => { c.value = String(r.question.converted); c.focus(); changed(); });
        no.addEventListener("click", () => { c._confirmed = c.value; c.focus(); changed(); });
        note.append(yes, " ", no);
      }
      c.insertAdjacentElement("afterend", note);
    }
    c.classList.toggle("invalid", !!r.error);
    c.classList.toggle("asking", !!r.question);
    if (r.error || r.question) c.setAttribute("aria-invalid", "true"); else c.removeAttribute("aria-invalid");
  }

  // ------------------------------------------------------------------ segment rows
  function makeControl(f) {
    let c;
    if (f.kind === "enum" || f.kind === "bool" || (f.kind === "int" && f.options.length)) {
      c = el("select");
      if (f.nullable || f.key === "vein") c.appendChild(el("option", { value: "" }, ""));
      if (f.key === "vein") {
        for (const v of SPEC.veins) c.appendChild(el("option", { value: v.value }, `${v.value} \u2013 ${v.name}`));
      } else {
        for (const [value, text] of f.options) c.appendChild(el("option", { value: value }, text));
        if (f.key === "site") for (const p of KNEE) c.appendChild(el("option", { value: p.key, "data-preset": "1" }, p.title));
      }
    } else {
      c = el("input", { type: "text", autocomplete: "off" });
      if (f.kind === "number" || f.kind === "int") { c.inputMode = f.kind === "int" ? "numeric" : "decimal"; if (f.unit) c.dataset.unit = f.unit; }
      if (f.max_length) c.maxLength = f.max_length;
    }
    c.dataset.field = f.path;
    c.dataset.kind = f.kind;
    const range = f.minimum !== null || f.maximum !== null ? ` Allowed: ${f.minimum ?? ""} to ${f.maximum ?? ""}${f.unit ? " " + f.unit : ""}.` : "";
    if (f.help || range) c.title = (f.help + range).trim();
    return c;
  }

  function rowControls(tr) { return Array.from(tr.querySelectorAll("[data-field]")); }
  function rowControl(tr, path) { return tr.querySelector(`[data-field="${path}"]`); }

  function kneeOf(vein, site, label) {
    return KNEE.find((p) => p.veins.includes(vein) && p.site === site && p.label === label);
  }

  function addRow(side, seg, opts) {
    const tbody = form.querySelector(`table.segments[data-side="${side}"] tbody`);
    const tr = el("tr", { class: "seg" });
    tr._base = seg && typeof seg === "object" && !Array.isArray(seg) ? clone(seg) : {};
    const fromDoc = !!(opts && opts.stored);
    for (const f of GRID) {
      const td = el("td", { "data-label": f.label + (f.unit ? ` (${f.unit})` : ""), class: "c-" + f.key });
      const c = makeControl(f);
      td.appendChild(c);
      tr.appendChild(td);
    }
    const verdict = el("td", { class: "verdict", "data-label": "Verdict", "aria-live": "off" });
    tr.appendChild(verdict);
    const actions = el("td", { class: "actions" });
    const more = el("button", { type: "button", class: "link more", "aria-expanded": "false", title: "More fields of this row" }, "\u22ef");
    const del = el("button", { type: "button", class: "link remove", title: "Remove this row" }, "\u00d7");
    more.addEventListener("click", () => toggleDetails(tr));
    del.addEventListener("click", () => removeRow(tr));
    actions.append(more, del);
    tr.appendChild(actions);
    const details = el("td", { class: "details", hidden: true });
    const box = el("div", { class: "detail-fields" });
    for (const f of DETAILS) {
      const label = el("label", { class: "field" });
      label.appendChild(document.createTextNode(f.label + (f.unit ? ` (${f.unit})` : "")));
      label.appendChild(makeControl(f));
      box.appendChild(label);
    }
    details.appendChild(box);
    details.appendChild(el("ul", { class: "kept small mono" }));
    tr.appendChild(details);
    tbody.appendChild(tr);
    fillRow(tr, tr._base, fromDoc);
    labelRow(tr, side);
    return tr;
  }

  function fillRow(tr, seg, stored) {
    for (const c of rowControls(tr)) {
      const path = c.dataset.field;
      let value, present;
      if (path === "thrombus") {
        present = seg.thrombus !== undefined && seg.thrombus !== null;
        value = present ? (typeof seg.thrombus === "object" && seg.thrombus.age !== undefined ? seg.thrombus.age : "present") : undefined;
      } else if (path === "site" && kneeOf(seg.vein, seg.site, seg.label)) {
        present = true;
        value = kneeOf(seg.vein, seg.site, seg.label).key;
      } else {
        present = hasPath(seg, path);
        value = getPath(seg, path);
      }
      fillControl(c, value, present);
      if (!stored) c._orig = ""; // a new row's preset values count as typed
    }
    tr._stored = stored;
    showKept(tr);
  }

  function toggleDetails(tr, open) {
    const td = tr.querySelector("td.details");
    const show = open === undefined ? td.hidden : open;
    td.hidden = !show;
    tr.querySelector("button.more").setAttribute("aria-expanded", String(show));
  }

  function removeRow(tr) {
    const side = tr.closest("table").dataset.side;
    const next = tr.nextElementSibling || tr.previousElementSibling;
    tr.remove();
    if (next) rowControl(next, "vein").focus();
    announce(side, "Row removed.");
    changed();
  }

  function labelRow(tr, side) {
    const vein = rowControl(tr, "vein").value;
    const siteSel = rowControl(tr, "site");
    const site = siteSel ? (siteSel.selectedOptions[0] || {}).textContent || "" : "";
    const n = Array.from(tr.parentElement.children).indexOf(tr) + 1;
    const who = vein ? `${side} ${vein}${site ? " " + site : ""}` : `${side} row ${n}`;
    for (const c of rowControls(tr)) {
      const f = FIELD[c.dataset.field];
      if (c.dataset.field === "vein") { c.setAttribute("aria-label", `${side} row ${n} vein`); continue; }
      c.setAttribute("aria-label", `${who} ${f.label.toLowerCase()}${f.unit ? " " + f.unit : ""}`);
    }
    tr.querySelector("button.remove").setAttribute("aria-label", `remove ${who} row`);
    tr.querySelector("button.more").setAttribute("aria-label", `more fields of ${who} row`);
    tr.setAttribute("aria-label", who);
    if (vein) tr.querySelector("td.c-vein").title = VEIN_NAME[vein] || "";
  }

  // Fields of a row the worksheet has no control for: listed read-only, kept when saving.
  function showKept(tr) {
    const list = tr.querySelector("ul.kept");
    list.textContent = "";
    const covered = new Set(SEG_FIELDS.map((f) => f.path));
    const walk = (obj, prefix) => {
      for (const [k, v] of Object.entries(obj || {})) {
        const path = prefix ? `${prefix}.${k}` : k;
        if (covered.has(path)) continue;
        const nested = path === "thrombus" || Array.from(covered).some((p) => p.startsWith(path + "."));
        if (nested && v && typeof v === "object" && !Array.isArray(v)) { walk(v, path); continue; }
        if (path === "thrombus.age") continue;
        list.appendChild(el("li", {}, `${path}: ${JSON.stringify(v)} (kept)`));
      }
    };
    walk(tr._base, "");
    if (list.children.length) toggleDetails(tr, true); // values without a field: always shown
    summariseDetails(tr);
  }

  // What the detail line holds, under the vein: visible even while the line is closed.
  function summariseDetails(tr) {
    const cell = tr.querySelector("td.c-vein");
    let sum = cell.querySelector(".detail-summary");
    const parts = [];
    for (const f of DETAILS) {
      const c = rowControl(tr, f.path);
      if (c.value === "") continue;
      const shown = c.tagName === "SELECT" ? (c.selectedOptions[0] || {}).textContent : c.value;
      parts.push(`${f.label.toLowerCase()} ${shown}${f.unit ? " " + f.unit : ""}`);
    }
    const kept = tr.querySelectorAll("ul.kept li").length;
    if (kept) parts.push(`${kept} more kept`);
    if (!parts.length) { if (sum) sum.remove(); return; }
    if (!sum) { sum = el("span", { class: "detail-summary small muted" }); cell.appendChild(sum); }
    sum.textContent = parts.join(" \u00b7 ");
  }

  // ------------------------------------------------------------------ document <-> form
  let base = {};
  let savedCanonical = "";

  function topControls() {
    return Array.from(form.querySelectorAll("[data-path][data-kind]")).filter((c) => !c.closest("table.segments") && c.dataset.kind !== "reason");
  }
  function legExamined(side) {
    return form.querySelector(`.leg-examined[data-side="${side}"]`).checked;
  }
  function toggleLeg(side) {
    const fs = form.querySelector(`.leg[data-side="${side}"]`);
    const on = legExamined(side);
    fs.classList.toggle("off", !on);
    const rows = fs.querySelectorAll("tbody tr").length;
    const hint = fs.querySelector(".leg-hidden");
    hint.hidden = on || !rows;
    hint.textContent = rows ? `${rows} row(s) hidden: they are not saved while this leg is not ticked.` : "";
  }

  function fill(doc) {
    base = doc && typeof doc === "object" && !Array.isArray(doc) ? clone(doc) : {};
    for (const c of topControls()) fillControl(c, getPath(base, c.dataset.path), hasPath(base, c.dataset.path));
    form.querySelectorAll("[data-list]").forEach((box) => {
      const list = getPath(base, box.dataset.list);
      box.checked = Array.isArray(list) && list.includes(box.value);
    });
    for (const side of SIDES) {
      const leg = base.legs && typeof base.legs === "object" ? base.legs[side] : undefined;
      form.querySelector(`.leg-examined[data-side="${side}"]`).checked = leg !== undefined && leg !== null;
      form.querySelector(`table.segments[data-side="${side}"] tbody`).textContent = "";
      const segs = leg && Array.isArray(leg.segments) ? leg.segments : [];
      segs.forEach((seg) => addRow(side, seg, { stored: true }));
      toggleLeg(side);
    }
    showKeptTop();
    openSectionsWithData();
  }

  function openSectionsWithData() {
    form.querySelectorAll("details.section").forEach((d) => {
      const v = getPath(base, d.dataset.group);
      if (v && typeof v === "object" && Object.keys(v).length) d.open = true;
    });
  }

  // Top-level fields without a control: listed, kept.
  function showKeptTop() {
    const covered = new Set(["format"]);
    topControls().forEach((c) => covered.add(c.dataset.quantity || c.dataset.quantityUnit || c.dataset.path));
    form.querySelectorAll("[data-list]").forEach((c) => covered.add(c.dataset.list));
    SIDES.forEach((side) => covered.add(`legs.${side}.segments`));
    const out = [];
    const walk = (obj, path) => {
      if (covered.has(path)) return;
      if (obj && typeof obj === "object" && !Array.isArray(obj)) {
        for (const [k, v] of Object.entries(obj)) walk(v, path ? `${path}.${k}` : k);
        return;
      }
      out.push(`${path}: ${JSON.stringify(obj)}`);
    };
    walk(base, "");
    const box = document.getElementById("kept-fields");
    const ul = box.querySelector("ul");
    ul.textContent = "";
    out.forEach((t) => ul.appendChild(el("li", {}, t)));
    box.hidden = out.length === 0;
  }

  // Reading: purpose "save" and "assess" give a document for the server (values refused here
  // left out, and listed in `issues`); "draft" keeps every typed text, so nothing is lost.
  function readDocument(purpose) {
    const doc = clone(base) || {};
    const issues = []; // {control?, row?, side?, message, blocking}
    const rowsSent = { left: [], right: [] };
    if (doc.format === undefined) doc.format = "venous-exam/1";
    if (!doc.legs || typeof doc.legs !== "object" || Array.isArray(doc.legs)) doc.legs = {};
    for (const side of SIDES) {
      if (!legExamined(side)) { delete doc.legs[side]; continue; }
      if (!doc.legs[side] || typeof doc.legs[side] !== "object") doc.legs[side] = {};
    }
    const skip = (c) => { const leg = c.closest(".leg"); return leg && !legExamined(leg.dataset.side); };
    const quantities = new Set();
    for (const c of topControls()) {
      if (skip(c)) continue;
      if (c.dataset.quantity || c.dataset.quantityUnit) { quantities.add(c.dataset.quantity || c.dataset.quantityUnit); continue; }
      applyControl(doc, c, c.dataset.path, purpose, issues);
    }
    quantities.forEach((path) => readQuantity(doc, path, purpose, issues));
    readLists(doc, skip);
    for (const side of SIDES) {
      if (!legExamined(side)) continue;
      const leg = doc.legs[side];
      const segs = [];
      form.querySelectorAll(`table.segments[data-side="${side}"] tbody tr`).forEach((tr) => {
        const seg = readRow(tr, side, purpose, issues);
        if (seg === null) return;
        segs.push(seg);
        rowsSent[side].push(tr);
      });
      if (segs.length || Array.isArray(leg.segments)) leg.segments = segs;
    }
    return { doc: doc, issues: issues, rowsSent: rowsSent };
  }

  function applyControl(target, c, path, purpose, issues) {
    const r = readControl(c);
    setNote(c, r);
    if (r.error || r.question) {
      issues.push({ control: c, message: r.error || r.question.text, blocking: true });
      if (purpose === "draft") { setPath(target, path, c.value); return; }
      if (touched(c) || purpose === "assess") deletePath(target, path);
      return;
    }
    if (!touched(c)) return; // exactly as stored
    if (r.empty) deletePath(target, path); else setPath(target, path, r.value);
  }

  function readQuantity(doc, path, purpose, issues) {
    const value = form.querySelector(`[data-quantity="${CSS.escape(path)}"]`);
    const unit = form.querySelector(`[data-quantity-unit="${CSS.escape(path)}"]`);
    const r = readControl(value);
    setNote(value, r);
    if (!touched(value) && !touched(unit)) return;
    if (r.error) {
      issues.push({ control: value, message: r.error, blocking: true });
      if (purpose === "draft") setPath(doc, path, { value: value.value, unit: unit.value }); else deletePath(doc, path);
      return;
    }
    if (r.empty) { deletePath(doc, path); return; }
    const prev = getPath(doc, path);
    setPath(doc, path, Object.assign({}, prev && typeof prev === "object" ? prev : {}, { value: r.value, unit: unit.value }));
  }

  function readLists(doc, skip) {
    const groups = {};
    form.querySelectorAll("[data-list]").forEach((box) => {
      if (skip(box)) return;
      (groups[box.dataset.list] = groups[box.dataset.list] || []).push(box);
    });
    for (const [path, boxes] of Object.entries(groups)) {
      const checked = boxes.filter((b) => b.checked).map((b) => b.value);
      const before = getPath(doc, path);
      const list = Array.isArray(before) ? before : [];
      const same = checked.length === new Set(list).size && checked.every((v) => list.includes(v));
      if (same) continue; // unchanged (order and repeats as stored)
      setPath(doc, path, list.filter((v) => checked.includes(v)).concat(checked.filter((v) => !list.includes(v))));
    }
  }

  function readRow(tr, side, purpose, issues) {
    const seg = clone(tr._base) || {};
    const veinCtl = rowControl(tr, "vein");
    let hasValue = Object.keys(tr._base).some((k) => k !== "vein");
    let thrombusState = null;
    const detailsOfThrombus = [];
    for (const c of rowControls(tr)) {
      const path = c.dataset.field;
      if (c.value !== "" && path !== "vein") hasValue = true;
      if (path === "thrombus") { thrombusState = c; continue; }
      if (path === "site") {
        const r = readControl(c);
        if (!touched(c)) continue;
        const preset = KNEE.find((p) => p.key === c.value);
        if (preset) setPath(seg, "site", preset.site);
        else if (r.empty) deletePath(seg, "site"); else setPath(seg, "site", r.value);
        continue;
      }
      if (path.startsWith("thrombus.")) { detailsOfThrombus.push(c); continue; } // below
      applyControl(seg, c, path, purpose, issues);
    }
    // The thrombus column: empty = no thrombus, "present" = a thrombus without age.
    if (thrombusState && touched(thrombusState)) {
      const v = thrombusState.value;
      if (v === "") delete seg.thrombus;
      else {
        const t = seg.thrombus && typeof seg.thrombus === "object" ? seg.thrombus : {};
        if (v === "present") delete t.age; else t.age = v;
        seg.thrombus = t;
      }
    }
    if (seg.thrombus && typeof seg.thrombus === "object") {
      for (const c of detailsOfThrombus) applyControl(seg, c, c.dataset.field, purpose, issues);
    } else if (detailsOfThrombus.some((c) => c.value !== "")) {
      issues.push({ row: tr, side: side, blocking: true, message: "thrombus details are filled but the Thrombus column says none: choose the thrombus age (or 'present'), or clear the details" });
    }
    // a nested record (treatment) emptied here, or never there: not sent as {}
    for (const [k, v] of Object.entries(seg)) {
      if (k !== "thrombus" && v && typeof v === "object" && !Array.isArray(v) && !Object.keys(v).length && !(tr._base[k] && Object.keys(tr._base[k]).length === 0)) delete seg[k];
    }
    if (!veinCtl.value) {
      if (!hasValue) return null; // an empty new row: nothing to keep or ask
      issues.push({ row: tr, side: side, blocking: true, control: veinCtl, message: "incomplete row: values without a vein; choose the vein (or remove the row)" });
      if (purpose !== "draft") return null;
      delete seg.vein;
      return seg;
    }
    return seg;
  }

  // ------------------------------------------------------------------ live interpretation
  let timer = null;
  let seq = 0;
  let lastAnswer = null;
  function changed() {
    clearTimeout(timer);
    timer = setTimeout(live, 250);
    scheduleDraft();
  }

  async function post(url, body, method) {
    return fetch(url, {
      method: method || "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  async function live() {
    const mine = ++seq;
    const read = readDocument("assess");
    const criteria = document.getElementById("criteria").value;
    let resp;
    try {
      resp = await post(`/api/worksheet/assess?criteria=${encodeURIComponent(criteria)}`, read.doc);
    } catch (e) {
      setSummary(["The interpretation service could not be reached; your input is kept."]);
      form.dataset.ready = "1";
      return;
    }
    if (mine !== seq) return; // a newer request is on its way
    const body = await resp.json().catch(() => ({}));
    if (mine !== seq) return;
    clearServerProblems();
    form.dataset.ready = "1";
    if (!resp.ok) {
      clearVerdicts();
      showProblems(read, (body.error && body.error.problems) || [], body.error && body.error.message);
      setSummary(["Fix the highlighted fields to see the interpretation."]);
      return;
    }
    lastAnswer = body;
    showAnswer(read, body);
  }

  function setSummary(lines) {
    const s = document.getElementById("live-summary");
    s.textContent = "";
    lines.forEach((l) => s.appendChild(el("div", {}, l)));
  }

  function clearVerdicts() {
    form.querySelectorAll("td.verdict").forEach((td) => { td.textContent = ""; td.className = "verdict"; });
    document.getElementById("live-findings").textContent = "";
  }

  function verdictText(seg, leg) {
    let text = String(seg.reflux).replace(/-/g, " ");
    let cls = seg.reflux;
    if (seg.reflux === "present") text = `reflux (${seg.comparison} ${seg.threshold_ms} ms)`;
    if (seg.reflux === "absent") text = "no reflux";
    if (seg.reflux === "boundary") text = seg.abnormal ? "boundary: reflux" : "boundary: no reflux";
    if (seg.thrombus) { text = `thrombus${seg.thrombus.age ? " (" + seg.thrombus.age + ")" : ""}`; cls = "thrombus"; }
    const perf = (leg.perforators || []).find((p) => p.vein === seg.vein && p.measured_ms === seg.measured_ms && p.label === seg.label && p.site === seg.site);
    if (perf && perf.pathologic) { text = "pathologic perforator"; cls = "present"; }
    if (!seg.thrombus && seg.reflux === "not-assessed" && seg.compressibility) {
      text = seg.compressibility === "full" ? "compressible" : `${seg.compressibility === "none" ? "not" : "partially"} compressible`;
      cls = seg.compressibility === "full" ? "absent" : "present";
    }
    return [text, cls];
  }

  function showAnswer(read, answer) {
    const result = answer.result;
    const lines = [];
    for (const side of SIDES) {
      const leg = result ? result.legs[side] : null;
      const sent = read.rowsSent[side];
      form.querySelectorAll(`table.segments[data-side="${side}"] tbody tr`).forEach((tr) => {
        const td = tr.querySelector("td.verdict");
        td.className = "verdict"; td.textContent = "";
        tr.classList.remove("invalid");
      });
      if (leg) {
        (answer.rows[side] || []).forEach((sentIndex, j) => {
          const tr = sent[sentIndex];
          const seg = leg.segments[j];
          if (!tr || !seg) return;
          const td = tr.querySelector("td.verdict");
          const [text, cls] = verdictText(seg, leg);
          td.textContent = text;
          td.classList.add("v-" + cls);
          td.title = (seg.evidence.note || "") + ` [${seg.evidence.rule}; ${seg.evidence.sources.join(", ")}]`;
        });
        const patterns = Object.entries(leg.reflux_patterns).map(([k, v]) => `${k} ${v}`).join(", ") || "no reflux";
        const ceap = leg.ceap ? `CEAP ${leg.ceap.basic}` : "CEAP not assessed";
        lines.push(`${side}: ${ceap}; ${patterns}; thrombosis ${leg.thrombosis.classification}`);
      }
    }
    showProblems(read, answer.problems, null, answer.assumed);
    if (result && result.wells_dvt) lines.push(`Wells: ${result.wells_dvt.score ?? "incomplete"} (${result.wells_dvt.two_level || "?"})`);
    if (answer.assumed.length) lines.push(`Not filled in yet (no verdict depends on them): ${answer.assumed.join(", ")}.`);
    if (answer.left_out.length) lines.push(`Left out of the interpretation until corrected: ${answer.left_out.join(", ")}.`);
    const dropped = answer.problems.filter((p) => /^legs\.(left|right)\.segments\[\d+\]/.test(p.path)).length;
    if (dropped) lines.push("Rows with a problem have no verdict until corrected; the other rows are interpreted.");
    if (!result) lines.push(answer.problems.length ? "Fix the highlighted fields to see the interpretation." : "Tick a leg and enter measurements.");
    setSummary(lines);
    const list = document.getElementById("live-findings");
    list.textContent = "";
    if (result) {
      result.findings.filter((f) => f.importance <= 3).forEach((f) => {
        const li = el("li", {}, f.text + " ");
        li.appendChild(el("span", { class: "src" }, f.evidence.sources.join(", ")));
        list.appendChild(li);
      });
    }
    showMap(answer.map);
  }

  // ------------------------------------------------------------------ problems
  function clearServerProblems() {
    form.querySelectorAll(".server-problem").forEach((e) => e.remove());
    form.querySelectorAll(".server-invalid").forEach((e) => e.classList.remove("server-invalid", "invalid"));
    form.querySelectorAll(".row-problem").forEach((e) => e.remove());
    document.getElementById("top-problems").textContent = "";
  }

  function problemSpan(text) {
    return el("span", { class: "field-error server-problem", role: "alert" }, text);
  }

  function controlFor(read, path) {
    const m = /^legs\.(left|right)\.segments\[(\d+)\](?:\.(.+))?$/.exec(path);
    if (m) {
      const tr = read.rowsSent[m[1]][Number(m[2])];
      if (!tr) return null;
      let field = m[3] || "";
      while (field) {
        const c = rowControl(tr, field);
        if (c) return c;
        if (!/[.[]/.test(field)) break;
        field = field.replace(/(\.[^.]+|\[\d+\])$/, "");
      }
      return tr;
    }
    let p = path;
    while (p) {
      const c = form.querySelector(`[data-path="${CSS.escape(p)}"]`) || form.querySelector(`[data-list-group="${CSS.escape(p)}"]`);
      if (c) return c;
      if (!/[.[]/.test(p)) break;
      p = p.replace(/(\.[^.]+|\[\d+\])$/, "");
    }
    return null;
  }

  function showProblems(read, problems, message, assumed) {
    const top = document.getElementById("top-problems");
    for (const p of problems) {
      const target = controlFor(read, p.path);
      if ((assumed || []).includes(p.path) && target && !target.value) {
        // not filled in yet: needed to save, not for the verdicts
        target.insertAdjacentElement("afterend", el("span", { class: "client-note note server-problem" }, "needed to save"));
        continue;
      }
      if (target && target.tagName === "TR") {
        target.classList.add("invalid", "server-invalid");
        const td = target.querySelector("td.verdict");
        td.textContent = "";
        td.appendChild(problemSpan(p.message));
      } else if (target && target.tagName === "P") {
        target.appendChild(problemSpan(p.message));
      } else if (target && target.tagName === "FIELDSET") {
        target.appendChild(problemSpan(p.message));
      } else if (target) {
        target.classList.add("invalid", "server-invalid");
        target.insertAdjacentElement("afterend", problemSpan(p.message));
        const tr = target.closest("tr.seg");
        if (tr) { const td = tr.querySelector("td.verdict"); if (!td.textContent) td.appendChild(el("span", { class: "field-error server-problem" }, "not interpreted: see the marked field")); }
      } else {
        top.appendChild(problemSpan(`${p.path || "document"}: ${p.message}`));
      }
    }
    // the page's own refusals and questions about rows (incomplete rows, thrombus details)
    for (const issue of read.issues) {
      if (!issue.row) continue;
      const td = issue.row.querySelector("td.verdict");
      td.textContent = "";
      td.appendChild(el("span", { class: "field-error row-problem", role: "alert" }, issue.message));
      issue.row.classList.add("invalid", "server-invalid");
    }
    for (const issue of read.issues) {
      if (issue.row || !issue.control) continue;
      const tr = issue.control.closest("tr.seg");
      if (tr) { // a verdict without the value in question would mislead
        const td = tr.querySelector("td.verdict");
        if (td.querySelector(".row-problem")) continue;
        td.textContent = ""; td.className = "verdict";
        td.appendChild(el("span", { class: "field-error row-problem" }, "not interpreted: answer beside the field"));
      }
    }
    if (!problems.length && message) top.textContent = message;
  }

  // ------------------------------------------------------------------ venous map (input)
  function showMap(svgText) {
    const box = document.getElementById("ws-map");
    if (!svgText || box.dataset.svg === svgText) return;
    box.dataset.svg = svgText;
    const parsed = new DOMParser().parseFromString(svgText, "image/svg+xml");
    const svg = parsed.documentElement;
    if (!svg || svg.nodeName !== "svg") return;
    // Wider invisible strokes on top of each vein: easy to hit with a finger or a mouse.
    svg.querySelectorAll("path.vein, circle.perforator").forEach((node) => {
      const hit = node.cloneNode(true);
      hit.setAttribute("class", "hit");
      hit.setAttribute("stroke", "none");
      hit.setAttribute("fill", "none");
      hit.setAttribute("pointer-events", node.tagName === "circle" ? "all" : "stroke");
      if (node.tagName === "circle") hit.setAttribute("r", "9"); else hit.setAttribute("stroke-width", "12");
      hit.removeAttribute("stroke-dasharray");
      node.parentNode.appendChild(hit);
    });
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    box.textContent = "";
    box.appendChild(document.importNode(svg, true));
  }

  function goToRow(side, vein, site) {
    const box = form.querySelector(`.leg-examined[data-side="${side}"]`);
    if (!box.checked) { box.checked = true; toggleLeg(side); }
    const rows = Array.from(form.querySelectorAll(`table.segments[data-side="${side}"] tbody tr`));
    const siteOf = (tr) => { const c = rowControl(tr, "site"); const p = KNEE.find((k) => k.key === c.value); return p ? p.site : c.value; };
    let tr = rows.find((r) => rowControl(r, "vein").value === vein && (site ? siteOf(r) === site : true));
    let added = false;
    if (!tr) { tr = addRow(side, site ? { vein: vein, site: site } : { vein: vein }); added = true; }
    const target = rowControl(tr, "reflux_ms") || rowControl(tr, "vein");
    tr.scrollIntoView({ block: "center" });
    target.focus();
    tr.classList.add("flash");
    setTimeout(() => tr.classList.remove("flash"), 1200);
    announce(side, `${added ? "Added" : "Went to"} the ${side} ${vein}${site ? " " + site : ""} row.`);
    if (added) changed();
  }

  document.getElementById("ws-map").addEventListener("click", (ev) => {
    const node = ev.target.closest("[data-vein][data-side]");
    if (!node) return;
    goToRow(node.getAttribute("data-side"), node.getAttribute("data-vein"), node.getAttribute("data-site") || "");
  });

  // ------------------------------------------------------------------ entry shortcuts
  const sameRow = (a, b) => a.vein === b.vein && (a.site || "") === (b.site || "") && (a.label || "") === (b.label || "");
  function rowKey(tr) {
    const siteCtl = rowControl(tr, "site");
    const preset = KNEE.find((p) => p.key === siteCtl.value);
    const label = rowControl(tr, "label");
    return { vein: rowControl(tr, "vein").value, site: preset ? preset.site : siteCtl.value, label: preset ? preset.label : label ? label.value : "" };
  }
  function legRows(side) { return Array.from(form.querySelectorAll(`table.segments[data-side="${side}"] tbody tr`)); }
  function tickLeg(side) {
    const box = form.querySelector(`.leg-examined[data-side="${side}"]`);
    if (!box.checked) { box.checked = true; toggleLeg(side); }
  }

  function addProtocol(side, id) {
    tickLeg(side);
    const protocol = SPEC.protocols.find((p) => p.id === id);
    let added = 0;
    for (const row of protocol.rows) {
      if (legRows(side).some((tr) => sameRow(rowKey(tr), row))) continue;
      addRow(side, row);
      added += 1;
    }
    return added;
  }

  function fillEmpty(tr, path, value) {
    const c = rowControl(tr, path);
    if (!c || c.value !== "") return false;
    c.value = value;
    c.classList.add("filled");
    return true;
  }

  function shortcut(side, id) {
    const added = addProtocol(side, id);
    let n = 0;
    for (const tr of legRows(side)) {
      if (!rowControl(tr, "vein").value) continue;
      if (id === "dvt") { if (fillEmpty(tr, "compressibility", "full")) n += 1; }
      else if (fillEmpty(tr, "reflux_ms", "0")) n += 1;
    }
    const what = id === "dvt" ? "set to fully compressible" : "set to 0 ms (no reflux)";
    announce(side, `${added ? added + " protocol rows added; " : ""}${n} empty cells ${what}; filled cells kept. Change the abnormal ones (marked cells are the filled ones).`);
    changed();
  }

  function copyLeg(to, from) {
    tickLeg(to);
    let added = 0, filled = 0;
    for (const src of legRows(from)) {
      const key = rowKey(src);
      if (!key.vein) continue;
      let dst = legRows(to).find((tr) => sameRow(rowKey(tr), key));
      if (!dst) {
        dst = addRow(to, { vein: key.vein });
        rowControl(dst, "site").value = rowControl(src, "site").value;
        added += 1;
      }
      for (const c of rowControls(src)) {
        const path = c.dataset.field;
        if (path === "vein" || c.value === "") continue;
        const d = rowControl(dst, path);
        if (d.value !== "") continue;
        d.value = c.value;
        d.classList.add("copied");
        filled += 1;
      }
      labelRow(dst, to);
      summariseDetails(dst);
    }
    announce(to, `Copied from the ${from} leg: ${added} rows added, ${filled} cells filled; nothing overwritten. Copied cells are marked until you change them.`);
    changed();
  }

  // ------------------------------------------------------------------ drafts (server-side)
  let draftKey = form.dataset.draftKey || "";
  if (!draftKey) draftKey = "new-" + (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(36).slice(2));
  let draftTimer = null;
  let draftStored = false;
  let saving = false;

  function isDirty() { return canonical(readDocument("draft").doc) !== savedCanonical; }

  function scheduleDraft() {
    clearTimeout(draftTimer);
    draftTimer = setTimeout(saveDraft, 1200);
  }

  function draftTitle(doc) {
    const p = doc.patient || {};
    const rows = SIDES.reduce((n, s) => n + (((doc.legs || {})[s] || {}).segments || []).length, 0);
    return `${p.id || "no patient id"}, exam ${(doc.exam || {}).date || "undated"}, ${rows} rows`.slice(0, 200);
  }

  async function saveDraft() {
    if (saving) return;
    const doc = readDocument("draft").doc;
    const status = document.getElementById("draft-status");
    if (canonical(doc) === savedCanonical) {
      if (draftStored) { await post(`/api/drafts/${draftKey}`, undefined, "DELETE").catch(() => null); draftStored = false; status.textContent = ""; }
      return;
    }
    const body = { document: doc, title: draftTitle(doc), page: location.pathname + location.search, base_version: Number(form.dataset.version) || null };
    try {
      const resp = await post(`/api/drafts/${draftKey}`, body, "PUT");
      if (resp.ok) {
        draftStored = true;
        status.textContent = `Draft kept on the server at ${new Date().toLocaleTimeString()}.`;
      } else {
        const err = await resp.json().catch(() => ({}));
        status.textContent = `Draft not kept: ${(err.error && err.error.message) || resp.statusText}.`;
      }
    } catch (e) {
      status.textContent = "Draft not kept: the server could not be reached. Do not close this tab.";
    }
  }

  async function offerDrafts() {
    const fixed = !draftKey.startsWith("new-");
    const url = fixed ? `/api/drafts?key=${encodeURIComponent(draftKey)}` : "/api/drafts?kind=new";
    let list = [];
    try {
      const resp = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!resp.ok) return;
      list = await resp.json();
    } catch (e) { return; }
    const box = document.getElementById("draft-offers");
    box.textContent = "";
    if (!list.length) { box.hidden = true; return; }
    box.appendChild(el("strong", {}, list.length === 1 ? "An unsaved worksheet of yours was kept: " : "Unsaved worksheets of yours were kept: "));
    const ul = el("ul", { class: "drafts" });
    for (const d of list) {
      const li = el("li", {}, `${d.title} (last change ${new Date(d.updated_at).toLocaleString()}) `);
      if (fixed && d.base_version && Number(form.dataset.version) && d.base_version !== Number(form.dataset.version)) {
        li.appendChild(el("em", {}, `made on version ${d.base_version}; the exam is now at version ${form.dataset.version}: compare before saving. `));
      }
      const restore = el("button", { type: "button", class: "restore-draft" }, "Restore");
      const discard = el("button", { type: "button", class: "discard-draft secondary" }, "Discard");
      restore.addEventListener("click", () => restoreDraft(d.key, li));
      discard.addEventListener("click", async () => {
        if (!window.confirm("Discard this unsaved worksheet? It cannot be recovered.")) return;
        await post(`/api/drafts/${d.key}`, undefined, "DELETE").catch(() => null);
        li.remove();
        if (!ul.children.length) box.hidden = true;
      });
      li.append(restore, " ", discard);
      ul.appendChild(li);
    }
    box.appendChild(ul);
    box.hidden = false;
  }

  async function restoreDraft(key, li) {
    const resp = await fetch(`/api/drafts/${key}?restore=1`, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!resp.ok) return;
    const d = await resp.json();
    fill(d.document);
    draftKey = key;
    draftStored = true;
    li.remove();
    const box = document.getElementById("draft-offers");
    if (!box.querySelector("li")) box.hidden = true;
    document.getElementById("draft-status").textContent = "Draft restored: check it, then save.";
    changed();
  }

  window.addEventListener("beforeunload", (ev) => {
    if (saving || !isDirty()) return;
    saveDraft(); // best effort; the draft of the last pause is on the server already
    ev.preventDefault();
    ev.returnValue = "";
  });

  // ------------------------------------------------------------------ saving
  async function save() {
    const status = document.getElementById("save-status");
    const mode = form.dataset.mode;
    const examId = form.dataset.examId;
    const version = Number(form.dataset.version || 0);
    const read = readDocument("save");
    clearServerProblems();
    const blocking = read.issues.filter((i) => i.blocking);
    if (blocking.length) {
      showProblems(read, [], null);
      status.textContent = `Not saved: ${blocking.length} ${blocking.length === 1 ? "field needs" : "fields need"} an answer (marked beside ${blocking.length === 1 ? "it" : "them"}).`;
      const first = blocking[0].control || (blocking[0].row && rowControl(blocking[0].row, "vein"));
      if (first) first.focus();
      return;
    }
    const doc = read.doc;
    let resp;
    status.textContent = "Saving...";
    saving = true;
    try {
      if (mode === "create") {
        resp = await post("/api/exams", doc);
      } else if (mode === "amend") {
        const reason = document.getElementById("amend-reason").value.trim();
        resp = await post(`/api/exams/${examId}/amend`, { document: doc, expected_version: version, reason: reason });
      } else {
        resp = await post(`/api/exams/${examId}/versions`, { document: doc, expected_version: version });
      }
    } catch (e) {
      saving = false;
      status.textContent = "Not saved: the server could not be reached. Your input is still here.";
      return;
    }
    const body = await resp.json().catch(() => ({}));
    if (resp.ok) {
      clearTimeout(draftTimer);
      status.textContent = `Saved version ${body.version.version}.`;
      await post(`/api/drafts/${draftKey}`, undefined, "DELETE").catch(() => null);
      if (mode === "create" && form.dataset.linkUrl) {
        // The exam came from an incoming report or an order: mark it done / linked.
        const link = await post(form.dataset.linkUrl, { exam_id: body.exam_id }).catch(() => null);
        if (!link || !link.ok) status.textContent += " (The incoming report or order could not be marked done; mark it on its page.)";
      }
      window.location.assign(`/exams/${body.exam_id}`);
      return;
    }
    saving = false;
    if (resp.status === 409) {
      status.textContent = "Not saved: someone else saved this exam since you opened it. Your input is still here (and kept as a draft); ";
      const a = el("a", { href: `/exams/${examId}`, target: "_blank" }, "open the latest version");
      status.appendChild(a);
      return;
    }
    status.textContent = `Not saved: ${(body.error && body.error.message) || resp.statusText}.`;
    showProblems(read, (body.error && body.error.problems) || [], null);
  }

  // ------------------------------------------------------------------ wiring
  let lastSide = null;
  form.addEventListener("focusin", (ev) => {
    const leg = ev.target.closest(".leg");
    if (leg) lastSide = leg.dataset.side;
  });
  form.addEventListener("input", (ev) => {
    ev.target.classList.remove("filled", "copied");
    const tr = ev.target.closest("tr.seg");
    if (tr) summariseDetails(tr);
    changed();
  });
  form.addEventListener("change", (ev) => {
    const t = ev.target;
    if (t.classList.contains("leg-examined")) toggleLeg(t.dataset.side);
    t.classList.remove("filled", "copied");
    const tr = t.closest("tr.seg");
    if (tr) {
      const side = tr.closest("table").dataset.side;
      if (t.dataset.field === "site") {
        const preset = KNEE.find((p) => p.key === t.value);
        const label = rowControl(tr, "label");
        if (preset && label && label.value === "") label.value = preset.label;
        if (!preset && label && KNEE.some((p) => p.label === label.value) && t._prevPreset) label.value = "";
        t._prevPreset = !!preset;
      }
      if (t.dataset.field === "vein") {
        const site = rowControl(tr, "site");
        const preset = KNEE.find((p) => p.key === site.value);
        if (preset && !preset.veins.includes(t.value)) site.value = preset.site; // knee is for its veins only
      }
      labelRow(tr, side);
      summariseDetails(tr);
    }
    changed();
  });
  form.querySelectorAll(".add-segment").forEach((b) => b.addEventListener("click", () => {
    tickLeg(b.dataset.side);
    rowControl(addRow(b.dataset.side, {}), "vein").focus();
    changed();
  }));
  form.querySelectorAll(".add-protocol").forEach((b) => b.addEventListener("click", () => {
    const n = addProtocol(b.dataset.side, b.dataset.protocol);
    announce(b.dataset.side, `${n} rows added.`);
    changed();
  }));
  form.querySelectorAll(".shortcut").forEach((b) => b.addEventListener("click", () => shortcut(b.dataset.side, b.dataset.protocol)));
  form.querySelectorAll(".copy-leg").forEach((b) => b.addEventListener("click", () => copyLeg(b.dataset.side, b.dataset.from)));
  document.getElementById("criteria").addEventListener("change", changed);

  function sideForNewRow() {
    const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest(".leg");
    if (focused) return focused.dataset.side;
    if (lastSide) return lastSide;
    return SIDES.find(legExamined) || "left";
  }

  form.addEventListener("keydown", (ev) => {
    if (ev.altKey && (ev.key === "n" || ev.key === "N")) {
      ev.preventDefault();
      const side = sideForNewRow();
      tickLeg(side);
      rowControl(addRow(side, {}), "vein").focus();
      changed();
      return;
    }
    const t = ev.target;
    const tr = t.closest && t.closest("tr.seg");
    if (ev.key === "Enter" && tr && t.dataset.field) {
      // Enter goes down the column; after the last row it adds one (if this row has a vein).
      ev.preventDefault();
      const side = tr.closest("table").dataset.side;
      let next = tr.nextElementSibling;
      if (!next) {
        if (!rowControl(tr, "vein").value) return;
        next = addRow(side, {});
        rowControl(next, "vein").focus();
        changed();
        return;
      }
      const target = rowControl(next, t.dataset.field);
      if (target) { if (target.closest("td.details") && target.closest("td.details").hidden) toggleDetails(next, true); target.focus(); if (target.select) target.select(); }
      return;
    }
    if (ev.key === "Enter" && t.tagName === "INPUT") ev.preventDefault(); // never submit by accident
  });
  document.getElementById("save-button").addEventListener("click", save);

  fill(JSON.parse(document.getElementById("initial-document").textContent));
  savedCanonical = canonical(readDocument("draft").doc);
  live();
  offerDrafts();
  // for tests and tools: the document this page would save now
  window.venalabWorksheet = { read: (purpose) => readDocument(purpose || "save").doc, issues: () => readDocument("save").issues.map((i) => i.message), dirty: isDirty };
})();
