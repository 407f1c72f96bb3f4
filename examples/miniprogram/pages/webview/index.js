// Opens the H5 site logged in: a fresh one-time login ticket on every open.
const { launchUrl } = require('../../lib/webview');
const { messageFor, viewStrings } = require('../../lib/i18n');
const { H5_URL } = require('../../config');

Page({
  data: { t: {}, src: '', message: '' },

  onLoad() {
    this.setData({ t: viewStrings(getApp().globalData.lang) });
  },

  onShow() {
    const { session, lang } = getApp().globalData;
    launchUrl({ session, h5Url: H5_URL })
      .then((src) => this.setData({ src, message: '' }))
      .catch((error) => this.setData({ src: '', message: messageFor(error && error.code, lang) }));
  },
});
