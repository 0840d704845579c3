// The page's only script: start tasks, follow each over its WebSocket, draw the bars.
const TERMINAL = new Set(["SUCCESS", "FAILURE", "REVOKED"]);
const RECONNECT_MAX_MS = 5000;
// An open task socket carries workers_online live; with none open, the page polls the
// cheap count so the "no worker" banner still comes and goes without a reload.
const WORKERS_POLL_MS = 2000;
let openSockets = 0;
// Close codes of ProgressConsumer: not yours / unknown, and "Redis is unreachable".
const REFUSED = new Set([4403, 4404]);
const SOURCE_LOST = 4503;

const list = document.getElementById("tasks");
const template = document.getElementById("task-template");
const startForms = document.querySelectorAll("form.start");
const noWorkerBanner = document.getElementById("no-worker");
const connectionBanner = document.getElementById("connection");
const workersCount = document.querySelector("#workers-online span");

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function showWorkers(count) {
  if (typeof count !== "number") return;
  workersCount.textContent = String(count);
  noWorkerBanner.hidden = count > 0;
}

function showConnectionProblem(text) {
  connectionBanner.textContent = text || "";
  connectionBanner.hidden = !text;
}

function describe(snapshot) {
  switch (snapshot.state) {
    case "PENDING":
      // The server says why a task waits (no worker, wrong queue, N ahead...), in words.
      if (snapshot.message && snapshot.message !== "Queued") return snapshot.message;
      if (snapshot.workers_online === 0) return "Queued: no worker is running.";
      if (snapshot.queue_position) {
        const n = snapshot.queue_position;
        return `Queued: ${n} task${n === 1 ? "" : "s"} ahead of yours.`;
      }
      return snapshot.message || "Queued.";
    case "FAILURE":
      return `Failed: ${snapshot.error || "unknown error"}`;
    case "SUCCESS":
      return `Done: ${JSON.stringify(snapshot.result)}`;
    default:
      return snapshot.message || "";
  }
}

class TaskView {
  constructor(taskId) {
    this.taskId = taskId;
    this.seq = 0;
    this.state = null;
    this.retries = 0;
    this.element = template.content.firstElementChild.cloneNode(true);
    this.element.dataset.taskId = taskId;
    this.element.querySelector(".task-id").textContent = taskId.slice(0, 8);
    this.element.querySelector(".task-id").title = taskId;
    this.cancelButton = document.createElement("button");
    this.cancelButton.type = "button";
    this.cancelButton.className = "task-cancel";
    this.cancelButton.textContent = "Cancel";
    this.cancelButton.addEventListener("click", () => this.cancel());
    this.element.querySelector(".task-head").append(this.cancelButton);
    list.prepend(this.element);
  }

  async cancel() {
    this.cancelButton.disabled = true;
    try {
      const response = await fetch(`/tasks/${this.taskId}/cancel/`, {
        method: "POST",
        headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
        credentials: "same-origin",
      });
      const body = await response.json();
      if (response.ok) this.render(body);
      else showConnectionProblem(body.error || `Could not cancel (HTTP ${response.status}).`);
    } catch (error) {
      showConnectionProblem(`Could not reach the server: ${error.message}`);
    } finally {
      this.cancelButton.disabled = false;
    }
  }

  render(snapshot) {
    if (snapshot.seq < this.seq) return; // an older message: drop it
    this.seq = snapshot.seq;
    this.state = snapshot.state;
    const el = this.element;
    el.dataset.state = snapshot.state;
    if (snapshot.name) el.querySelector(".task-name").textContent = snapshot.name.split(".").pop().replaceAll("_", " ");
    el.querySelector(".task-state").textContent = snapshot.state;
    el.querySelector(".bar-fill").style.width = `${snapshot.percent}%`;
    el.querySelector(".bar").setAttribute("aria-valuenow", String(snapshot.percent));
    el.querySelector(".task-message").textContent = describe(snapshot);
    this.cancelButton.hidden = TERMINAL.has(snapshot.state);
    showWorkers(snapshot.workers_online);
  }

  follow() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/progress/${this.taskId}/`);
    let opened = false;
    socket.addEventListener("open", () => { opened = true; openSockets += 1; });
    socket.addEventListener("close", () => { if (opened) openSockets -= 1; });
    // The banner clears on the first snapshot, not on open: a socket can open only to be
    // closed at once with 4503 while Redis is still away.
    socket.onmessage = (event) => {
      this.retries = 0;
      showConnectionProblem("");
      this.render(JSON.parse(event.data));
    };
    socket.onclose = (event) => {
      if (TERMINAL.has(this.state)) return;
      if (REFUSED.has(event.code)) {
        this.element.querySelector(".task-message").textContent = "This task is not yours or no longer exists.";
        return;
      }
      // Lost the server or its Redis: say so, then reconnect; the snapshot on connect catches up.
      showConnectionProblem(event.code === SOURCE_LOST
        ? "The server lost contact with Redis, so progress is paused; reconnecting…"
        : "Lost the live connection to the server; reconnecting…");
      const delay = Math.min(RECONNECT_MAX_MS, 250 * 2 ** this.retries++);
      setTimeout(() => this.follow(), delay);
    };
  }
}

function kwargsOf(form) {
  const kwargs = {};
  for (const input of form.querySelectorAll("input[name]")) {
    if (input.value === "") continue;
    kwargs[input.name] = input.type === "number" ? Number(input.value) : input.value;
  }
  return kwargs;
}

async function startTask(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const response = await fetch("/tasks/", {
      method: "POST",
      headers: {
        "X-CSRFToken": csrfToken(),
        Accept: "application/json",
        "Content-Type": "application/json",
      },
      credentials: "same-origin",
      body: JSON.stringify({ task: form.dataset.task, kwargs: kwargsOf(form) }),
    });
    const body = await response.json();
    if (response.status !== 202) {
      showConnectionProblem(body.error || `Could not start the task (HTTP ${response.status}).`);
      return;
    }
    showConnectionProblem("");
    const view = new TaskView(body.task_id);
    view.render({ percent: 0, ...body, seq: 0 });
    view.follow();
  } catch (error) {
    showConnectionProblem(`Could not reach the server: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

async function pollWorkers() {
  if (openSockets === 0 && !document.hidden) {
    try {
      const response = await fetch("/health/workers/", { headers: { Accept: "application/json" } });
      if (response.ok) showWorkers((await response.json()).online);
    } catch {
      // Server unreachable: the task sockets' banner says so; try again later.
    }
  }
  setTimeout(pollWorkers, WORKERS_POLL_MS);
}

for (const form of startForms) form.addEventListener("submit", startTask);
setTimeout(pollWorkers, WORKERS_POLL_MS);
const initialIds = JSON.parse(document.getElementById("initial-task-ids").textContent);
for (const taskId of [...initialIds].reverse()) new TaskView(taskId).follow();
