// Where a screen keeps the one countdown it shows at a time (the Team page's invite expiry). The
// countdown is started on an answer from Rust, which may arrive after the page was left (the user
// moved on while an invite was being created): once the page is left, the slot is closed and starts
// nothing more, so no countdown runs on behind a page nobody sees.
export function countdownSlot() {
    let stop = () => { };
    let closed = false;
    const clear = () => {
        stop();
        stop = () => { };
    };
    return {
        replace(start) {
            clear();
            if (!closed)
                stop = start();
        },
        clear,
        close() {
            closed = true;
            clear();
        },
    };
}
