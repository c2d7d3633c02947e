// venalab worksheet: reading typed numbers and dates. Pure functions, no clinical rule.
// Nothing is changed silently: every reading that is not the text as typed comes with a
// note shown beside the field, and a text that could mean two things is refused with a
// message that says what to type instead.
//
// Decimal comma: "1,5" is read as 1.5 WITH a visible note ("read as 1.5"). A comma followed
// by exactly three digits ("1,500") is refused: it may be a thousands separator (1500) or a
// decimal comma (1.5), and the two differ by a factor of a thousand.
(function () {
  "use strict";

  function fmt(n) { return String(n); }

  // -> {empty} | {value, note?} | {error}
  function parseNumber(raw, kind) {
    const text = String(raw == null ? "" : raw).trim();
    if (text === "") return { empty: true };
    if (/\s/.test(text)) {
      return { error: `"${text}" contains a space: type the number without spaces (e.g. 1500)` };
    }
    let t = text;
    let note = "";
    if (t.includes(",")) {
      if (t.includes(".")) return { error: `"${text}": use one decimal separator, a point (e.g. 1.5)` };
      const m = /^([+-]?)(\d*),(\d+)$/.exec(t);
      if (!m) return { error: `"${text}" is not a number` };
      if (m[3].length === 3 && m[2].length >= 1 && m[2].length <= 3) {
        const thousands = Number(m[1] + m[2] + m[3]);
        const decimal = Number(m[1] + (m[2] || "0") + "." + m[3]);
        return {
          error: `"${text}" is ambiguous: type ${fmt(thousands)} or ${fmt(decimal)} (decimal point)`,
        };
      }
      t = m[1] + (m[2] || "0") + "." + m[3];
      note = `decimal comma: read as ${fmt(Number(t))}`;
    }
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) {
      return { error: `"${text}" is not a number` };
    }
    const value = Number(t);
    if (!Number.isFinite(value)) return { error: `"${text}" is not a finite number` };
    if (kind === "int" && !Number.isInteger(value)) {
      return { error: `"${text}": a whole number is needed` };
    }
    return note ? { value: value, note: note } : { value: value };
  }

  // A typed value implausibly small for its unit (a duration typed in seconds, a diameter
  // in cm): the question to ask, or null. `rule` = {below, unit, factor} from the page spec.
  function smallUnitQuestion(value, unit, rule) {
    if (!rule || !(value > 0) || value >= rule.below) return null;
    const converted = Math.round(value * rule.factor * 1e6) / 1e6;
    return {
      text: `${fmt(value)} ${unit} is implausibly short for a measurement: did you mean ${fmt(value)} ${rule.unit} (${fmt(converted)} ${unit})?`,
      converted: converted,
    };
  }

  function pad(n, width) { return String(n).padStart(width, "0"); }

  function realDate(y, m, d) {
    const date = new Date(Date.UTC(y, m - 1, d));
    return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
  }

  // -> {empty} | {value: "YYYY-MM-DD", note?} | {error, partial?}
  function parseDate(raw) {
    const text = String(raw == null ? "" : raw).trim();
    if (text === "") return { empty: true };
    let y, m, d, note = "";
    let match = /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(text);
    if (match) {
      [y, m, d] = [Number(match[1]), Number(match[2]), Number(match[3])];
    } else if ((match = /^(\d{4})(\d{2})(\d{2})$/.exec(text))) {
      [y, m, d] = [Number(match[1]), Number(match[2]), Number(match[3])];
    } else if ((match = /^(\d{1,2})\.(\d{1,2})\.(\d{4})$/.exec(text))) {
      [d, m, y] = [Number(match[1]), Number(match[2]), Number(match[3])];
    } else if (/^\d{1,2}\/\d{1,2}\/\d{2,4}$/.test(text)) {
      return { error: `"${text}" is ambiguous (day/month or month/day): type YYYY-MM-DD or DD.MM.YYYY` };
    } else if (/^\d{4}(-\d{0,2}(-\d?)?)?$/.test(text) || /^\d{1,2}\.(\d{1,2}\.?)?\d{0,3}$/.test(text) || /^\d{5,7}$/.test(text)) {
      return { error: `incomplete date "${text}": the full date is needed (YYYY-MM-DD)`, partial: true };
    } else {
      return { error: `"${text}" is not a date: type YYYY-MM-DD (or DD.MM.YYYY)` };
    }
    if (!realDate(y, m, d)) return { error: `"${text}" is not a calendar date` };
    const iso = `${pad(y, 4)}-${pad(m, 2)}-${pad(d, 2)}`;
    if (iso !== text) note = `read as ${iso}`;
    return note ? { value: iso, note: note } : { value: iso };
  }

  window.VenalabValues = { parseNumber: parseNumber, parseDate: parseDate, smallUnitQuestion: smallUnitQuestion };
})();
