// A fake of the few DOM parts the console's screens use, so Node tests can draw a screen, click it
// and read what it shows, with no browser and no DOM library: a tree of elements and text,
// attributes and the properties that reflect them, listeners (Node's own EventTarget), focus as a
// browser keeps it (`document.activeElement`), and a count of the changes a live region announces
// (`changes`). Only what ui/src touches is here.

/** `[name]` or `[name=value]` (the value optionally quoted). */
const attributePart = /^\[([\w-]+)(?:=["']?([^"'\]]*)["']?)?\]/;

/** Whether `element` matches a compound selector (`tag`, `#id`, `.class`, `[attr]`, `[attr=v]`,
 * together, with no combinators: all the screens ask for). */
function matches(element, selector) {
  let rest = selector;
  const tag = /^[a-z][a-z0-9]*/i.exec(rest);
  if (tag) {
    if (element.tagName !== tag[0].toUpperCase()) return false;
    rest = rest.slice(tag[0].length);
  }
  while (rest.length > 0) {
    const simple = /^([#.])([\w-]+)/.exec(rest);
    const attribute = attributePart.exec(rest);
    if (simple) {
      const [, kind, name] = simple;
      const ok = kind === "#" ? element.id === name : element.className.split(/\s+/).includes(name);
      if (!ok) return false;
      rest = rest.slice(simple[0].length);
    } else if (attribute) {
      const [, name, value] = attribute;
      if (!element.hasAttribute(name)) return false;
      if (value !== undefined && element.getAttribute(name) !== value) return false;
      rest = rest.slice(attribute[0].length);
    } else {
      throw new Error(`fake_dom: selector not supported: ${selector}`);
    }
  }
  return true;
}

class FakeNode extends EventTarget {
  parentNode = null;

  remove() {
    const parent = this.parentNode;
    if (!parent) return;
    // A focused element taken out of the page takes the focus with it, to the body.
    if (this instanceof FakeElement) this.ownerDocument.dropFocusWithin(this);
    parent.childNodes.splice(parent.childNodes.indexOf(this), 1);
    this.parentNode = null;
    parent.noteChange();
  }
}

class FakeText extends FakeNode {
  constructor(data) {
    super();
    this.data = String(data);
  }

  get textContent() {
    return this.data;
  }
}

/** Attributes the screens read back as string properties. */
const stringProperties = { id: "id", className: "class", src: "src", alt: "alt", type: "type" };
/** Attributes the screens read back as boolean properties. */
const booleanProperties = ["hidden", "disabled", "selected", "inert"];
/** Attributes that, set, leave no focus on or inside their element: the browser moves it to the body. */
const unfocusing = new Set(["hidden", "disabled", "inert"]);
/** Elements that take focus without a `tabindex`. */
const focusableTags = new Set(["BUTTON", "INPUT", "SELECT", "TEXTAREA"]);

class FakeElement extends FakeNode {
  constructor(ownerDocument, tag) {
    super();
    this.ownerDocument = ownerDocument;
    this.tagName = tag.toUpperCase();
    this.attributes = new Map();
    this.childNodes = [];
    /** How often the text or the children of this element or of one inside it changed: what a
     * live region announces (its default `aria-relevant` is additions and text). */
    this.changes = 0;
    /** An input's value once typed or set; its `value` attribute until then. */
    this.typedValue = null;
    this.dataset = new Proxy(
      {},
      {
        get: (_, key) => this.getAttribute(dataAttribute(key)) ?? undefined,
        set: (_, key, value) => {
          this.setAttribute(dataAttribute(key), String(value));
          return true;
        },
        deleteProperty: (_, key) => {
          this.removeAttribute(dataAttribute(key));
          return true;
        },
      },
    );
  }

  getAttribute(name) {
    return this.attributes.has(name) ? this.attributes.get(name) : null;
  }

  setAttribute(name, value) {
    this.attributes.set(name, String(value));
    if (unfocusing.has(name)) this.ownerDocument.dropFocusWithin(this);
  }

  removeAttribute(name) {
    this.attributes.delete(name);
  }

  hasAttribute(name) {
    return this.attributes.has(name);
  }

  get children() {
    return this.childNodes.filter((node) => node instanceof FakeElement);
  }

  get textContent() {
    return this.childNodes.map((node) => node.textContent).join("");
  }

  set textContent(text) {
    this.replaceChildren(...(text === "" ? [] : [String(text)]));
  }

  append(...nodes) {
    for (const node of nodes) {
      const child = typeof node === "string" ? new FakeText(node) : node;
      child.remove();
      child.parentNode = this;
      this.childNodes.push(child);
    }
    this.noteChange();
  }

  replaceChildren(...nodes) {
    for (const child of [...this.childNodes]) child.remove();
    this.append(...nodes);
  }

  noteChange() {
    for (const element of this.ancestors()) element.changes += 1;
  }

  /** This element's elements, in document order. */
  *descendants() {
    for (const child of this.children) {
      yield child;
      yield* child.descendants();
    }
  }

  querySelectorAll(selector) {
    return [...this.descendants()].filter((element) => matches(element, selector));
  }

  querySelector(selector) {
    return this.querySelectorAll(selector)[0] ?? null;
  }

  get value() {
    if (this.tagName === "SELECT") {
      const options = this.querySelectorAll("option");
      return (options.find((option) => option.selected) ?? options[0])?.value ?? "";
    }
    return this.typedValue ?? this.getAttribute("value") ?? (this.tagName === "OPTION" ? this.textContent : "");
  }

  /** Typing into an input; for a select, picking the option of that value. */
  set value(value) {
    if (this.tagName !== "SELECT") {
      this.typedValue = String(value);
      return;
    }
    for (const option of this.querySelectorAll("option")) option.selected = option.value === value;
  }

  /** As a browser does: nothing for a disabled control or inside an inert element; a submit
   * button submits its form. */
  click() {
    if (this.disabled || this.ancestors().some((element) => element.inert)) return;
    this.dispatchEvent(new Event("click", { cancelable: true }));
    if (this.tagName === "BUTTON" && this.type === "submit") this.closest("form")?.dispatchEvent(new Event("submit", { cancelable: true }));
  }

  /** This element and those it is inside, innermost first. */
  ancestors() {
    const found = [];
    for (let element = this; element instanceof FakeElement; element = element.parentNode) found.push(element);
    return found;
  }

  /** Whether `node` is this element or one inside it. */
  contains(node) {
    return node instanceof FakeElement && node.ancestors().includes(this);
  }

  closest(tag) {
    return this.ancestors().find((element) => element.tagName === tag.toUpperCase()) ?? null;
  }

  /** As a browser does: nothing for an element that cannot take focus (not a control and no
   * `tabindex`), is off, hidden, inert, or not in the page. */
  focus() {
    if (!this.focusable()) return;
    this.ownerDocument.activeElement = this;
  }

  focusable() {
    if (!focusableTags.has(this.tagName) && !this.hasAttribute("tabindex")) return false;
    if (this.disabled) return false;
    const around = this.ancestors();
    return around.includes(this.ownerDocument.documentElement) && !around.some((element) => element.hidden || element.inert);
  }

  select() {}

  scrollIntoView() {}

  showModal() {
    this.setAttribute("open", "");
  }

  close() {
    this.removeAttribute("open");
    this.dispatchEvent(new Event("close"));
  }
}

for (const [property, attribute] of Object.entries(stringProperties)) {
  Object.defineProperty(FakeElement.prototype, property, {
    get() {
      return this.getAttribute(attribute) ?? "";
    },
    set(value) {
      this.setAttribute(attribute, value);
    },
  });
}
for (const property of booleanProperties) {
  Object.defineProperty(FakeElement.prototype, property, {
    get() {
      return this.hasAttribute(property);
    },
    set(on) {
      if (on) this.setAttribute(property, "");
      else this.removeAttribute(property);
    },
  });
}

/** `inviteId` → `data-invite-id`. */
function dataAttribute(key) {
  return `data-${String(key).replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
}

class FakeDocument extends EventTarget {
  title = "";
  visibilityState = "visible";

  constructor() {
    super();
    this.documentElement = new FakeElement(this, "html");
    this.body = new FakeElement(this, "body");
    this.documentElement.append(this.body);
    /** The body when nothing else has the focus, as in a browser. */
    this.activeElement = this.body;
  }

  /** Moves the focus to the body if it is on `element` or inside it (`element` turned off,
   * hidden, made inert, or taken out). */
  dropFocusWithin(element) {
    if (element.contains(this.activeElement) && element !== this.body && element !== this.documentElement) this.activeElement = this.body;
  }

  createElement(tag) {
    return new FakeElement(this, tag);
  }

  createTextNode(text) {
    return new FakeText(text);
  }

  getElementById(id) {
    return this.documentElement.querySelector(`#${id}`);
  }
}

/** A fake `window`: an event target (focus) with timers that never fire by themselves, so a
 * screen's countdown draws its first second and then waits for nothing. */
class FakeWindow extends EventTarget {
  setInterval() {
    return 0;
  }

  clearInterval() {}
}

/** Makes a fresh fake `document` and `window` the globals the screens use, and returns them. */
export function installFakeDom() {
  const document = new FakeDocument();
  const window = new FakeWindow();
  Object.assign(globalThis, { document, window });
  return { document, window };
}
