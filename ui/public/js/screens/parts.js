// Pieces more than one screen shows: the banner about where the session is kept, a person's
// avatar, and a command's error in words.
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
export function sessionEndedBy(error) {
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
        case "invalid_server_url":
            return t.invalidServerUrl(error.message);
        default:
            return t.unexpected(error.message);
    }
}
