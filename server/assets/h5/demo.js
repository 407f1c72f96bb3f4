// The demo conference page: what a conference H5 page does with the login-ticket script.
import MeetEasyLogin from "/h5/login-ticket.mjs";

const page = document.getElementById("page");
const byId = (id) => document.getElementById(id);

// The page's text in the browser's language: /h5/i18n.js (a deferred classic script before this module,
// so it has run by now) has put it into the HTML and keeps the sentences this script fills in.
const say = (key, vars) => window.MeetEasyI18n.t(key, vars);

// Why the page asks to log in, or why a password login failed: a code /h5/i18n.js has a sentence for in
// words, any other code with the server's own message.
// Every code the page can meet has its sentence; one from a newer server than this page gets the
// general one in the reader's language, not the server's English message.
function sentenceFor(error) {
  return say(`error.${error.error}`) || say("error.other");
}

function show(state) {
  page.dataset.state = state;
  byId("loading").hidden = state !== "loading";
  byId("logged-in").hidden = state !== "logged-in";
  byId("prompt").hidden = state !== "prompt";
  byId("switch-account").hidden = state !== "switch-account";
}

// `ticketError`: the link's ticket could not be exchanged (refused, or the server not answering) but the
// stored login holds.
function showUser(user, ticketError) {
  const note = byId("ticket-note");
  const refused = ticketError && ticketError.error.startsWith("ticket_");
  note.hidden = !ticketError;
  note.dataset.error = ticketError ? ticketError.error : "";
  note.textContent = ticketError ? say(refused ? "demo.ticket_not_needed" : "demo.ticket_not_checked") : "";
  byId("user-name").textContent = user.display_name;
  byId("user-roles").textContent = user.roles.length > 0 ? user.roles.join(", ") : say("demo.no_roles");
  show("logged-in");
}

// `?login`: the script sent the browser here for a link whose ticket was refused. Said by the first
// prompt only: one after a later logout has nothing to do with that link.
let refusedLinkUnsaid = new URLSearchParams(window.location.search).has("login");

function showPrompt(error, miniProgram) {
  const reason = byId("prompt-reason");
  const loginRequired = refusedLinkUnsaid;
  refusedLinkUnsaid = false;
  if (error !== null) {
    reason.dataset.error = error.error;
    reason.textContent = sentenceFor(error);
  } else if (loginRequired) {
    reason.dataset.error = "login_required";
    reason.textContent = say("demo.login_required");
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
  const offered = outcome.offered.display_name;
  byId("keep-account").textContent = current ? say("demo.stay_as", { name: current }) : say("demo.stay");
  byId("accept-account").textContent = say("demo.switch_to", { name: offered });
  const choose = async (choice) => {
    byId("keep-account").disabled = true;
    byId("accept-account").disabled = true;
    settle(await choice());
  };
  byId("keep-account").addEventListener("click", () => choose(outcome.keep), { once: true });
  byId("accept-account").addEventListener("click", () => choose(outcome.accept), { once: true });
  show("switch-account");
  // A question the reader must answer before the page goes on: a screen reader starts there, and the
  // keyboard's next Tab reaches the two answers.
  byId("switch-heading").focus();
}

function settle(outcome) {
  if (outcome.status === "logged_in") {
    showUser(outcome.user, outcome.ticketError);
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
  message.textContent = sentenceFor(error);
  if (error.retryAfter) {
    message.textContent += say("demo.retry_in", { seconds: error.retryAfter });
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

settle(await MeetEasyLogin.start({ loginUrl: "/h5/demo?login" }));
