// The demo conference page: what a conference H5 page does with the login-ticket script.
import MeetEasyLogin from "/h5/login-ticket.mjs";

const page = document.getElementById("page");
const byId = (id) => document.getElementById(id);

const PROMPT_REASONS = {
  ticket_expired: "That login link has expired. Please log in again.",
  ticket_used: "That login link was already used (perhaps in another tab). Please log in.",
  network_error: "Could not reach the login server. Check your connection and try again.",
  token_expired: "Your session has ended. Please log in again.",
  token_revoked: "Your session has ended. Please log in again.",
  invalid_token: "Your session is no longer valid. Please log in again.",
};

const FORM_ERRORS = {
  invalid_credentials: "Wrong email/phone or password.",
  too_many_attempts: "Too many attempts. Please wait a moment and try again.",
  network_error: "Could not reach the login server. Check your connection and try again.",
};

function show(state) {
  page.dataset.state = state;
  byId("loading").hidden = state !== "loading";
  byId("logged-in").hidden = state !== "logged-in";
  byId("prompt").hidden = state !== "prompt";
  byId("switch-account").hidden = state !== "switch-account";
}

function showUser(user) {
  byId("user-name").textContent = user.display_name;
  byId("user-roles").textContent = user.roles.length > 0 ? user.roles.join(", ") : "none";
  show("logged-in");
}

function showPrompt(error, miniProgram) {
  const reason = byId("prompt-reason");
  const loginRequired = new URLSearchParams(window.location.search).has("login");
  if (error !== null) {
    reason.dataset.error = error.error;
    reason.textContent = PROMPT_REASONS[error.error] || error.message;
  } else if (loginRequired) {
    reason.dataset.error = "login_required";
    reason.textContent = "That login link was not valid. Please log in.";
  } else {
    delete reason.dataset.error;
    reason.textContent = "";
  }
  reason.hidden = reason.textContent === "";
  byId("mini-program").hidden = !miniProgram;
  byId("password-form").hidden = miniProgram;
  show("prompt");
}

// A link for another account arrived on this logged-in page: ask, never switch silently.
function askToSwitch(outcome) {
  // `current` is null when the login server could not say who the stored session belongs to.
  const current = outcome.current ? outcome.current.display_name : null;
  byId("current-name").textContent = current || "";
  byId("switch-current").hidden = current === null;
  byId("switch-current-unknown").hidden = current !== null;
  byId("offered-name").textContent = outcome.offered.display_name;
  byId("keep-account").textContent = current ? `Stay as ${current}` : "Stay logged in";
  byId("accept-account").textContent = `Switch to ${outcome.offered.display_name}`;
  const choose = async (choice) => {
    byId("keep-account").disabled = true;
    byId("accept-account").disabled = true;
    settle(await choice());
  };
  byId("keep-account").addEventListener("click", () => choose(outcome.keep), { once: true });
  byId("accept-account").addEventListener("click", () => choose(outcome.accept), { once: true });
  show("switch-account");
}

function settle(outcome) {
  if (outcome.status === "logged_in") {
    showUser(outcome.user);
  } else if (outcome.status === "prompt") {
    showPrompt(outcome.error, outcome.miniProgram);
  } else if (outcome.status === "switch_account") {
    askToSwitch(outcome);
  } else {
    page.dataset.state = "redirecting";
  }
}

function showFormError(error) {
  const message = byId("form-error");
  message.dataset.error = error.error;
  message.textContent = FORM_ERRORS[error.error] || error.message;
  if (error.retryAfter) {
    message.textContent += ` (retry in ${error.retryAfter} s)`;
  }
  message.hidden = false;
}

byId("password-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const submit = byId("login-submit");
  byId("form-error").hidden = true;
  submit.disabled = true;
  try {
    const user = await MeetEasyLogin.loginWithPassword(byId("login").value.trim(), byId("password").value);
    byId("password").value = "";
    showUser(user);
  } catch (error) {
    showFormError(error instanceof MeetEasyLogin.MeetEasyLoginError ? error : { error: "unexpected_response", message: String(error) });
  } finally {
    submit.disabled = false;
  }
});

byId("logout").addEventListener("click", async () => {
  await MeetEasyLogin.logout();
  showPrompt(null, MeetEasyLogin.inMiniProgram());
});

byId("mini-program-login").addEventListener("click", () => {
  if (!MeetEasyLogin.reauthenticateInMiniProgram()) {
    showPrompt({ error: "mini_program_unavailable", message: "Go back to the mini program to log in again." }, true);
  }
});

settle(await MeetEasyLogin.start({ loginUrl: "/h5/demo?login" }));
