// Follows one task: its WebSocket while it can, GET /tasks/<id>/ every 2 s while it cannot.
// Shared by the page (progress.js) and every {% progress_bar %} (embed.js).
import { TERMINAL } from "./format.js";
import { socketUrl, taskUrl } from "./urls.js";

const RECONNECT_MAX_MS = 5000;
export const POLL_MS = 2000;
// Close codes of ProgressConsumer: not yours / unknown, Redis unreachable, too many sockets.
const REFUSED = new Set([4403, 4404]);
const SOURCE_LOST = 4503;
const TOO_MANY_SOCKETS = 4429;

let openSockets = 0;

/** How many task sockets are open on this page (none: the page polls the worker count). */
export function liveSockets() {
  return openSockets;
}

/**
 * Calls onSnapshot(snapshot) for every change, newest seq only, until the task ends.
 * onLink(link) says how: {mode: "live"}, or {mode: "polling", reason: "lost" | "redis" |
 * "too-many"}. onGone() when the task is not this reader's or no longer exists.
 */
export function follow(taskId, { onSnapshot, onLink = () => {}, onGone = () => {} }) {
  let seq = -1;
  let state = null;
  let retries = 0;
  let pollTimer = null;
  let polling = false;
  let ended = false;

  const deliver = (snapshot) => {
    if (ended || snapshot.seq < seq) return; // an older message: drop it
    seq = snapshot.seq;
    state = snapshot.state;
    onSnapshot(snapshot);
    if (TERMINAL.has(state)) end();
  };
  const end = () => {
    ended = true;
    clearTimeout(pollTimer);
    pollTimer = null;
  };
  const gone = () => {
    end();
    onGone();
  };

  async function poll() {
    pollTimer = null;
    try {
      const response = await fetch(taskUrl(taskId), {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (response.status === 404) return gone();
      if (response.ok) deliver(await response.json());
    } catch {
      // The server is unreachable too: keep trying.
    }
    if (!ended && pollTimer === null && polling) pollTimer = setTimeout(poll, POLL_MS);
  }
  const startPolling = (reason) => {
    onLink({ mode: "polling", reason });
    if (polling) return;
    polling = true;
    poll();
  };
  const stopPolling = () => {
    polling = false;
    clearTimeout(pollTimer);
    pollTimer = null;
  };

  function connect() {
    if (ended) return;
    const socket = new WebSocket(socketUrl(taskId));
    let opened = false;
    socket.addEventListener("open", () => {
      opened = true;
      openSockets += 1;
    });
    // Live again on the first snapshot, not on open: a socket may open only to be closed
    // at once with 4503 while Redis is still away.
    socket.addEventListener("message", (event) => {
      retries = 0;
      if (polling) stopPolling();
      onLink({ mode: "live" });
      deliver(JSON.parse(event.data));
    });
    socket.addEventListener("close", (event) => {
      if (opened) openSockets -= 1;
      if (ended || TERMINAL.has(state)) return;
      if (REFUSED.has(event.code)) return gone();
      if (event.code === TOO_MANY_SOCKETS) return startPolling("too-many"); // no reconnect
      startPolling(event.code === SOURCE_LOST ? "redis" : "lost");
      setTimeout(connect, Math.min(RECONNECT_MAX_MS, 250 * 2 ** retries++));
    });
  }
  connect();
  return { deliver };
}
