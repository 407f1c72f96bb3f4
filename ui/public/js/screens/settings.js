// The settings screen: the server's URL and the UI's language. Saving is the router's business
// (a new server restarts the console); this screen shows the form and the error of a failed save.
import { h } from "../dom.js";
import { t } from "../i18n.js";
import { errorText, storageBanner } from "./parts.js";
/** The settings form, filled from `current`, warning when `storage` keeps sessions for this run only. */
export function settingsScreen(current, storage, actions) {
    const serverInput = h("input", { id: "server-url", type: "url", value: current.server_url, required: true, "data-autofocus": true, "aria-describedby": "server-url-hint" });
    const languageSelect = h("select", { id: "language" }, h("option", { value: "zh-CN", ...(current.language === "zh-CN" ? { selected: true } : {}) }, "简体中文"), h("option", { value: "en", ...(current.language === "en" ? { selected: true } : {}) }, "English"));
    const message = h("p", { class: "banner", id: "settings-message", role: "status", hidden: true });
    const saveButton = h("button", { type: "submit", class: "primary", id: "save-settings" }, t.save);
    const form = h("form", {
        class: "settings-form",
        id: "settings-form",
        onsubmit: async (event) => {
            event.preventDefault();
            // One save at a time (a form whose submit button is off is not submitted by Enter either):
            // a second, sent before the first answered, could restart the console once more.
            saveButton.disabled = true;
            try {
                await actions.save(serverInput.value, languageSelect.value);
            }
            catch (failure) {
                message.className = "banner error";
                message.textContent = errorText(failure);
                message.hidden = false;
            }
            finally {
                saveButton.disabled = false;
            }
        },
    }, h("h1", {}, t.settingsTitle), message, h("label", { for: "server-url" }, t.serverUrl), serverInput, h("p", { class: "muted small", id: "server-url-hint" }, current.server_from_env ? t.serverFromEnv : t.serverUrlHint), h("label", { for: "language" }, t.language), languageSelect, storageBanner(storage), h("div", { class: "actions" }, saveButton, h("button", { type: "button", class: "secondary", id: "close-settings", onclick: () => actions.close() }, t.back)));
    return h("section", { class: "card settings-card" }, form);
}
