// The reader's finished tasks from GET /tasks/, newest first, a page at a time.
import { requestJSON } from "./http.js";
import { API } from "./urls.js";
import {
  TERMINAL, clockTime, duration, resultLine, secondsBetween, stateWord, taskLabel,
} from "./format.js";

const list = document.getElementById("history");
const empty = document.getElementById("history-empty");
const more = document.getElementById("history-more");
const template = document.getElementById("history-template");
let nextPage = null;
// A group's parts have history rows of their own; the group's card or row stands for them.
const subtasks = new Set();

/** Remember a group's parts (and drop any row of theirs already shown). */
export function noteSubtasks(snapshot) {
  for (const child of snapshot.children || []) {
    subtasks.add(child.task_id);
    list.querySelector(`[data-task-id="${child.task_id}"]`)?.remove();
  }
}

function row(snapshot) {
  const item = template.content.firstElementChild.cloneNode(true);
  const part = (name) => item.querySelector(`.history-${name}`);
  item.dataset.taskId = snapshot.task_id;
  item.dataset.state = snapshot.state;
  part("state").textContent = stateWord(snapshot.state);
  part("state").title = `State: ${snapshot.state}`;
  part("name").textContent = taskLabel(snapshot.name);
  part("name").title = snapshot.task_id;
  const outcome = snapshot.state === "FAILURE" ? snapshot.error || "Failed"
    : snapshot.state === "REVOKED" ? "Cancelled"
      : resultLine(snapshot.result) || "Finished";
  part("outcome").textContent = outcome;
  part("outcome").title = outcome;
  const when = part("when");
  const ended = snapshot.finished_at || snapshot.updated_at;
  when.dateTime = ended || "";
  when.textContent = ended ? clockTime(ended) : "";
  const took = secondsBetween(snapshot.started_at, snapshot.finished_at);
  part("took").textContent =
    took === null ? "never started" : `took ${duration(took, { short: true })}`;
  return item;
}

/** Show a page of GET /tasks/: finished tasks here, unfinished ones handed to `onLive`. */
export function showPage(data, { onLive, shown }) {
  data.tasks.forEach(noteSubtasks);
  for (const snapshot of data.tasks) {
    if (shown.has(snapshot.task_id) || subtasks.has(snapshot.task_id)) continue;
    shown.add(snapshot.task_id);
    if (TERMINAL.has(snapshot.state)) list.append(row(snapshot));
    else onLive(snapshot);
  }
  nextPage = data.next_page;
  more.hidden = !nextPage;
  empty.hidden = list.children.length > 0;
}

/** Wire "Show more" to fetch the next page. */
export function enableShowMore(options) {
  more.addEventListener("click", async () => {
    if (!nextPage) return;
    more.disabled = true;
    more.textContent = "Loading…";
    try {
      const { ok, body } = await requestJSON(`${API}?page=${nextPage}`);
      if (ok) showPage(body, options);
    } catch {
      // Offline for a moment: the button stays for another try.
    } finally {
      more.disabled = false;
      more.textContent = "Show more";
    }
  });
}
