// One task's card: name, state, bar, percent, message, elapsed, time left, result, Cancel.
import { requestJSON } from "./http.js";
import { cancelUrl } from "./urls.js";
import {
  TERMINAL, duration, resultRows, secondsBetween, stateWord, taskLabel,
} from "./format.js";

const template = document.getElementById("task-template");
const childTemplate = document.getElementById("child-template");
// Below this much progress or running time the rate says little: "estimating…".
const ESTIMATE_AFTER_PERCENT = 1;
const ESTIMATE_AFTER_SECONDS = 1.5;
const LINK_WORDS = {
  lost: "Live connection lost: checking every 2 s.",
  redis: "The server lost Redis: checking every 2 s.",
  "too-many": "Too many live connections open: this card checks every 2 s.",
};

function queuedText(snapshot) {
  // The server says why a task waits (no worker, wrong queue, N ahead...), in words.
  if (snapshot.message && snapshot.message !== "Queued") return snapshot.message;
  if (snapshot.workers_online === 0) return "Queued: no worker is running.";
  const ahead = snapshot.queue_position;
  if (ahead) return `Queued: ${ahead} task${ahead === 1 ? "" : "s"} ahead of yours.`;
  return "Queued.";
}

export class TaskCard {
  constructor(taskId, { onCancelError }) {
    this.taskId = taskId;
    this.snapshot = null;
    this.receivedAt = 0;
    this.onCancelError = onCancelError;
    this.element = template.content.firstElementChild.cloneNode(true);
    this.element.dataset.taskId = taskId;
    this.part = (name) => this.element.querySelector(`.task-${name}`);
    this.bar = this.element.querySelector(".task-bar");
    this.part("id").textContent = taskId.slice(0, 8);
    this.part("id").title = taskId;
    this.part("cancel").addEventListener("click", () => this.cancel());
  }

  get state() {
    return this.snapshot ? this.snapshot.state : null;
  }

  get running() {
    return this.snapshot !== null && !TERMINAL.has(this.snapshot.state);
  }

  render(snapshot) {
    const old = this.snapshot;
    this.snapshot = snapshot;
    this.receivedAt = performance.now();
    const el = this.element;
    const name = taskLabel(snapshot.name);
    const word = stateWord(snapshot.state);
    el.dataset.state = snapshot.state;
    this.part("name").textContent = name;
    const badge = this.part("state");
    badge.textContent = word;
    badge.title = `State: ${snapshot.state}`;
    badge.dataset.state = snapshot.state;
    this.bar.setAttribute("aria-label", name);
    this.bar.setAttribute("aria-valuenow", String(snapshot.percent));
    this.bar.setAttribute("aria-valuetext", `${snapshot.percent}%, ${word}`);
    this.part("fill").style.width = `${snapshot.percent}%`;
    this.part("percent").textContent = `${snapshot.percent}%`;
    this.part("message").textContent = this.message(snapshot);
    this.part("cancel").hidden = TERMINAL.has(snapshot.state);
    if (!old || old.state !== snapshot.state) this.part("live").textContent = `${name}: ${word}`;
    this.renderChildren(snapshot.children);
    this.renderOutcome(snapshot);
    this.tick();
  }

  message(snapshot) {
    if (snapshot.state === "PENDING") return queuedText(snapshot);
    if (snapshot.state === "REVOKED") return "Cancelled before it finished.";
    const text = snapshot.message || "";
    // "Done" or "Failed" again under the badge that says so: say nothing instead.
    const repeatsBadge = text.toLowerCase() === stateWord(snapshot.state).toLowerCase();
    if (TERMINAL.has(snapshot.state) && repeatsBadge) return "";
    return text;
  }

  renderChildren(children) {
    const list = this.part("children");
    list.hidden = !children || children.length === 0;
    if (list.hidden) return;
    children.forEach((child, index) => {
      let item = list.children[index];
      if (!item) {
        item = childTemplate.content.firstElementChild.cloneNode(true);
        const label = `${taskLabel(child.name)} ${index + 1}`;
        item.querySelector(".child-name").textContent = label;
        item.querySelector(".child-bar").setAttribute("aria-label", label);
        list.append(item);
      }
      item.dataset.state = child.state;
      item.title = `${stateWord(child.state)} (${child.state})`;
      item.querySelector(".child-bar").setAttribute("aria-valuenow", String(child.percent));
      item.querySelector(".child-fill").style.width = `${child.percent}%`;
      item.querySelector(".child-percent").textContent = `${child.percent}%`;
    });
  }

  renderOutcome(snapshot) {
    const box = this.part("outcome");
    box.replaceChildren();
    box.hidden = !["SUCCESS", "FAILURE"].includes(snapshot.state);
    if (snapshot.state === "FAILURE") {
      const error = document.createElement("p");
      error.className = "task-error";
      error.textContent = snapshot.error || "The task failed without saying why.";
      box.append(error);
    } else if (snapshot.state === "SUCCESS") {
      const list = document.createElement("dl");
      list.className = "task-result";
      const rows = snapshot.result === null
        ? [[null, "Finished (no result)"]]
        : resultRows(snapshot.result);
      for (const [label, value] of rows) {
        const row = document.createElement("div");
        const term = document.createElement("dt");
        term.textContent = label || "Result";
        const detail = document.createElement("dd");
        detail.textContent = value;
        row.append(term, detail);
        list.append(row);
      }
      box.append(list);
    }
  }

  /** Elapsed and time left, between two snapshots too (called every second by the page). */
  tick() {
    const s = this.snapshot;
    if (!s) return;
    const elapsed = this.part("elapsed");
    const eta = this.part("eta");
    const since = (performance.now() - this.receivedAt) / 1000;
    const elapsedLabel = elapsed.previousElementSibling;
    if (TERMINAL.has(s.state)) {
      const took = secondsBetween(s.started_at, s.finished_at);
      elapsedLabel.textContent = "Took";
      elapsed.textContent = took === null ? "never started" : duration(took, { short: true });
      eta.parentElement.hidden = true;
      return;
    }
    eta.parentElement.hidden = false;
    if (s.state === "PENDING" || !s.started_at) {
      elapsed.textContent = "not started";
      eta.textContent = "estimating…";
      return;
    }
    // Server times for the run so far, the local clock only since the last snapshot.
    const run = secondsBetween(s.started_at, s.updated_at) ?? 0;
    elapsed.textContent = duration(run + since);
    const done = s.total > 0 ? s.current / s.total : s.percent / 100;
    if (s.percent < ESTIMATE_AFTER_PERCENT || run < ESTIMATE_AFTER_SECONDS || done <= 0) {
      eta.textContent = "estimating…";
      return;
    }
    const left = (run * (1 - done)) / done - since;
    eta.textContent = left >= 1 ? `about ${duration(left)} left` : "almost done";
  }

  showLink(link) {
    const text = link.mode === "polling" ? LINK_WORDS[link.reason] || LINK_WORDS.lost : "";
    this.part("link").textContent = text;
    this.part("link").hidden = !text;
    this.element.dataset.link = link.mode;
  }

  showGone() {
    this.part("message").textContent = "This task is not yours or no longer exists.";
    this.part("cancel").hidden = true;
  }

  async cancel() {
    const button = this.part("cancel");
    button.disabled = true;
    try {
      const url = cancelUrl(this.taskId);
      const { ok, status, body } = await requestJSON(url, { method: "POST" });
      if (ok) this.deliver?.(body);
      else this.onCancelError(body.error || `Could not cancel (HTTP ${status}).`);
    } catch (error) {
      this.onCancelError(`Could not reach the server: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  }
}
