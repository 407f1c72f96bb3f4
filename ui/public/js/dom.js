// A tiny element builder: text goes in as text nodes, never as HTML, so nothing the server sends
// (names, messages) can inject markup.
export function h(tag, props = {}, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(props)) {
        if (typeof value === "function") {
            element.addEventListener(name.replace(/^on/, ""), value);
        }
        else if (typeof value === "boolean") {
            if (value)
                element.setAttribute(name, "");
        }
        else {
            element.setAttribute(name, value);
        }
    }
    for (const child of children) {
        if (child === null || child === undefined || child === false)
            continue;
        element.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return element;
}
export function replaceChildren(parent, ...children) {
    parent.replaceChildren(...children.filter((child) => child !== null && child !== undefined && child !== false));
}
/** Sets `element`'s text unless it reads so already. A live region (role status, alert) announces
 * whatever is written into it, the same words included: a screen drawn again from an unchanged
 * state (the scan loop repeating "waiting" at every poll, a reload failing as the last did) must
 * not make a screen reader say them once more. */
export function writeText(element, text) {
    if (element.textContent !== text)
        element.textContent = text;
}
/** Initials for a person without an avatar picture. */
export function initials(name) {
    const letters = Array.from(name.trim());
    return (letters[0] ?? "?").toUpperCase();
}
