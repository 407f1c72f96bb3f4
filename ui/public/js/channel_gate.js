// Which of the Rust side's event channels still speak for the console. Each background job (the
// restore, the scan login, "Link WeChat") reports through a channel the UI opens when it starts
// the job, and starting a job of that kind again replaces it: Rust stops the old job, but what it
// sent before it stopped may still be on its way, and, delivered after, would bring back what the
// new job replaced (the code given up with "Not you?", a link called off and started again, the
// session of the server the Settings just left). Each kind of job has its own count of channels,
// so opening one kind's channel leaves another kind's events alone.
export function channelGate() {
    const newest = new Map();
    return {
        open(kind, deliver) {
            const generation = (newest.get(kind) ?? 0) + 1;
            newest.set(kind, generation);
            return (event) => {
                if (newest.get(kind) === generation)
                    deliver(event);
            };
        },
    };
}
