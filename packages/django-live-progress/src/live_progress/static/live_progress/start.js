// The start controls: each listed task's form, checked in the browser, then POST /tasks/.
import { requestJSON } from "./http.js";
import { API } from "./urls.js";

// One start at a time: a new session's first two starts, sent at once, would each get
// an owner of their own from the server, and one task would be lost to this page.
let previous = Promise.resolve();

function inTurn(send) {
  const turn = previous.then(send);
  previous = turn.catch(() => {});
  return turn;
}

function kwargsOf(form) {
  const kwargs = {};
  for (const input of form.querySelectorAll("input[name]")) {
    if (input.value === "") continue;
    kwargs[input.name] = input.type === "number" ? Number(input.value) : input.value;
  }
  return kwargs;
}

function showFieldError(input, text) {
  const error = input.closest(".field")?.querySelector(".field-error");
  if (!error) return;
  error.textContent = text;
  // The message is the input's description while it stands (with any help text).
  const ids = (input.getAttribute("aria-describedby") || "").split(" ");
  const described = new Set(ids.filter(Boolean));
  if (text) described.add(error.id);
  else described.delete(error.id);
  if (described.size) input.setAttribute("aria-describedby", [...described].join(" "));
  else input.removeAttribute("aria-describedby");
  if (text) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

/** The browser's own check of the form's min/max/step; false (and messages) when it fails. */
function checkFields(form) {
  let firstBad = null;
  for (const input of form.querySelectorAll("input[name]")) {
    const valid = input.checkValidity();
    showFieldError(input, valid ? "" : input.validationMessage);
    if (!valid && !firstBad) firstBad = input;
  }
  firstBad?.focus();
  return firstBad === null;
}

function showFormError(form, text) {
  const box = form.querySelector(".start-error");
  box.textContent = text;
  box.hidden = !text;
}

/** Wire every form.start: on success `onStarted(snapshot)` with the 202 answer. */
export function enableStartForms(onStarted) {
  for (const form of document.querySelectorAll("form.start")) {
    for (const input of form.querySelectorAll("input[name]")) {
      input.addEventListener("input", () => showFieldError(input, ""));
    }
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      showFormError(form, "");
      if (!checkFields(form)) return;
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        const data = { task: form.dataset.task, kwargs: kwargsOf(form) };
        const send = () => requestJSON(API, { method: "POST", data });
        const { status, body } = await inTurn(send);
        if (status === 202) onStarted(body);
        else showFormError(form, body.error || `Could not start the task (HTTP ${status}).`);
      } catch (error) {
        showFormError(form, `Could not reach the server: ${error.message}`);
      } finally {
        button.disabled = false;
      }
    });
  }
}
