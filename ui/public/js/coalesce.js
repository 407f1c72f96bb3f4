// How a screen reloads what it shows: one load at a time, and none lost. A reload asked while one
// runs (the window regained focus, or an action finished, as a load was on its way) is not dropped:
// the load in flight may have read the server before the change it was asked for, so one more runs
// after it, however many were asked meanwhile.
/**
 * Wraps `load`, which resolves to whether a later load could still show something new (false once
 * it handed the screen over, say because this console's session ended) and never rejects. The
 * returned function starts a load, or, while one runs, has one more run after it; what it returns
 * resolves once the load that answers the call has finished.
 */
export function coalesced(load) {
    let running = null;
    let followUp = null;
    const request = () => {
        if (followUp)
            return followUp;
        if (running) {
            followUp = running.then(async (goOn) => {
                followUp = null;
                if (goOn)
                    await request();
            });
            return followUp;
        }
        const run = load().finally(() => {
            running = null;
        });
        running = run;
        return run.then(() => undefined);
    };
    return request;
}
