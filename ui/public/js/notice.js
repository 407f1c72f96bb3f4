// The notices the console keeps to show on a screen: why the login screen is back (a session
// ended, a logout, leaving the team), why a scan panel's code was replaced, and why the scan login
// stopped. Each is kept as what happened, never as words: `noticeText` words it when a screen is
// drawn, in the language of that moment, so a notice kept while the Settings switch the language
// reads in the new one.
import { t } from "./i18n.js";
import { errorText } from "./screens/parts.js";
/** The notice in the UI's language now. */
export function noticeText(notice) {
    switch (notice.kind) {
        case "session_ended":
            return sessionEndedText(notice.ended);
        case "logged_out":
            return withKeychainWarning(notice.revokedOnServer ? t.loggedOut : t.loggedOutLocally, notice.keychainCleared);
        case "left_team":
            return withKeychainWarning(t.youLeftTeam, notice.keychainCleared);
        case "logout_failed":
            return errorText(notice.failure);
        case "scan_refused":
            return scanRefusalText(notice.purpose, notice.refusal);
        case "scan_stopped":
            return errorText(notice.problem);
    }
}
export function noticeTone(notice) {
    switch (notice.kind) {
        case "session_ended":
        case "logout_failed":
            return "warning";
        case "logged_out":
        case "left_team":
            // The keychain may still hold the session it could not delete.
            return notice.keychainCleared ? "info" : "warning";
        case "scan_refused":
            return scanRefusalTone(notice.refusal);
        case "scan_stopped":
            // No code is coming: the panel waits for the user.
            return "error";
    }
}
function sessionEndedText(ended) {
    switch (ended) {
        case "expired":
            return t.errors.session_expired;
        case "revoked":
            return t.errors.session_revoked;
        case "invalid":
            return t.errors.session_invalid;
    }
}
function withKeychainWarning(text, keychainCleared) {
    return keychainCleared ? text : `${text} ${t.keychainNotCleared}`;
}
function scanRefusalTone(refusal) {
    switch (refusal) {
        case "declined":
            return "warning";
        case "expired":
            return "info";
        case "not_organizer":
        case "identity_in_use":
            return "error";
    }
}
function scanRefusalText(purpose, refusal) {
    switch (refusal) {
        case "declined":
            return purpose === "login" ? t.scanDeclined : t.linkDeclined;
        case "expired":
            return purpose === "login" ? t.scanExpired : t.linkExpired;
        case "not_organizer":
            return t.scanNotOrganizer;
        // Only a link is refused this way (the Rust side reports it to the login as `not_organizer`).
        case "identity_in_use":
            return purpose === "login" ? t.scanNotOrganizer : t.linkInUse;
    }
}
