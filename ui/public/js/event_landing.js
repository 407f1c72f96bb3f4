// Where an event of the session restore or the scan login lands, given the screen shown. Both jobs
// report "offline" while they wait for the server and end with "home" or "login_required"; their
// events come through IPC channels and may arrive after the console has moved on.
export function eventLanding(shown, event) {
    if (event !== "offline")
        return shown === "settings" ? "under_settings" : "replace_screen";
    switch (shown) {
        case "starting":
        case "offline":
            return "replace_screen";
        case "login":
            return "scan_panel";
        // Closing the Settings shows a screen that asks the server afresh (the start, the login) or a
        // logged-in one, for which the notice is stale as below.
        case "settings":
        // Logged in: the jobs that report "offline" end once a session is in effect, so this notice
        // comes from before it (a scan loop's, delivered after a password login).
        case "home":
        case "team":
        case "account":
            return "dropped";
    }
}
