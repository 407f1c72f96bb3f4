// Renders a mini program page in Node with miniprogram-simulate (WeChat's component test tool): a jsdom
// document stands in for the WebView, `Page({...})` is registered as the component it is underneath
// (its functions become methods, `onLoad(query)` runs when attached), and `getApp()` and the `wx` APIs a
// page calls itself are stubs that record what they were asked.
'use strict';

const path = require('node:path');
const { JSDOM } = require('jsdom');

const dom = new JSDOM('<!doctype html><html><body></body></html>', { pretendToBeVisual: true });
for (const name of ['window', 'document', 'navigator', 'Node', 'Element', 'HTMLElement', 'Event', 'CustomEvent',
  'DocumentFragment', 'Text', 'getComputedStyle', 'requestAnimationFrame']) {
  // Node has its own Event and EventTarget; the rendered tree needs jsdom's, so these replace Node's.
  Object.defineProperty(global, name, { value: name === 'window' ? dom.window : dom.window[name], configurable: true, writable: true });
}

const simulate = require('miniprogram-simulate');

const ROOT = path.join(__dirname, '..');
let launch = null; // { query, globalData } of the page being rendered

global.Page = (definition) => {
  const { data, ...members } = definition;
  const methods = {};
  for (const [name, value] of Object.entries(members)) {
    if (typeof value === 'function') methods[name] = value;
  }
  global.Component({
    data: data || {},
    methods,
    lifetimes: {
      attached() {
        if (this.onLoad) this.onLoad(launch.query);
        if (this.onShow) this.onShow();
      },
      // The page closing (back, home, the mini program ending it).
      detached() {
        if (this.onUnload) this.onUnload();
      },
    },
  });
};
global.getApp = () => ({ globalData: launch.globalData });

/** What the page asked of `wx` itself (title, exit). */
function recordWx() {
  const calls = [];
  global.wx.setNavigationBarTitle = (options) => calls.push(['setNavigationBarTitle', options.title]);
  global.wx.exitMiniProgram = () => calls.push(['exitMiniProgram']);
  return calls;
}

/**
 * Renders `page` (e.g. 'pages/invite/index') opened with `query`, `globalData` as the app's; returns the
 * component with helpers to read its text, tap a button by class and wait for its async work.
 */
function renderPage(page, { query = {}, globalData }) {
  const wxCalls = recordWx();
  launch = { query, globalData };
  const id = simulate.load(path.join(ROOT, page), { compiler: 'simulate', rootPath: ROOT });
  const comp = simulate.render(id);
  comp.attach(document.createElement('parent-wrapper'));
  return {
    comp,
    wxCalls,
    get data() {
      return comp.instance.data;
    },
    text: () => comp.dom.textContent.replace(/\s+/g, ' ').trim(),
    has: (selector) => Boolean(comp.querySelector(selector)),
    /** Taps the element at `selector`; j-component delivers the event on the next microtask. */
    async tap(selector) {
      const target = comp.querySelector(selector);
      if (!target) throw new Error(`nothing to tap at ${selector} in: ${comp.dom.innerHTML}`);
      target.dispatchEvent('tap');
      await new Promise((resolve) => setImmediate(resolve));
    },
    /** Waits (a bounded number of turns of the event loop) until `done(data)` holds. */
    async until(done) {
      for (let turn = 0; turn < 200; turn += 1) {
        if (done(comp.instance.data)) return;
        await new Promise((resolve) => setImmediate(resolve));
      }
      throw new Error(`page never reached the expected state: ${JSON.stringify(comp.instance.data)}`);
    },
  };
}

module.exports = { renderPage };
