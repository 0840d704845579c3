// The page: start tasks, a live card per unfinished task, the history, the header's facts.
import { TaskCard } from "./card.js";
import { follow, liveSockets } from "./follow.js";
import { TERMINAL, setLabels } from "./format.js";
import { enableShowMore, noteSubtasks, showPage } from "./history.js";
import { requestJSON } from "./http.js";
import { enableStartForms } from "./start.js";

// An open task socket carries workers_online live; with none open, the page polls the
// cheap count so the "no worker" banner still comes and goes without a reload.
const WORKERS_POLL_MS = 2000;
const TICK_MS = 1000;
const TITLE = document.title;

const cardList = document.getElementById("tasks");
const cardsEmpty = document.getElementById("tasks-empty");
const noWorkerBanner = document.getElementById("no-worker");
const connectionBanner = document.getElementById("connection");
const workers = document.getElementById("workers-online");
const cards = new Map(); // task id → TaskCard
const links = new Map(); // task id → how its card follows it ({mode, reason})
const shown = new Set(); // task ids on the page, as a card or in the history

function showWorkers(count) {
  if (typeof count !== "number") return;
  workers.dataset.count = String(count);
  workers.querySelector("span").textContent = String(count);
  noWorkerBanner.hidden = count > 0;
}

function showConnectionProblem(text) {
  connectionBanner.textContent = text || "";
  connectionBanner.hidden = !text;
}

/** The banner says what the cards' links say: all live, or the server (or Redis) lost. */
function showLinks() {
  const polling = [...links.values()].filter((link) => link.mode === "polling");
  const reasons = new Set(polling.map((link) => link.reason));
  if (reasons.has("redis")) {
    showConnectionProblem(
      "The server lost contact with Redis, so progress is paused; reconnecting…",
    );
  } else if (reasons.has("lost")) {
    showConnectionProblem("Lost the live connection to the server; reconnecting…");
  } else {
    showConnectionProblem("");
  }
}

/** "42% · <the page's title>" while tasks run (their mean), the plain title otherwise. */
function showTitle() {
  const running = [...cards.values()].filter((card) => card.running && card.state !== "PENDING");
  if (running.length === 0) {
    document.title = TITLE;
    return;
  }
  const total = running.reduce((sum, card) => sum + card.snapshot.percent, 0);
  const percent = Math.round(total / running.length);
  document.title = `${percent}% · ${TITLE}`;
}

function addCard(snapshot, { first = true } = {}) {
  if (cards.has(snapshot.task_id)) return;
  shown.add(snapshot.task_id);
  const card = new TaskCard(snapshot.task_id, { onCancelError: showConnectionProblem });
  cards.set(snapshot.task_id, card);
  if (first) cardList.prepend(card.element);
  else cardList.append(card.element);
  cardsEmpty.hidden = true;
  const follower = follow(snapshot.task_id, {
    onSnapshot: (data) => {
      card.render(data);
      noteSubtasks(data);
      if (TERMINAL.has(data.state)) {
        // Ended: however the card was following, it has nothing more to wait for.
        links.delete(snapshot.task_id);
        card.showLink({ mode: "done" });
        showLinks();
      }
      showWorkers(data.workers_online);
      showTitle();
    },
    onLink: (link) => {
      links.set(snapshot.task_id, link);
      card.showLink(link);
      showLinks();
    },
    onGone: () => {
      links.delete(snapshot.task_id);
      card.showGone();
      showLinks();
    },
  });
  card.deliver = follower.deliver;
  follower.deliver(snapshot);
}

async function pollWorkers() {
  if (liveSockets() === 0 && !document.hidden) {
    try {
      const { ok, body } = await requestJSON("/health/workers/");
      if (ok) showWorkers(body.online);
    } catch {
      // Server unreachable: the task sockets' banner says so; try again later.
    }
  }
  setTimeout(pollWorkers, WORKERS_POLL_MS);
}

const startForms = [...document.querySelectorAll("form.start")];
setLabels(startForms.map((form) => [form.dataset.task, form.dataset.label]));
enableStartForms((snapshot) => addCard(snapshot));
const historyOptions = { shown, onLive: (snapshot) => addCard(snapshot, { first: false }) };
showPage(JSON.parse(document.getElementById("first-page").textContent), historyOptions);
enableShowMore(historyOptions);
setTimeout(pollWorkers, WORKERS_POLL_MS);
setInterval(() => {
  for (const card of cards.values()) if (card.running) card.tick();
}, TICK_MS);
