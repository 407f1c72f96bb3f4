// Opens the H5 site logged in, with a fresh one-time login ticket. The mini program's first page: opening
// MeetEasy from WeChat's list shows the conference site (scans open their own pages directly).
const { launchUrl } = require('../../lib/webview');
const { messageFor, viewStrings } = require('../../lib/i18n');
const { H5_URL } = require('../../config');

Page({
  data: { t: {}, src: '', message: '' },

  onLoad() {
    this.setData({ t: viewStrings(getApp().globalData.lang) });
  },

  // The site opens once per visit to this page. Coming back to the foreground keeps the page the user
  // was reading: a new ticket would reload it and open another H5 session beside the first. Only a
  // page that could not open yet tries again.
  onShow() {
    if (this.data.src || this.opening) return;
    this.opening = true;
    const { session, lang } = getApp().globalData;
    launchUrl({ session, h5Url: H5_URL })
      .then((src) => this.setData({ src, message: '' }))
      .catch((error) => this.setData({ message: messageFor(error && error.code, lang, error && error.retryAfter) }))
      .finally(() => {
        this.opening = false;
      });
  },
});
