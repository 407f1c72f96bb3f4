// Opened by a team invite's QR (mini program code: `scene` = the invite code; ordinary link QR: `q` =
// `<public_url>/m/invite/<code>`): shows who invites to which role, then accepts or declines.
const { createInvite } = require('../../lib/invite');
const { viewStrings, strings } = require('../../lib/i18n');

Page({
  data: { t: {}, state: 'loading', role: '', inviterName: '', inviterAvatar: '', question: '', expires: '', message: '', canExit: false, canRetry: false, canReopen: false, busy: false },

  onLoad(query) {
    const { api, session, lang } = getApp().globalData;
    this.query = query;
    this.setData({ t: viewStrings(lang) });
    wx.setNavigationBarTitle({ title: strings(lang).inviteTitle });
    this.invite = createInvite({ api, session, lang });
    this.invite.open(query).then((view) => this.setData(view));
  },

  // After an opening that failed for a moment (no connection, the server busy).
  onReopen() {
    this.setData({ state: 'loading', canReopen: false });
    this.invite.open(this.query).then((view) => this.setData(view));
  },

  onAccept() {
    this.decide(() => this.invite.accept());
  },

  onDecline() {
    this.decide(() => this.invite.decline());
  },

  decide(action) {
    if (this.data.busy) return;
    this.setData({ busy: true });
    action().then((view) => this.setData({ ...view, busy: false }));
  },

  onExit() {
    wx.exitMiniProgram({});
  },
});
