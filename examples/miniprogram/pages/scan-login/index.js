// Opened by scanning a console's QR (mini program code: `scene`; ordinary link QR: `q`): logs the console
// in, or links this WeChat to the console user's account when the scene's purpose is "link".
const { createScanLogin } = require('../../lib/scan-login');
const { viewStrings, strings } = require('../../lib/i18n');

Page({
  data: { t: {}, state: 'loading', purpose: 'login', question: '', note: '', deviceName: '', ip: '', time: '', message: '', canExit: false, canRetry: false, canReopen: false, busy: false },

  onLoad(query) {
    const { api, session, lang } = getApp().globalData;
    const t = strings(lang);
    this.query = query;
    this.setData({ t: viewStrings(lang), question: t.loginQuestion, note: t.confirmNote });
    wx.setNavigationBarTitle({ title: t.scanTitle });
    this.scanLogin = createScanLogin({ api, session, lang });
    this.openScene();
  },

  // After an opening that failed for a moment (no connection, the server busy).
  onReopen() {
    this.setData({ state: 'loading', canReopen: false });
    this.openScene();
  },

  openScene() {
    const t = strings(getApp().globalData.lang);
    this.scanLogin.open(this.query).then((view) => {
      // Left while the scene was being claimed: the claim is declined as soon as it is made.
      if (this.unloaded) {
        if (view.state === 'confirm') this.scanLogin.decline();
        return;
      }
      if (view.purpose === 'link') wx.setNavigationBarTitle({ title: t.linkTitle });
      this.setData(view);
    });
  },

  onConfirm() {
    this.decide(() => this.scanLogin.confirm());
  },

  onDecline() {
    this.decide(() => this.scanLogin.decline());
  },

  decide(action) {
    if (this.data.busy) return;
    this.setData({ busy: true });
    action().then((view) => this.setData({ ...view, busy: false }));
  },

  // Leaves the mini program, so the next scan opens it afresh on this page.
  onExit() {
    wx.exitMiniProgram({});
  },

  // Leaving the question unanswered (back, or home) declines: the console is told at once and shows a
  // fresh code, instead of waiting minutes on a scan nobody will confirm. (Closing with the capsule
  // only hides the mini program; its page stays, question and all.)
  onUnload() {
    this.unloaded = true;
    if (this.data.state === 'confirm' && !this.data.busy) this.scanLogin.decline();
  },
});
