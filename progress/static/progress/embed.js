// Brings every {% progress_bar task_id %} on a page to life: follows the task's
// WebSocket, moves the bar, reconnects until the task has ended.
const TERMINAL = new Set(["SUCCESS", "FAILURE", "REVOKED"]);
const WORDS = { PENDING: "Queued", STARTED: "Running", PROGRESS: "Running", RETRY: "Retrying",
  SUCCESS: "Done", FAILURE: "Failed", REVOKED: "Cancelled" };

export function followBar(element) {
  const taskId = element.dataset.progressTask;
  const bar = element.querySelector("[role=progressbar]");
  const fill = element.querySelector(".bar-fill");
  const text = element.querySelector(".progress-embed-text");
  let seq = 0;
  let state = null;
  let retries = 0;
  const connect = () => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/progress/${taskId}/`);
    socket.onmessage = (event) => {
      const snapshot = JSON.parse(event.data);
      if (snapshot.seq < seq) return;
      seq = snapshot.seq;
      state = snapshot.state;
      retries = 0;
      fill.style.width = `${snapshot.percent}%`;
      bar.setAttribute("aria-valuenow", String(snapshot.percent));
      element.dataset.state = snapshot.state;
      const word = WORDS[snapshot.state] || snapshot.state;
      text.textContent = `${word} · ${snapshot.percent}%${snapshot.message ? ` · ${snapshot.message}` : ""}`;
    };
    socket.onclose = (event) => {
      if (TERMINAL.has(state)) return;
      if (event.code === 4403 || event.code === 4404) {
        text.textContent = "This task is not yours or no longer exists.";
        return;
      }
      setTimeout(connect, Math.min(5000, 250 * 2 ** retries++));
    };
  };
  connect();
}

for (const element of document.querySelectorAll("[data-progress-task]")) {
  if (!element.dataset.following) {
    element.dataset.following = "1";
    followBar(element);
  }
}
