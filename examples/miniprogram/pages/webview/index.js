// Opens the H5 site logged in: a fresh one-time login ticket on every open.
const { launchUrl } = require('../../lib/webview');
const { messageFor } = require('../../lib/scan-login');
const { H5_URL } = require('../../config');

Page({
  data: { src: '', message: '' },

  onShow() {
    const { session } = getApp().globalData;
    launchUrl({ session, h5Url: H5_URL })
      .then((src) => this.setData({ src, message: '' }))
      .catch((error) => this.setData({ src: '', message: messageFor(error && error.code) }));
  },
});
