// Brings every {% progress_bar task_id %} on a page to life: the same following as the
// page's cards (WebSocket, reconnect, polling while it cannot), drawn as one bar and a line.
import { follow } from "./follow.js";
import { stateWord } from "./format.js";

export function followBar(element) {
  const bar = element.querySelector("[role=progressbar]");
  const fill = element.querySelector(".bar-fill");
  const text = element.querySelector(".progress-embed-text");
  let line = "";
  let note = "";
  const show = () => {
    text.textContent = note ? `${line} (${note})` : line;
  };
  follow(element.dataset.progressTask, {
    onSnapshot: (snapshot) => {
      const word = stateWord(snapshot.state);
      fill.style.width = `${snapshot.percent}%`;
      bar.setAttribute("aria-valuenow", String(snapshot.percent));
      bar.setAttribute("aria-valuetext", `${snapshot.percent}%, ${word}`);
      element.dataset.state = snapshot.state;
      // A message that only repeats the state ("Done") is not said twice.
      const said = snapshot.message && snapshot.message.toLowerCase() !== word.toLowerCase();
      line = `${word} · ${snapshot.percent}%${said ? ` · ${snapshot.message}` : ""}`;
      show();
    },
    onLink: (link) => {
      note = link.mode === "polling" ? "checking every 2 s" : "";
      show();
    },
    onGone: () => {
      line = "This task is not yours or no longer exists.";
      note = "";
      show();
    },
  });
}

for (const element of document.querySelectorAll("[data-progress-task]")) {
  if (!element.dataset.following) {
    element.dataset.following = "1";
    followBar(element);
  }
}
