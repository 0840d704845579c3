// Where the app's HTTP API lives. The app may be mounted under any prefix, so the page and
// every {% progress_bar %} carry it (data-live-progress-api) instead of this file guessing.
const marked = document.querySelector("[data-live-progress-api]");

/** The API's root, e.g. "/progress/tasks/" (the prefix the project chose). */
export const API = marked ? marked.dataset.liveProgressApi : "/tasks/";

/** GET /…/tasks/<id>/, POST /…/tasks/<id>/cancel/ and the WebSocket of one task. */
export const taskUrl = (taskId) => `${API}${taskId}/`;
export const cancelUrl = (taskId) => `${API}${taskId}/cancel/`;
export const socketUrl = (taskId) => {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/ws/progress/${taskId}/`;
};
