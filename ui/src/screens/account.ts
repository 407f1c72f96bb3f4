// The Account page: the ways into this account (WeChat, password), a form that adds a password
// login or changes the password (asking for the current one once one is set), and "Link WeChat",
// which shows a link QR and follows the scan exactly as the login does: the same scan panel, fed by
// the same scan loop in Rust, through main.ts.

import { coalesced } from "../coalesce.js";
import { h, replaceChildren } from "../dom.js";
import { t } from "../i18n.js";
import * as ipc from "../ipc.js";
import type { CommandError, Member, ScanStep, SessionEnded } from "../ipc.js";
import { applyScanStep, ScanPanel } from "./login.js";
import { errorText, handOverIfEnded, pagesBar } from "./parts.js";
import type { Page } from "./parts.js";

export interface AccountActions {
  show(page: Page): void;
  sessionEnded(ended: SessionEnded): void;
  /** Starts "Link WeChat" in Rust; its events come back through `AccountScreen`. */
  startLink(): void;
  stopLink(): void;
}

export interface AccountScreen {
  element: HTMLElement;
  refresh(): void;
  /** A step of the link scan. */
  linkStep(step: ScanStep, server: string): void;
  linked(): void;
  linkStopped(problem: CommandError): void;
  /** Stops the link panel's countdowns (and the link scan), when the page is left. */
  stop(): void;
}

