// Where a screen keeps the one countdown it shows at a time (the Team page's invite expiry). The
// countdown is started on an answer from Rust, which may arrive after the page was left (the user
// moved on while an invite was being created): once the page is left, the slot is closed and starts
// nothing more, so no countdown runs on behind a page nobody sees.

export interface CountdownSlot {
  /** Stops the countdown held, then, unless the slot is closed, starts `start`'s (it returns its stop). */
  replace(start: () => () => void): void;
  /** Stops the countdown held; a later `replace` starts one again. */
  clear(): void;
  /** The page is left: stops the countdown held, and `replace` starts none from now on. */
  close(): void;
}

export function countdownSlot(): CountdownSlot {
  let stop = (): void => {};
  let closed = false;
  const clear = (): void => {
    stop();
    stop = () => {};
  };
  return {
    replace(start) {
      clear();
      if (!closed) stop = start();
    },
    clear,
    close() {
      closed = true;
      clear();
    },
  };
}
