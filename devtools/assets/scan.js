// Dev-mode phone simulator of the scan page: logs in a dev user the way the mini program does, then scans,
// confirms or declines the console's scene, and shows each outcome.

const byId = (id) => document.getElementById(id);
const simulator = byId("simulator");
const scene = decodeURIComponent(window.location.pathname.split("/").pop());
let accessToken = null;
let purpose = "login";

const ERRORS = {
  scene_expired: "This QR code has expired. Refresh it on the console and scan again.",
  scene_claimed: "Someone else already scanned this QR code.",
  not_organizer: "This user is not an organizer, so it cannot log the console in.",
  identity_in_use: "This WeChat user's account holds more than this WeChat login, so it cannot be linked.",
  network_error: "Could not reach the server. Check the connection and try again.",
};

class ApiError extends Error {
  constructor(body) {
    super(body.message);
    this.error = body.error;
  }
}

async function api(path, body, bearer) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  if (bearer) {
    headers.Authorization = `Bearer ${bearer}`;
  }
  let response;
  try {
    response = await fetch(path, { method: "POST", headers, body: JSON.stringify(body), cache: "no-store" });
  } catch {
    throw new ApiError({ error: "network_error", message: "network failure" });
  }
  const text = await response.text();
  let payload = null;
  try {
    payload = text === "" ? null : JSON.parse(text);
  } catch {
    payload = null;
  }
  if (!response.ok) {
    if (payload !== null && typeof payload.error === "string") {
      throw new ApiError(payload);
    }
    throw new ApiError({ error: "unexpected_response", message: `The server answered HTTP ${response.status}.` });
  }
  return payload;
}

function setState(state) {
  simulator.dataset.state = state;
  byId("scan-form").hidden = state !== "name";
  byId("confirm").hidden = state !== "confirm";
}

function showError(error) {
  const message = byId("scan-error");
  message.dataset.error = error.error;
  message.textContent = `${ERRORS[error.error] || error.message} (${error.error})`;
  message.hidden = false;
}

function showOutcome(outcome, text) {
  const message = byId("outcome");
  message.dataset.outcome = outcome;
  message.textContent = text;
  message.hidden = false;
}

async function guarded(buttons, action) {
  byId("scan-error").hidden = true;
  buttons.forEach((button) => (button.disabled = true));
  try {
    await action();
  } catch (error) {
    showError(error instanceof ApiError ? error : { error: "unexpected_response", message: String(error) });
  } finally {
    buttons.forEach((button) => (button.disabled = false));
  }
}

byId("scan-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = byId("dev-name").value.trim();
  guarded([byId("scan")], async () => {
    const login = await api("/auth/wechat/login", { code: `dev:${name}` }, null);
    accessToken = login.access_token;
    const scan = await api(`/auth/scenes/${scene}/scan`, {}, accessToken);
    byId("scanner-name").textContent = login.user.display_name;
    // A link scene asks whose account this WeChat joins, not whether to log in.
    purpose = scan.purpose === "link" ? "link" : "login";
    byId("login-question").hidden = purpose === "link";
    byId("link-question").hidden = purpose !== "link";
    byId("linker-name").textContent = login.user.display_name;
    byId("account-name").textContent = scan.account ? scan.account.display_name : "";
    byId("console-device").textContent = scan.console.device_name;
    byId("console-ip").textContent = scan.console.ip;
    byId("console-time").textContent = new Date(scan.console.created_at * 1000).toLocaleString();
    setState("confirm");
  });
});

const choices = [byId("confirm-login"), byId("decline-login")];

byId("confirm-login").addEventListener("click", () =>
  guarded(choices, async () => {
    await api(`/auth/scenes/${scene}/confirm`, {}, accessToken);
    setState("done");
    if (purpose === "link") {
      showOutcome("linked", "Linked: this WeChat now logs in to that account.");
    } else {
      showOutcome("confirmed", "Confirmed: the console is logging in.");
    }
  }),
);

byId("decline-login").addEventListener("click", () =>
  guarded(choices, async () => {
    await api(`/auth/scenes/${scene}/cancel`, {}, accessToken);
    setState("done");
    showOutcome("declined", "Declined: the console was told, and nothing was logged in.");
  }),
);
