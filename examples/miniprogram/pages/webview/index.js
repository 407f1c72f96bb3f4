// Opens the H5 site logged in, with a fresh one-time login ticket. The mini program's first page: opening
// MeetEasy from WeChat's list shows the conference site (scans open their own pages directly).
const { launchUrl } = require('../../lib/webview');
const { siteOpenFailedState } = require('../../lib/failure');
const { viewStrings } = require('../../lib/i18n');
const { H5_URL } = require('../../config');

Page({
  data: { t: {}, src: '', message: '', canRetry: false },

  onLoad() {
    this.setData({ t: viewStrings(getApp().globalData.lang) });
  },

  // The site opens once per visit to this page. Coming back to the foreground keeps the page the user
  // was reading: a new ticket would reload it and open another H5 session beside the first. Only a
  // page that could not open yet tries again, and one whose H5 session has ended by now (it ends with
  // the phone's login that minted its ticket): the site would only ask to log in, which the user
  // cannot do from in here.
  onShow() {
    if (this.data.src && Date.now() >= this.siteSessionEndsBy) this.setData({ src: '' });
    this.openSite();
  },

  // The button under a failure: this page was opened from WeChat's list, not by a scan, so trying
  // again is its own way out.
  onRetry() {
    this.openSite();
  },

  openSite() {
    if (this.data.src || this.opening) return;
    this.opening = true;
    const { session, lang } = getApp().globalData;
    launchUrl({ session, h5Url: H5_URL })
      .then(({ src, sessionEndsBy }) => {
        this.siteSessionEndsBy = sessionEndsBy;
        this.setData({ src, message: '' });
      })
      .catch((error) => {
        this.setData(siteOpenFailedState(error, lang));
      })
      .finally(() => {
        this.opening = false;
      });
  },
});
