// A tiny element builder: text goes in as text nodes, never as HTML, so nothing the server sends
// (names, messages) can inject markup.

type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Record<string, string | boolean | ((event: Event) => void)> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (typeof value === "function") {
      element.addEventListener(name.replace(/^on/, ""), value);
    } else if (typeof value === "boolean") {
      if (value) element.setAttribute(name, "");
    } else {
      element.setAttribute(name, value);
    }
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return element;
}

export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren(
    ...children.filter((child): child is Node | string => child !== null && child !== undefined && child !== false),
  );
}

/** Sets `element`'s text unless it reads so already. A live region (role status, alert) announces
 * whatever is written into it, the same words included: a screen drawn again from an unchanged
 * state (the scan loop repeating "waiting" at every poll, a reload failing as the last did) must
 * not make a screen reader say them once more. */
export function writeText(element: HTMLElement, text: string): void {
  if (element.textContent !== text) element.textContent = text;
}

/** Initials for a person without an avatar picture. */
export function initials(name: string): string {
  const letters = Array.from(name.trim());
  return (letters[0] ?? "?").toUpperCase();
}
