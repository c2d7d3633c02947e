// venalab worksheet: builds the exam document from the form, asks the engine (POST
// /api/assess) for a live interpretation, shows validation messages beside the fields that
// caused them, and saves through the API. No clinical rule lives here.
(function () {
  "use strict";
  const form = document.getElementById("worksheet");
  if (!form) return;
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const VEINS = ["CFV", "FV", "DFV", "POPV", "SFJ", "GSVa", "GSVb", "AASV", "PAGSV", "SPJ", "SSV",
    "NSV", "TPV", "CPV", "PTV", "ATV", "PRV", "TPT", "GAV", "SOV", "EIV", "CIV", "IIV", "IVC", "PELV"];
  const PROTOCOLS = {
    reflux: ["CFV", "SFJ", "GSVa", "GSVb", "FV", "POPV", "SPJ", "SSV", "AASV"],
    dvt: ["CFV", "FV", "DFV", "POPV", "PTV", "PRV", "GAV", "SOV", "GSVa"],
  };
  const FIELDS = [
    ["vein", "select", [""].concat(VEINS)],
    ["site", "select", ["", "proximal", "mid", "distal"]],
    ["reflux_ms", "number", { min: 0, max: 20000, step: "any" }],
    ["diameter_mm", "number", { min: 0, max: 60, step: "any" }],
    ["compressibility", "select", ["", "full", "partial", "none"]],
    ["thrombus.age", "select", ["", "acute", "subacute", "chronic", "indeterminate"]],
    ["thrombus.occlusive", "bool"],
    ["thrombus.length_cm", "number", { min: 0, max: 120, step: "any" }],
    ["thrombus.distance_to_junction_cm", "number", { min: 0, max: 120, step: "any" }],
    ["beneath_ulcer", "bool"],
    ["label", "text"],
  ];

  // Fields of a loaded segment the grid has no column for (treatment, position_cm, the
  // thrombus lumen share, ...): kept per row and written back on save, so editing in the
  // worksheet never drops them (issue 18).
  const EXTRAS = new WeakMap();
  function extrasOf(values) {
    const copy = JSON.parse(JSON.stringify(values || {}));
    const hadThrombusField = FIELDS.some(([name]) => name.startsWith("thrombus.") && getPath(copy, name) !== undefined);
    for (const [name] of FIELDS) {
      const keys = name.split(".");
      const parent = keys.length > 1 ? copy[keys[0]] : copy;
      if (parent && typeof parent === "object") delete parent[keys[keys.length - 1]];
    }
    // a thrombus described in the grid is governed by its columns alone
    if (hadThrombusField && copy.thrombus && !Object.keys(copy.thrombus).length) delete copy.thrombus;
    return copy;
  }

  // ---------------------------------------------------------------- building the form
  function makeInput(field) {
    const [name, kind, opts] = field;
    let el;
    if (kind === "select" || kind === "bool") {
      el = document.createElement("select");
      const options = kind === "bool" ? [["", ""], ["true", "yes"], ["false", "no"]]
        : opts.map((o) => [o, o]);
      for (const [value, text] of options) {
        const o = document.createElement("option");
        o.value = value; o.textContent = text; el.appendChild(o);
      }
      if (kind === "bool") el.dataset.type = "bool";
    } else {
      el = document.createElement("input");
      el.type = kind === "number" ? "number" : "text";
      if (kind === "number") {
        el.dataset.type = "number";
        for (const [k, v] of Object.entries(opts)) el.setAttribute(k, v);
        el.inputMode = "decimal";
      } else {
        el.maxLength = 200;
      }
    }
    el.dataset.field = name;
    el.setAttribute("aria-label", name.replace(/[._]/g, " "));
    return el;
  }

  function addRow(side, values) {
    const tbody = form.querySelector(`table.segments[data-side="${side}"] tbody`);
    const tr = document.createElement("tr");
    EXTRAS.set(tr, extrasOf(values));
    for (const field of FIELDS) {
      const td = document.createElement("td");
      const el = makeInput(field);
      const v = getPath(values || {}, field[0]);
      if (v !== undefined && v !== null) el.value = String(v);
      td.appendChild(el);
      tr.appendChild(td);
    }
    const verdict = document.createElement("td");
    verdict.className = "verdict";
    tr.appendChild(verdict);
    const del = document.createElement("td");
    const btn = document.createElement("button");
    btn.type = "button"; btn.className = "link remove"; btn.textContent = "\u00d7";
    btn.title = "Remove this segment"; btn.setAttribute("aria-label", "remove segment");
    btn.addEventListener("click", () => { tr.remove(); renumber(); schedule(); });
    del.appendChild(btn);
    tr.appendChild(del);
    tbody.appendChild(tr);
    renumber();
    return tr;
  }

  function renumber() {
    for (const side of ["left", "right"]) {
      const rows = form.querySelectorAll(`table.segments[data-side="${side}"] tbody tr`);
      let doc = 0;
      rows.forEach((tr) => {
        const vein = tr.querySelector('[data-field="vein"]').value;
        tr.dataset.index = vein ? String(doc) : "";
        tr.querySelectorAll("[data-field]").forEach((el) => {
          el.dataset.path = vein ? `legs.${side}.segments[${doc}].${el.dataset.field}` : "";
        });
        tr.dataset.path = vein ? `legs.${side}.segments[${doc}]` : "";
        if (vein) doc += 1;
      });
    }
  }

  // ---------------------------------------------------------------- document <-> form
  function getPath(obj, path) {
    return path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);
  }
  function setPath(obj, path, value) {
    const keys = path.split(".");
    let o = obj;
    keys.slice(0, -1).forEach((k) => { if (o[k] === undefined) o[k] = {}; o = o[k]; });
    o[keys[keys.length - 1]] = value;
  }
  function readValue(el) {
    const raw = el.value.trim();
    if (raw === "") return undefined;
    if (el.dataset.type === "bool") return raw === "true";
    if (el.dataset.type === "int") return parseInt(raw, 10);
    if (el.dataset.type === "number" || el.type === "number") {
      const n = Number(raw);
      return Number.isFinite(n) ? n : raw; // a non-number goes to the engine, which names it
    }
    return raw;
  }

  function readDocument() {
    const doc = { format: "venous-exam/1", legs: {} };
    form.querySelectorAll("[data-path]").forEach((el) => {
      if (!("value" in el) || el.closest("table.segments") || el.dataset.lab || el.dataset.labUnit) return;
      const path = el.dataset.path;
      if (!path || path === "reason" || el.closest(".leg") && !legExamined(el.closest(".leg").dataset.side)) return;
      const v = readValue(el);
      if (v !== undefined) setPath(doc, path, v);
    });
    form.querySelectorAll("[data-list]").forEach((el) => {
      const path = el.dataset.list;
      const leg = el.closest(".leg");
      if (leg && !legExamined(leg.dataset.side)) return;
      if (getPath(doc, path) === undefined) setPath(doc, path, []);
      if (el.checked) getPath(doc, path).push(el.value);
    });
    form.querySelectorAll("[data-lab]").forEach((el) => {
      const v = readValue(el);
      if (v === undefined) return;
      const unit = form.querySelector(`[data-lab-unit="${el.dataset.lab}"]`).value;
      setPath(doc, `labs.${el.dataset.lab}`, { value: v, unit: unit });
    });
    for (const side of ["left", "right"]) {
      if (!legExamined(side)) continue;
      const leg = doc.legs[side] || (doc.legs[side] = {});
      leg.segments = [];
      form.querySelectorAll(`table.segments[data-side="${side}"] tbody tr`).forEach((tr) => {
        if (!tr.querySelector('[data-field="vein"]').value) return;
        const seg = JSON.parse(JSON.stringify(EXTRAS.get(tr) || {}));
        tr.querySelectorAll("[data-field]").forEach((el) => {
          const v = readValue(el);
          if (v !== undefined) setPath(seg, el.dataset.field, v);
        });
        leg.segments.push(seg);
      });
    }
    if (doc.exam && Array.isArray(doc.exam.provocation) && !doc.exam.provocation.length) delete doc.exam.provocation;
    return doc;
  }

  function legExamined(side) {
    return form.querySelector(`.leg-examined[data-side="${side}"]`).checked;
  }

  function fill(doc) {
    form.querySelectorAll("[data-path]").forEach((el) => {
      if (!("value" in el) || el.closest("table.segments")) return;
      const v = getPath(doc, el.dataset.path);
      if (v === undefined || v === null) return;
      if (el.dataset.lab) { el.value = String(v); return; }
      if (el.dataset.labUnit) { el.value = String(v); return; }
      if (typeof v !== "object") el.value = String(v);
    });
    form.querySelectorAll("[data-list]").forEach((el) => {
      const list = getPath(doc, el.dataset.list) || [];
      el.checked = list.includes(el.value);
    });
    for (const side of ["left", "right"]) {
      const leg = (doc.legs || {})[side];
      const box = form.querySelector(`.leg-examined[data-side="${side}"]`);
      box.checked = !!leg;
      toggleLeg(side);
      (leg && leg.segments || []).forEach((seg) => addRow(side, seg));
    }
  }

  function toggleLeg(side) {
    const fs = form.querySelector(`.leg[data-side="${side}"]`);
    fs.classList.toggle("off", !legExamined(side));
  }

  // ---------------------------------------------------------------- live interpretation
  let timer = null;
  let seq = 0;
  function schedule() {
    renumber();
    clearTimeout(timer);
    timer = setTimeout(live, 250);
  }

  async function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json" },
      body: JSON.stringify(body),
    });
  }

  async function live() {
    const mine = ++seq;
    const criteria = document.getElementById("criteria").value;
    let resp;
    try {
      resp = await post(`/api/assess?criteria=${encodeURIComponent(criteria)}`, readDocument());
    } catch (e) {
      setSummary("The interpretation service could not be reached; your input is kept.");
      return;
    }
    if (mine !== seq) return; // a newer request is on its way
    const body = await resp.json().catch(() => ({}));
    clearProblems();
    if (resp.ok) {
      showResult(body);
    } else {
      // Verdicts are cleared first: a problem with a whole row is shown in its verdict cell.
      form.querySelectorAll("td.verdict").forEach((td) => { td.textContent = ""; td.className = "verdict"; });
      document.getElementById("live-findings").textContent = ""; // no stale findings either
      showProblems((body.error && body.error.problems) || [], body.error && body.error.message);
      setSummary("Fix the highlighted fields to see the interpretation.");
    }
  }

  function setSummary(text) {
    document.getElementById("live-summary").textContent = text;
  }

  function showResult(result) {
    const lines = [];
    for (const side of ["left", "right"]) {
      const leg = result.legs[side];
      const rows = form.querySelectorAll(`table.segments[data-side="${side}"] tbody tr`);
      rows.forEach((tr) => {
        const td = tr.querySelector("td.verdict");
        td.className = "verdict"; td.textContent = "";
        if (!leg || tr.dataset.index === "") return;
        const seg = leg.segments[Number(tr.dataset.index)];
        if (!seg) return;
        let text = String(seg.reflux).replace(/-/g, " ");
        if (seg.reflux === "present") text = `reflux (${seg.comparison} ${seg.threshold_ms} ms)`;
        if (seg.reflux === "absent") text = "no reflux";
        if (seg.reflux === "boundary") text = seg.abnormal ? "boundary: reflux" : "boundary: no reflux";
        if (seg.thrombus) text = `thrombus${seg.thrombus.age ? " (" + seg.thrombus.age + ")" : ""}`;
        const perf = (leg.perforators || []).find((p) => p.vein === seg.vein && p.measured_ms === seg.measured_ms && p.label === seg.label);
        if (perf && perf.pathologic) text = "pathologic perforator";
        td.textContent = text;
        td.classList.add("v-" + (seg.thrombus ? "thrombus" : (perf && perf.pathologic) ? "present" : seg.reflux));
        td.title = (seg.evidence.note || "") + ` [${seg.evidence.rule}; ${seg.evidence.sources.join(", ")}]`;
      });
      if (leg) {
        const patterns = Object.entries(leg.reflux_patterns).map(([k, v]) => `${k} ${v}`).join(", ") || "no reflux";
        lines.push(`${side}: CEAP ${leg.ceap.basic}; ${patterns}; thrombosis ${leg.thrombosis.classification}`);
      }
    }
    if (result.wells_dvt) lines.push(`Wells: ${result.wells_dvt.score ?? "incomplete"} (${result.wells_dvt.two_level || "?"})`);
    const summary = document.getElementById("live-summary");
    summary.textContent = "";
    lines.forEach((l) => { const d = document.createElement("div"); d.textContent = l; summary.appendChild(d); });
    const list = document.getElementById("live-findings");
    list.textContent = "";
    result.findings.filter((f) => f.importance <= 3).forEach((f) => {
      const li = document.createElement("li");
      li.textContent = f.text + " ";
      const src = document.createElement("span");
      src.className = "src";
      src.textContent = f.evidence.sources.join(", ");
      li.appendChild(src);
      list.appendChild(li);
    });
  }

  // ---------------------------------------------------------------- problems
  function clearProblems() {
    form.querySelectorAll(".field-error").forEach((e) => e.remove());
    form.querySelectorAll(".invalid").forEach((e) => e.classList.remove("invalid"));
    form.querySelectorAll("p.problems").forEach((p) => { p.textContent = ""; });
  }

  function showProblems(problems, message) {
    const top = document.getElementById("top-problems");
    for (const p of problems) {
      let el = p.path ? form.querySelector(`[data-path="${CSS.escape(p.path)}"]`) : null;
      let path = p.path;
      while (!el && path && path.includes(".")) { // fall back to the nearest enclosing field
        path = path.replace(/(\.[^.]+|\[\d+\])$/, "");
        el = form.querySelector(`[data-path="${CSS.escape(path)}"]`);
      }
      const span = document.createElement("span");
      span.className = "field-error";
      span.setAttribute("role", "alert");
      span.textContent = p.message;
      if (el && el.tagName === "TR") {
        el.classList.add("invalid");
        el.querySelector("td.verdict").appendChild(span);
      } else if (el && el.tagName === "P") {
        el.appendChild(span);
      } else if (el) {
        el.classList.add("invalid");
        el.insertAdjacentElement("afterend", span);
      } else {
        span.textContent = `${p.path || "document"}: ${p.message}`;
        top.appendChild(span);
      }
    }
    if (!problems.length && message) top.textContent = message;
  }

  // ---------------------------------------------------------------- saving
  async function save() {
    const status = document.getElementById("save-status");
    const mode = form.dataset.mode;
    const examId = form.dataset.examId;
    const version = Number(form.dataset.version || 0);
    const doc = readDocument();
    let resp;
    status.textContent = "Saving...";
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
      status.textContent = "Not saved: the server could not be reached. Your input is still here.";
      return;
    }
    const body = await resp.json().catch(() => ({}));
    if (resp.ok) {
      status.textContent = `Saved version ${body.version.version}.`;
      if (mode === "create" && form.dataset.linkUrl) {
        // The exam came from an incoming report or an order: mark it done / linked.
        const link = await post(form.dataset.linkUrl, { exam_id: body.exam_id }).catch(() => null);
        if (!link || !link.ok) status.textContent += " (The incoming report or order could not be marked done; mark it on its page.)";
      }
      window.location.assign(`/exams/${body.exam_id}`);
      return;
    }
    clearProblems();
    if (resp.status === 409) {
      status.textContent = "Not saved: someone else saved this exam since you opened it. Your input is still here; ";
      const a = document.createElement("a");
      a.href = `/exams/${examId}`; a.target = "_blank"; a.textContent = "open the latest version";
      status.appendChild(a);
      return;
    }
    status.textContent = `Not saved: ${(body.error && body.error.message) || resp.statusText}.`;
    showProblems((body.error && body.error.problems) || [], null);
  }

  // ---------------------------------------------------------------- wiring
  form.addEventListener("input", schedule);
  form.addEventListener("change", (ev) => {
    if (ev.target.classList.contains("leg-examined")) toggleLeg(ev.target.dataset.side);
    schedule();
  });
  form.querySelectorAll(".add-segment").forEach((b) => b.addEventListener("click", () => {
    const tr = addRow(b.dataset.side, {});
    tr.querySelector("select").focus();
  }));
  form.querySelectorAll(".add-protocol").forEach((b) => b.addEventListener("click", () => {
    const box = form.querySelector(`.leg-examined[data-side="${b.dataset.side}"]`);
    box.checked = true; toggleLeg(b.dataset.side);
    PROTOCOLS[b.dataset.protocol].forEach((vein) => addRow(b.dataset.side, { vein: vein }));
    schedule();
  }));
  form.addEventListener("keydown", (ev) => {
    if (ev.altKey && (ev.key === "n" || ev.key === "N")) {
      ev.preventDefault();
      const side = legExamined("left") || !legExamined("right") ? "left" : "right";
      addRow(side, {}).querySelector("select").focus();
    } else if (ev.key === "Enter" && ev.target.dataset.field === "label") {
      ev.preventDefault();
      const side = ev.target.closest("table").dataset.side;
      addRow(side, {}).querySelector("select").focus();
    } else if (ev.key === "Enter" && ev.target.tagName === "INPUT") {
      ev.preventDefault(); // never submit the form by accident
    }
  });
  document.getElementById("save-button").addEventListener("click", save);

  fill(JSON.parse(document.getElementById("initial-document").textContent));
  schedule();
})();
