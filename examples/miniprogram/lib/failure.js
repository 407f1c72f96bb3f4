// What a failed call means for a page: the error state it shows, and whether the call may have
// been carried out all the same.
'use strict';

const i18n = require('./i18n');

// A call that failed with one of these may have been carried out all the same: its answer lost
// on the way (or a proxy's error page in its place), or a store that failed after writing. A page
// offers to send it again, and reads what answers that with this in mind.
const MAY_HAVE_LANDED = new Set(['network_error', 'store_unavailable', 'server_busy', 'internal_error', 'unexpected_status']);

// A page that could not open for one of these (the server, WeChat or the way to them, for a moment)
// offers to open again: its sentence asks to try again, and the page gives the button for it.
const PASSING = new Set([...MAY_HAVE_LANDED, 'wechat_unavailable', 'wechat_rate_limited', 'too_many_requests']);

/** The error state a page shows for `error`, its sentence in `lang`. */
function errorState(error, lang) {
  const code = (error && error.code) || 'unknown';
  const message = i18n.messageFor(code, lang, error && error.retryAfter);
  return { state: 'error', code, message, canExit: true, canRetry: false, canReopen: false };
}

/** The error state of a page that could not open for `error`: `canReopen` when opening again may
 * get through. */
function openFailedState(error, lang) {
  const view = errorState(error, lang);
  return { ...view, canReopen: PASSING.has(view.code) };
}

// Failures of the page that opens the site that trying again cannot mend: this mini program unknown
// to the server, a WeChat account WeChat does not let log in. That page is opened from WeChat's
// list, not by a scan, so for any other failure trying again is its own way out.
const SITE_FOR_GOOD = new Set(['unknown_app', 'wechat_user_blocked']);

/** What the page opening the site shows for `error`: its sentence in `lang` (which never says
 *  "scan"), and whether it offers to try again. A failure without a code is the page's own fault,
 *  said in general words (every failure of the session carries one, a failed wx.login
 *  `network_error`). */
function siteOpenFailedState(error, lang) {
  const code = (error && error.code) || 'unknown';
  const message = i18n.siteMessageFor(code, lang, error && error.retryAfter);
  return { message, canRetry: !SITE_FOR_GOOD.has(code) };
}

module.exports = { MAY_HAVE_LANDED, PASSING, errorState, openFailedState, siteOpenFailedState };
