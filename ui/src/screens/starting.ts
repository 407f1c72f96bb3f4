// The screens shown before the console knows where it stands: checking the stored session, and the
// server not answering, with the seconds until the next try.

import { countdown, secondsFromNow } from "../countdown.js";
import { h } from "../dom.js";
import { t } from "../i18n.js";

export function startingScreen(): HTMLElement {
  return h("section", { class: "center-card", id: "starting", "aria-busy": "true" }, h("div", { class: "spinner" }), h("p", {}, t.checkingSession));
}

/** The offline notice, counting down to the next try; `stop` ends the countdown. */
export function offlineScreen(server: string, retryInSecs: number): { element: HTMLElement; stop: () => void } {
  const detail = h("p", { id: "offline-detail" });
  const element = h(
    "section",
    { class: "center-card", id: "offline-notice", role: "alert" },
    h("div", { class: "offline-icon", "aria-hidden": "true" }, "⚠"),
    h("h1", {}, t.offlineTitle),
    detail,
  );
  const stop = countdown(secondsFromNow(retryInSecs), (left) => {
    detail.textContent = offlineLine(server, left);
  });
  return { element, stop };
}

/** "<server> is not answering", with the seconds until the next try while there are any. */
export function offlineLine(server: string, secondsLeft: number): string {
  return secondsLeft > 0 ? t.offlineBody(server, secondsLeft) : t.offlineRetrying(server);
}