export function accountScreen(actions: AccountActions): AccountScreen {
  const methods = h("ul", { class: "method-list", id: "account-methods", "aria-labelledby": "methods-title", "aria-busy": "true" }, h("li", { class: "muted" }, t.accountLoading));
  const passwordSection = h("section", { class: "account-part", id: "password-section", "aria-labelledby": "password-title" });
  // Outside the form, which is drawn again when a password is added: the outcome stays in view.
  const result = h("p", { class: "banner", id: "account-password-message", role: "status", hidden: true });
  const linkResult = h("p", { class: "banner", id: "link-result", role: "status", hidden: true });
  const linkArea = h("div", { class: "link-area", id: "link-area" });
  const linkButton = h("button", { type: "button", class: "primary", id: "link-wechat" }, t.linkWechat);
  const cancelLinkButton = h("button", { type: "button", class: "secondary", id: "cancel-link", hidden: true }, t.linkCancel);

  const linkSection = h("section", { class: "account-part", id: "link-section", "aria-labelledby": "link-title" }, h("h2", { id: "link-title" }, t.linkTitle), h("p", { class: "muted small" }, t.linkHint), linkResult, h("div", { class: "actions" }, linkButton, cancelLinkButton), linkArea);

  let me: Member | null = null;
  let panel: ScanPanel | null = null;

  const handOverEnded = (failure: unknown): boolean =>
    handOverIfEnded(failure, (ended) => actions.sessionEnded(ended));

  const refresh = coalesced(async () => {
    try {
      const team = await ipc.listTeam();
      me = team.members.find((member) => member.you) ?? null;
      renderMethods();
      // Keep what is being typed: the form is drawn again only when its kind changes.
      const kind = hasPassword() ? "change" : "add";
      if (passwordSection.dataset.kind !== kind) renderPasswordForm();
      return true;
    } catch (failure) {
      if (handOverEnded(failure)) return false;
      replaceChildren(methods, h("li", { class: "banner error" }, errorText(failure)));
      return true;
    } finally {
      methods.setAttribute("aria-busy", "false");
    }
  });

  function hasPassword(): boolean {
    return me?.methods.includes("password") ?? false;
  }

  function renderMethods(): void {
    const row = (method: string): HTMLElement => {
      const set = me?.methods.includes(method) ?? false;
      return h("li", { class: "method", "data-method": method, "data-set": set ? "true" : "false" }, h("span", { class: "method-name" }, t.method(method)), h("span", { class: set ? "chip" : "chip kind" }, set ? t.methodSet : t.methodNotSet));
    };
    replaceChildren(methods, row("wechat"), row("password"));
  }

  function renderPasswordForm(): void {
    const change = hasPassword();
    passwordSection.dataset.kind = change ? "change" : "add";
    const login = h("input", { id: "account-login", name: "login", type: "text", autocomplete: "username", required: true });
    const current = change ? h("input", { id: "account-current-password", name: "current-password", type: "password", autocomplete: "current-password", required: true }) : null;
    const password = h("input", { id: "account-new-password", name: "new-password", type: "password", autocomplete: "new-password", required: true });
    const submitLabel = change ? t.changePassword : t.addPassword;
    const submit = h("button", { type: "submit", class: "primary", id: "account-password-submit" }, submitLabel);
    const form = h(
      "form",
      { class: "password-form", id: "account-password-form" },
      h("label", { for: "account-login" }, t.accountLoginLabel),
      login,
      current ? h("label", { for: "account-current-password" }, t.currentPasswordLabel) : null,
      current,
      h("label", { for: "account-new-password" }, t.newPasswordLabel),
      password,
      submit,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      submit.disabled = true;
      submit.textContent = t.passwordSaving;
      result.hidden = true;
      try {
        await ipc.setPassword(login.value, password.value, current ? current.value : null);
        result.className = "banner info";
        result.textContent = change ? t.passwordChanged : t.passwordAdded;
        password.value = "";
        if (current) current.value = "";
        result.hidden = false;
        await refresh();
      } catch (failure) {
        if (handOverEnded(failure)) return;
        const code = ipc.isCommandError(failure) ? failure.code : null;
        const wrongCurrent = code === "invalid_credentials";
        result.className = "banner error";
        // The store may fail part way through the change (the server says so in English): the
        // user is told how to finish it, not to retry as if nothing changed.
        const maybeSaved = code === "store_unavailable";
        result.textContent = wrongCurrent ? t.wrongCurrentPassword : maybeSaved ? t.passwordMaybeSaved : errorText(failure);
        result.hidden = false;
        // A first password may be saved after all: the form then asks for it as the current one.
        if (maybeSaved) void refresh();
        if (wrongCurrent && current) {
          current.value = "";
          current.focus();
        }
      }
      submit.disabled = false;
      submit.textContent = submitLabel;
    });
    replaceChildren(passwordSection, h("h2", { id: "password-title" }, t.passwordTitle), h("p", { class: "muted small" }, change ? t.passwordChangeHint : t.passwordAddHint), result, form);
  }

  function startLink(): void {
    panel?.stop();
    panel = new ScanPanel(null, { idPrefix: "link-", title: t.linkScanTitle, hint: t.linkScanHint, alt: t.linkQrAlt, tabPanel: false });
    replaceChildren(linkArea, panel.element);
    linkResult.hidden = true;
    linkButton.hidden = true;
    cancelLinkButton.hidden = false;
    cancelLinkButton.focus();
    // The QR appears at the foot of the page: bring it into view.
    linkSection.scrollIntoView({ block: "start" });
    actions.startLink();
  }

  function endLink(focusButton: boolean): void {
    panel?.stop();
    panel = null;
    replaceChildren(linkArea);
    linkButton.hidden = false;
    cancelLinkButton.hidden = true;
    if (focusButton) linkButton.focus();
  }

  linkButton.addEventListener("click", startLink);
  cancelLinkButton.addEventListener("click", () => {
    actions.stopLink();
    endLink(true);
  });

  const element = h(
    "section",
    { class: "card account-card", id: "account" },
    pagesBar("account", actions.show),
    h("h1", {}, t.accountTitle),
    h("p", { class: "muted" }, t.accountHint),
    h("section", { class: "account-part", "aria-labelledby": "methods-title" }, h("h2", { id: "methods-title" }, t.waysIn), methods),
    passwordSection,
    linkSection,
  );
  void refresh();

  return {
    element,
    refresh: () => void refresh(),
    linkStep: (step, server) => {
      if (!panel) return;
      applyScanStep(panel, step, server, "link");
    },
    linked: () => {
      endLink(true);
      linkResult.className = "banner info";
      linkResult.textContent = t.linkDone;
      linkResult.hidden = false;
      void refresh();
    },
    linkStopped: (problem) => {
      endLink(true);
      linkResult.className = "banner error";
      linkResult.textContent = errorText(problem);
      linkResult.hidden = false;
    },
    stop: () => {
      if (panel) actions.stopLink();
      endLink(false);
    },
  };
}
