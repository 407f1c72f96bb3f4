// The login screen: a tab to scan a QR with WeChat, and a tab for email or phone and password. The
// scan panel is updated in place by the scan login's events, which main.ts passes on to it; a scan
// login that stopped for good says why there and offers to start again.
import { countdown, secondsFromNow } from "../countdown.js";
import { h, replaceChildren, writeText } from "../dom.js";
import { t } from "../i18n.js";
import * as ipc from "../ipc.js";
import { noticeText, noticeTone } from "../notice.js";
import { avatarElement, errorText, storageBanner } from "./parts.js";
import { offlineLine } from "./starting.js";
/** The login screen on `tab`; `scan` is its scan panel when that tab is shown. */
export function loginScreen(tab, notice, storage, actions) {
    const tabs = h("div", { class: "tabs", role: "tablist" }, tabButton("scan", t.tabScan, tab, actions), tabButton("password", t.tabPassword, tab, actions));
    const scanActions = { newCode: () => actions.newScanCode(), startAgain: () => actions.startScanLoginAgain() };
    const scan = tab === "scan" ? new ScanPanel(notice, loginTexts(), scanActions) : null;
    const element = h("section", { class: "card login-card", id: "login-screen", "data-tab": tab }, storageBanner(storage), tabs);
    element.append(scan ? scan.element : passwordPanel(notice, actions, () => actions.holdStill(element, t.passwordBusy)));
    return { element, scan };
}
function tabButton(tab, label, shown, actions) {
    const selected = shown === tab;
    const show = (next) => {
        actions.showTab(next);
        document.getElementById(`tab-${next}`)?.focus();
    };
    return h("button", {
        type: "button",
        role: "tab",
        id: `tab-${tab}`,
        class: "tab",
        "aria-selected": selected ? "true" : "false",
        tabindex: selected ? "0" : "-1",
        onclick: () => {
            if (!selected)
                show(tab);
        },
        onkeydown: (event) => {
            const key = event.key;
            if (key === "ArrowRight" || key === "ArrowLeft")
                show(tab === "scan" ? "password" : "scan");
        },
    }, label);
}
export function loginTexts() {
    return { idPrefix: "", title: t.scanTitle, hint: t.scanHint, alt: t.qrAlt, tabPanel: true };
}
/** What a scan step does to a panel: one place for the login and "Link WeChat" (`purpose`, which
 * words the refusals). */
export function applyScanStep(panel, step, server, purpose) {
    switch (step.kind) {
        case "qr":
            panel.showQr(step.image, step.refresh_at_ms);
            return;
        case "waiting":
            panel.setStatus("waiting", t.scanWaiting);
            return;
        case "scanned":
            panel.showScanned(step.display_name, step.avatar);
            return;
        // The code on screen is over: a fresh one follows, once the loop has made it.
        case "declined":
        case "not_organizer":
        case "expired":
        case "identity_in_use":
            panel.awaitNewCode();
            panel.setNotice({ kind: "scan_refused", purpose, refusal: step.kind });
            return;
        case "offline":
            panel.showOffline(server, step.retry_in_secs);
            return;
        case "failing":
            panel.showFailing(step.problem, step.retry_in_secs);
            return;
        default: {
            // Every kind ipc.ts names is applied above (ui_events.test.js holds those to the Rust
            // side's); one from a newer Rust side is ignored.
            const unapplied = step;
            return unapplied;
        }
    }
}
/** A scan panel (the login's scan tab, or "Link WeChat"). It keeps references to its parts so
 * events update them in place. */
