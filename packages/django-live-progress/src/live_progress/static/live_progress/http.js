// The two things every request of the page needs: the CSRF token and JSON both ways.

export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

/** GET or POST JSON; resolves to {status, ok, body} (body {} when the answer is not JSON). */
export async function requestJSON(url, { method = "GET", data } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  if (data !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method,
    headers,
    credentials: "same-origin",
    body: data === undefined ? undefined : JSON.stringify(data),
  });
  let body = {};
  try {
    body = await response.json();
  } catch {
    // An HTML error page or an empty body: the status says enough.
  }
  return { status: response.status, ok: response.ok, body };
}
