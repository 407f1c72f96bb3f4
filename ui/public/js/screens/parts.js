// Pieces more than one screen shows: the banner about where the session is kept, a person's
// avatar, a command's error in words, and the bar that moves between Home, Team and Account.
import { h, initials } from "../dom.js";
import { t } from "../i18n.js";
import * as ipc from "../ipc.js";
export function storageBanner(storage) {
    if (storage.kind === "keychain")
        return null;
    return h("p", { class: "banner warning", id: "storage-notice", role: "status" }, t.memoryOnly(storage.problem));
}
export function avatarElement(avatar, name, size) {
    if (avatar)
        return h("img", { class: `avatar ${size}`, src: avatar, alt: "" });
    return h("span", { class: `avatar ${size} initials`, "aria-hidden": "true" }, initials(name));
}
/** How this console's session ended, when a command failed because the server says it is over
 * (the console has then forgotten it and the UI returns to the login screen). */
function sessionEndedBy(error) {
    if (!ipc.isCommandError(error))
        return null;
    switch (error.code) {
        case "session_expired":
            return "expired";
        case "session_revoked":
            return "revoked";
        case "session_invalid":
            return "invalid";
        default:
            return null;
    }
}
/** Hands a failure that was this console's session ending to `sessionEnded` (the UI then leaves
 * the screen for the login screen); true when it was. */
export function handOverIfEnded(failure, sessionEnded) {
    const ended = sessionEndedBy(failure);
    if (ended)
        sessionEnded(ended);
    return ended !== null;
}
/** Shows `text` in the banner `message` (hidden for `null`). */
export function sayIn(message, text, tone = "info") {
    message.hidden = text === null;
    message.className = `banner ${tone}`;
    message.textContent = text ?? "";
}
export function errorText(error) {
    if (!ipc.isCommandError(error))
        return t.unexpected(String(error));
    switch (error.code) {
        case "invalid_credentials":
            return t.invalidCredentials;
        case "too_many_attempts":
            return t.tooManyAttempts;
        case "not_organizer":
            return t.notOrganizerPassword;
        case "server_unreachable":
            return t.serverUnreachable;
        case "store_unavailable":
        case "server_busy":
            return t.serverBusy;
        case "wechat_unavailable":
            return t.wechatUnavailable;
        case "too_many_requests":
        case "slow_down":
            return t.tooManyRequests;
        case "server_redirected":
            return t.serverRedirected;
        case "browser_failed":
            return t.browserFailed;
        case "file_not_saved":
            return t.fileNotSaved;
        case "not_logged_in":
            return t.notLoggedIn;
        case "invalid_server_url":
            return t.invalidServerUrl(error.message);
        case "forbidden":
            return t.forbidden;
        case "invite_invalid":
            return t.inviteInvalid;
        case "invite_expired":
            return t.inviteExpired;
        case "invite_used":
            return t.inviteUsed;
        case "identity_in_use":
            return t.loginInUse;
        // Refusals whose reason only the server can give (the last admin, a rule of the team): its words.
        case "last_admin":
            return t.refusedBecause(error.message);
        default:
            return t.unexpected(error.message);
    }
}
/** The bar at the top of the logged-in pages; `show` moves to another page. */
export function pagesBar(current, show) {
    const pages = [
        ["home", t.navHome],
        ["team", t.navTeam],
        ["account", t.navAccount],
    ];
    return h("nav", { class: "pages", "aria-label": t.pagesLabel }, ...pages.map(([page, label]) => h("button", {
        type: "button",
        class: "page-link",
        id: `nav-${page}`,
        "aria-current": page === current ? "page" : "false",
        onclick: () => {
            if (page !== current)
                show(page);
        },
    }, label)));
}
