// The invite page's logic, without the page: read the invite code from the launch query, ask the server
// who invites to which role (no login needed for that), then accept (logging in first if needed, and
// sending the mini program's token) or decline (nothing to tell the server: the code simply stays unused
// until it expires). Every outcome is a view state the page renders as is, in `lang`.
'use strict';

const { inviteCodeFromLaunch } = require('./scene');
const { formatTime } = require('./scan-login');
const i18n = require('./i18n');
const { MAY_HAVE_LANDED, errorState, openFailedState } = require('./failure');

// An accept that failed so (see lib/failure.js) left the invite open, or taken by this user with
// its role not yet given (the server finishes that on the same accept again): the page offers to
// try again. It may also have come after the server gave the role, so `invite_used` or
// `invite_expired` on a try again may follow this user's own accept: who the user is now says. A
// try again refused for its rate (`too_many_requests`) may be tried once more and keeps that
// question open.
const AFTER_A_LANDED_TRY = new Set(['invite_used', 'invite_expired']);

/** As createScanLogin: `lang` defaults to English for tests; the page passes the detected language. */
function createInvite({ api, session, lang = 'en' }) {
  const t = i18n.strings(lang);
  let code = null;
  let role = 'organizer';
  let lastTryMayHaveLanded = false;

  async function open(query) {
    code = inviteCodeFromLaunch(query);
    if (!code) return errorState({ code: 'no_invite' }, lang);
    try {
      const invite = await api.inspectInvite(code);
      role = invite.role === 'admin' ? 'admin' : 'organizer';
      const inviter = invite.invited_by || {};
      const name = inviter.display_name || t.someone;
      return {
        state: 'ask',
        role,
        inviterName: name,
        inviterAvatar: inviter.avatar_url || '',
        question: t.inviteQuestion(name, i18n.roleName(role, lang)),
        expires: invite.expires_at ? t.inviteExpires(formatTime(invite.expires_at)) : '',
      };
    } catch (error) {
      return openFailedState(error, lang);
    }
  }

  async function accept() {
    if (!code) return errorState({ code: 'no_invite' }, lang);
    try {
      const answer = await session.withToken((token) => api.acceptInvite(code, token));
      return acceptedState((answer && answer.user) || {});
    } catch (error) {
      const view = errorState(error, lang);
      if (lastTryMayHaveLanded && AFTER_A_LANDED_TRY.has(view.code)) {
        try {
          const user = await session.withToken((token) => api.me(token));
          if (((user && user.roles) || []).includes(role)) return acceptedState(user);
        } catch (_unknown) {
          // Who the user is could not be learnt: the same accept again asks once more.
          return { ...view, message: t.couldNotCheckJoined, canRetry: true };
        }
        lastTryMayHaveLanded = false;
        return view;
      }
      if (view.code === 'too_many_requests') return { ...view, canRetry: true };
      lastTryMayHaveLanded = MAY_HAVE_LANDED.has(view.code);
      return { ...view, canRetry: lastTryMayHaveLanded };
    }
  }

  function acceptedState(user) {
    const roles = user.roles || [];
    const now = roles.includes('admin') ? 'admin' : role;
    return { state: 'done', outcome: 'accepted', message: t.accepted(i18n.roleName(now, lang)), canExit: true, canRetry: false };
  }

  async function decline() {
    return { state: 'done', outcome: 'declined', message: t.declinedInvite, canExit: true, canRetry: false };
  }

  return { open, accept, decline };
}

module.exports = { createInvite };