export class ScanPanel {
    constructor(notice, texts, actions = null) {
        /** Whose picture the status shows, as name and avatar ("" for none). */
        this.pictureShown = "";
        /** Ends the "code refreshes in N s" countdown. */
        this.stopRefresh = () => { };
        /** Ends the "trying again in N s" countdown while the server is unreachable. */
        this.stopRetry = () => { };
        const id = (name) => `${texts.idPrefix}${name}`;
        this.qr = h("img", { id: id("qr-image"), alt: texts.alt, width: "232", height: "232", hidden: true });
        this.qrFrame = h("div", { class: "qr-frame", id: id("qr-frame"), "data-state": "loading" }, this.qr, h("div", { class: "qr-placeholder" }, h("div", { class: "spinner" })));
        this.statusText = h("span", {}, t.scanLoadingQr);
        this.status = h("p", { class: "scan-status", id: id("scan-status"), "data-state": "loading", role: "status", "aria-live": "polite", tabindex: "-1" }, this.statusText);
        this.notice = h("p", { class: "banner", id: id("scan-notice"), role: "alert", hidden: true });
        this.refresh = h("p", { class: "muted small", id: id("qr-refresh") });
        // The code given up leaves the screen at once, not when the next one arrives.
        const giveUpCode = () => {
            this.awaitNewCode();
            actions?.newCode();
        };
        this.newCode = actions
            ? h("button", { type: "button", class: "secondary", id: id("new-code"), hidden: true, onclick: giveUpCode }, t.scanNewCode)
            : null;
        // Why the last scan login stopped leaves with it: the panel prepares a code again. "Try again"
        // hides itself, which would drop the keyboard to the page's start: it goes to the status.
        const startAgain = () => {
            this.setNotice(null);
            this.awaitNewCode();
            this.status.focus();
            actions?.startAgain();
        };
        this.startAgain = actions
            ? h("button", { type: "button", class: "primary", id: id("scan-again"), hidden: true, onclick: startAgain }, t.scanStartAgain)
            : null;
        this.setNotice(notice);
        const panelProps = texts.tabPanel
            ? { class: "scan-panel", id: id("scan-panel"), role: "tabpanel", "aria-labelledby": "tab-scan" }
            : { class: "scan-panel", id: id("scan-panel") };
        this.element = h("div", panelProps, this.notice, h("div", { class: "scan-layout" }, this.qrFrame, h("div", { class: "scan-text" }, h("h2", {}, texts.title), h("p", { class: "muted" }, texts.hint), this.status, this.refresh, this.newCode, this.startAgain)));
    }
    showQr(image, refreshAtMs) {
        if (this.newCode)
            this.newCode.hidden = true;
        this.qr.src = image;
        this.qr.hidden = false;
        this.refresh.hidden = false;
        this.qrFrame.dataset.state = "ready";
        this.stopRefresh();
        this.stopRefresh = countdown(refreshAtMs, (left) => {
            this.refresh.textContent = t.qrRefreshesIn(left);
        });
    }
    /** The code shown is over (declined, refused, expired, or given up with "Not you?"): nothing of
     * it stays on screen, neither the code nor who scanned it, while the scan loop makes the next
     * one, which `showQr` brings. */
    awaitNewCode() {
        this.takeCodeOff();
        this.setStatus("loading", t.scanLoadingQr);
    }
    /** The scan login stopped for good (`problem` says why): no code stays on screen and none is
     * said to be coming; "Try again" asks for a new scan login. */
    showStopped(problem) {
        this.takeCodeOff();
        this.setNotice({ kind: "scan_stopped", problem });
        this.setStatus("stopped", t.scanStopped);
    }
    takeCodeOff() {
        this.stopRefresh();
        this.qr.hidden = true;
        this.refresh.hidden = true;
        if (this.newCode)
            this.newCode.hidden = true;
    }
    setStatus(state, text, avatar = null, name = "") {
        const retrying = state === "offline" || state === "failing";
        const stopped = state === "stopped";
        if (!retrying)
            this.stopRetry();
        if (this.startAgain)
            this.startAgain.hidden = !stopped;
        this.status.dataset.state = state;
        const picture = state === "scanned" ? `${name}\n${avatar ?? ""}` : "";
        if (picture !== this.pictureShown) {
            this.pictureShown = picture;
            replaceChildren(this.status, state === "scanned" ? avatarElement(avatar, name, "small") : null, this.statusText);
        }
        writeText(this.statusText, text);
        const hasQr = !this.qr.hidden;
        this.qrFrame.setAttribute("data-state", stopped ? "stopped" : !hasQr ? "loading" : retrying ? "offline" : "ready");
    }
    showScanned(name, avatar) {
        this.setNotice(null);
        // A scanned code waits for the phone's confirm instead of being refreshed on time.
        this.stopRefresh();
        this.refresh.hidden = true;
        if (this.newCode)
            this.newCode.hidden = false;
        this.setStatus("scanned", t.scanScanned(name), avatar, name);
    }
    showOffline(server, retryInSecs) {
        this.showRetrying("offline", (left) => offlineLine(server, left), retryInSecs);
    }
    /** The server answered the scan, but not as it needs (`problem` says how); it is asked again. */
    showFailing(problem, retryInSecs) {
        const why = errorText(problem);
        this.showRetrying("failing", (left) => (left > 0 ? t.failingRetryIn(why, left) : t.failingRetrying(why)), retryInSecs);
    }
    /** A status that counts down to the loop's next try; `line` words it for the seconds left. */
    showRetrying(state, line, retryInSecs) {
        this.setStatus(state, line(retryInSecs));
        this.stopRetry();
        this.stopRetry = countdown(secondsFromNow(retryInSecs), (left) => writeText(this.statusText, line(left)));
    }
    setNotice(notice) {
        this.notice.hidden = notice === null;
        this.notice.className = notice ? `banner ${noticeTone(notice)}` : "banner";
        writeText(this.notice, notice ? noticeText(notice) : "");
    }
    /** Stops the panel's countdowns, when the screen is replaced. */
    stop() {
        this.stopRefresh();
        this.stopRetry();
    }
}
/** The password tab's form; `holdScreen` holds the login screen still while its login runs. */
function passwordPanel(notice, actions, holdScreen) {
    const login = h("input", { id: "login-input", name: "login", type: "text", autocomplete: "username", required: true, "data-autofocus": true });
    const password = h("input", { id: "password-input", name: "password", type: "password", autocomplete: "current-password", required: true });
    const error = h("p", { class: "banner error", id: "password-error", role: "alert", hidden: true });
    const submit = h("button", { type: "submit", class: "primary", id: "password-submit" }, t.passwordSubmit);
    const form = h("form", {
        class: "password-form",
        id: "password-form",
        onsubmit: async (event) => {
            event.preventDefault();
            // Until the login answers, neither the other tab nor the Settings may draw the login
            // afresh: its failure would be said on this form, no longer shown, and never seen. That is
            // more than the server's answer (10 s at most, CALL_TIMEOUT in console-core/src/api.rs):
            // a login the server accepted waits for any logout or restore already changing the
            // session (and is ended, not kept, when a logout ran after it was sent), is put in effect,
            // saved to the keychain (5 s at most, KEYCHAIN_TIMEOUT, its wait in
            // the keychain's queue included, where it may sit behind a read held by an unlock dialog;
            // then kept in memory), and its avatar fetched (10 s at most). Scanning instead gains
            // nothing meanwhile: it asks the same server.
            const release = holdScreen();
            submit.textContent = t.passwordBusy;
            error.hidden = true;
            try {
                actions.loggedIn(await ipc.passwordLogin(login.value, password.value));
            }
            catch (failure) {
                release();
                error.textContent = errorText(failure);
                error.hidden = false;
                submit.textContent = t.passwordSubmit;
                // The hold took the focus off the form (inert), and select() does not bring it back.
                password.focus();
                password.select();
            }
        },
    }, notice ? h("p", { class: `banner ${noticeTone(notice)}` }, noticeText(notice)) : null, error, h("label", { for: "login-input" }, t.loginLabel), login, h("label", { for: "password-input" }, t.passwordLabel), password, submit);
    return h("div", { class: "password-panel", role: "tabpanel", "aria-labelledby": "tab-password" }, form);
}
