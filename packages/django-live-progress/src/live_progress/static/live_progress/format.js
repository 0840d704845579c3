// Words for people: state names, task names, durations, results. No DOM state here.

export const TERMINAL = new Set(["SUCCESS", "FAILURE", "REVOKED"]);

const STATE_WORDS = {
  PENDING: "Queued",
  STARTED: "Running",
  PROGRESS: "Running",
  RETRY: "Retrying",
  SUCCESS: "Done",
  FAILURE: "Failed",
  REVOKED: "Cancelled",
};

/** "PROGRESS" → "Running": the word a person reads; the raw state goes in a tooltip. */
export function stateWord(state) {
  return STATE_WORDS[state] || state || "Unknown";
}

const labels = new Map();

/** Remember the labels the page's start controls give their tasks ("Long running task"). */
export function setLabels(entries) {
  for (const [name, label] of entries) labels.set(name, label);
}

/** "shop.tasks.long_running_task" → its label, else "Long running task". */
export function taskLabel(name) {
  if (!name) return "Task";
  if (labels.has(name)) return labels.get(name);
  const words = name.split(".").pop().replaceAll("_", " ").trim();
  return words ? words[0].toUpperCase() + words.slice(1) : name;
}

/** 4 → "4 s", 125 → "2 min 5 s", 3720 → "1 h 2 min"; with `short`, 0.3 → "under 1 s". */
export function duration(seconds, { short = false } = {}) {
  if (short && seconds < 1) return "under 1 s";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return s % 60 ? `${minutes} min ${s % 60} s` : `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
}

/** Seconds between two ISO timestamps, or null when either is missing. */
export function secondsBetween(from, to) {
  if (!from || !to) return null;
  return (Date.parse(to) - Date.parse(from)) / 1000;
}

/** "14:02" today, "25 Nov, 14:02" on another day: when a task finished, in local time. */
export function clockTime(iso) {
  const when = new Date(iso);
  const sameDay = when.toDateString() === new Date().toDateString();
  const options = sameDay
    ? { hour: "2-digit", minute: "2-digit" }
    : { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" };
  return when.toLocaleString(undefined, options);
}

/** A key of a result dict in words: "rows_done" → "Rows done". */
export function keyLabel(key) {
  const words = String(key).replaceAll("_", " ");
  return words[0] ? words[0].toUpperCase() + words.slice(1) : words;
}

/** A value on one short line: plain values as they are, anything nested as compact JSON. */
export function shortValue(value, max = 60) {
  let text;
  if (value === null || value === undefined) text = "none";
  else if (typeof value === "string") text = value;
  else if (typeof value === "number" || typeof value === "boolean") text = String(value);
  else if (Array.isArray(value) && value.every((v) => v === null || typeof v !== "object")) {
    text = value.map((v) => shortValue(v, max)).join(", ");
  } else text = JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A result as [label, value] rows: a dict's first keys, or one row for anything else. */
export function resultRows(result, maxRows = 6) {
  if (result && typeof result === "object" && !Array.isArray(result)) {
    const entries = Object.entries(result);
    const rows = entries
      .slice(0, maxRows)
      .map(([key, value]) => [keyLabel(key), shortValue(value)]);
    if (entries.length > maxRows) rows.push(["…", `${entries.length - maxRows} more`]);
    return rows;
  }
  return [[null, shortValue(result, 200)]];
}

/** A result on one line, for the history: "Steps 100 · Seconds 10.2". */
export function resultLine(result) {
  if (result === null || result === undefined) return "";
  return resultRows(result, 4)
    .map(([label, value]) => (label ? `${label} ${value}` : value))
    .join(" · ");
}
