// bench-console's question to the console's page: see QR_SHOWN in console.rs.
const requested = arguments[0];
const now = () => performance.timeOrigin + performance.now();
if (window.__benchQr === undefined) {
    const shown = () => {
        const image = document.getElementById("qr-image");
        return image !== null && !image.hidden && image.src.startsWith("data:image/");
    };
    const watch = window.__benchQr = { sourced: null, painted: null, was_there: shown() };
    const check = () => {
        if (watch.sourced !== null || !shown()) return;
        watch.sourced = now();
        document.getElementById("qr-image").decode().catch(() => null).then(() =>
            requestAnimationFrame(() => requestAnimationFrame(() => { watch.painted = now(); })));
    };
    new MutationObserver(check).observe(document, {
        subtree: true, childList: true, attributes: true, attributeFilter: ["src", "hidden"],
    });
    check();
}
const paint = performance.getEntriesByName("first-contentful-paint")[0];
const after = (epoch_ms) => Math.max(0, epoch_ms - requested);
const qr = window.__benchQr;
return qr.painted === null ? null : {
    sourced: after(qr.sourced), painted: after(qr.painted), late: qr.was_there,
    first_paint: paint === undefined ? null : after(performance.timeOrigin + paint.startTime),
};
