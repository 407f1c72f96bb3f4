// Everything the console remembers between screens, in one object that main.ts owns. Screens get
// what they draw as arguments and report back through callbacks; only the scan panel keeps anything
// (its own elements and countdowns), and main.ts holds it here while it is shown.
export function initialState() {
    return {
        preferences: null,
        storage: null,
        screen: "starting",
        screenBeforeSettings: "starting",
        loginTab: "scan",
        session: null,
        loginNotice: null,
        sessionEnding: null,
        scan: null,
        account: null,
        stopScreen: () => { },
        refreshScreen: () => { },
    };
}
