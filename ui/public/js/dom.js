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
/** Initials for a person without an avatar picture. */
export function initials(name) {
    const letters = Array.from(name.trim());
    return (letters[0] ?? "?").toUpperCase();
}
