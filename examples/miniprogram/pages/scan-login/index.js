// Opened by scanning a console's QR (mini program code: `scene`; ordinary link QR: `q`).
const { createScanLogin } = require('../../lib/scan-login');

Page({
  data: { state: 'loading', deviceName: '', ip: '', time: '', message: '', busy: false },

  onLoad(query) {
    const { api, session } = getApp().globalData;
    this.scanLogin = createScanLogin({ api, session });
    this.scanLogin.open(query).then((view) => this.setData(view));
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
});
