// The one countdown of the UI, behind every "… in N s" line: the offline notice, the scan panel's
// retry line and the QR's refresh line.
/**
 * Calls `render` with the whole seconds left until `deadlineMs` (epoch milliseconds): now, then
 * once a second until none are left. Returns the function that stops it early; the screen that
 * started a countdown stops it before it is replaced.
 */
export function countdown(deadlineMs, render) {
    const timer = window.setInterval(tick, 1000);
    const stop = () => window.clearInterval(timer);
    function tick() {
        const secondsLeft = Math.max(0, Math.ceil((deadlineMs - Date.now()) / 1000));
        render(secondsLeft);
        if (secondsLeft === 0)
            stop();
    }
    tick();
    return stop;
}
/** The deadline `seconds` from now, for `countdown`. */
export function secondsFromNow(seconds) {
    return Date.now() + seconds * 1000;
}
