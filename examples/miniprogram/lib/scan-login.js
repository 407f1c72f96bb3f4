// The scan page's logic, without the page: log in, claim the scene, show what the scan is for (logging
// in a console, or linking this WeChat to a console user's account) with the console's device, IP and
// time, then confirm or decline. Every outcome is a view state the page renders as is, its sentences
// in `lang` (see lib/i18n.js).
'use strict';

const { sceneFromLaunch } = require('./scene');
const i18n = require('./i18n');
const { MAY_HAVE_LANDED, errorState, openFailedState } = require('./failure');

function pad(n) {
  return String(n).padStart(2, '0');
}

// The name the server gives a console that gave none (server/src/domain/scenes/mod.rs). It is English
// whatever the phone's language, so the phone says it in its own words; a real name is shown as sent.
const UNNAMED_CONSOLE = 'Desktop console';

/** Local `YYYY-MM-DD HH:MM` of Unix seconds. */
function formatTime(unixSeconds) {
  const d = new Date(unixSeconds * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// A confirm that failed so (see lib/failure.js) may have been carried out all the same: the page
// offers to confirm again. The server answers that as the first confirm did, also for a while after
// the console collected its login, and `scene_expired` once the code ran out: after such a try,
// `scene_expired` says the console may be logged in already.

/**
 * `lang` defaults to English only so the logic reads plainly in tests; the page always passes the
 * language it detected (Chinese unless WeChat is set to English).
 */
function createScanLogin({ api, session, lang = 'en' }) {
  const t = i18n.strings(lang);
  let scene = null;
  let purpose = 'login';
  let lastConfirmMayHaveLanded = false;

  /** Opened with the page's launch query: logs in and claims the scene. */
  async function open(query) {
    scene = sceneFromLaunch(query);
    if (!scene) return errorState({ code: 'no_scene' }, lang);
    try {
      const scanned = await session.withToken((token) => api.scan(scene, token));
      const { device_name: sentName, ip, created_at: createdAt } = scanned.console;
      const deviceName = sentName === UNNAMED_CONSOLE ? t.unnamedConsole : sentName;
      const view = { state: 'confirm', deviceName, ip, time: formatTime(createdAt) };
      if (scanned.purpose !== 'link') return view;
      purpose = 'link';
      const name = (scanned.account && scanned.account.display_name) || t.someone;
      return { ...view, purpose, accountName: name, question: t.linkQuestion(name), note: t.linkNote(name) };
    } catch (error) {
      return openFailedState(error, lang);
    }
  }

  async function decide(confirmed) {
    if (!scene) return errorState({ code: 'no_scene' }, lang);
    const linking = purpose === 'link';
    try {
      if (confirmed) {
        await session.withToken((token) => api.confirm(scene, token));
        // A link folds the account this WeChat's login made into the console user's, ending its
        // sessions: the ticket held is dead (and the token, which the next call then replaces).
        if (linking) session.forgetTicket();
        return { state: 'done', outcome: linking ? 'linked' : 'logged_in', message: linking ? t.linked : t.loggedIn, canExit: true, canRetry: false };
      }
      await session.withToken((token) => api.cancel(scene, token));
      return { state: 'done', outcome: 'declined', message: linking ? t.declinedLink : t.declinedLogin, canExit: false, canRetry: false };
    } catch (error) {
      const view = errorState(error, lang);
      if (!confirmed) return view;
      if (lastConfirmMayHaveLanded && view.code === 'scene_expired') {
        return { ...view, message: linking ? t.mayBeLinked : t.mayBeLoggedIn };
      }
      // Refused for the rate: tried again later, and whether an earlier try landed stays open.
      if (view.code === 'too_many_requests') return { ...view, canRetry: true };
      lastConfirmMayHaveLanded = MAY_HAVE_LANDED.has(view.code);
      return { ...view, canRetry: lastConfirmMayHaveLanded };
    }
  }

  return { open, confirm: () => decide(true), decline: () => decide(false) };
}

/** The sentence for an error code (kept for callers of the first version; see lib/i18n.js). */
function messageFor(code, lang = 'en') {
  return i18n.messageFor(code, lang);
}

module.exports = { createScanLogin, formatTime, messageFor };
