// The scan-login confirm page's logic, without the page: log in, claim the scene, show the console
// (device, IP, time), then confirm or decline. Every outcome is a view state the page renders as is.
'use strict';

const { sceneFromLaunch } = require('./scene');

const MESSAGES = {
  scene_expired: 'This login code has expired. Refresh the QR code on the console and scan again.',
  scene_claimed: 'Someone else has already scanned this login code.',
  not_organizer: 'Your account is not an organizer, so it cannot log in a console.',
  wechat_code_invalid: 'WeChat login failed. Please scan again.',
  wechat_user_blocked: 'WeChat does not allow this account to log in.',
  wechat_rate_limited: 'Too many attempts. Please wait a minute and scan again.',
  wechat_unavailable: 'WeChat is not answering. Please try again shortly.',
  store_unavailable: 'The service is temporarily unavailable. Please try again shortly.',
  network_error: 'No connection to the server. Check your network and try again.',
  no_scene: 'Open this page by scanning the QR code on a MeetEasy console.',
};
const FALLBACK_MESSAGE = 'Something went wrong. Please scan again.';

function messageFor(code) {
  return MESSAGES[code] || FALLBACK_MESSAGE;
}

function pad(n) {
  return String(n).padStart(2, '0');
}

/** Local `YYYY-MM-DD HH:MM` of Unix seconds. */
function formatTime(unixSeconds) {
  const d = new Date(unixSeconds * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function errorState(error) {
  const code = (error && error.code) || 'unknown';
  return { state: 'error', code, message: messageFor(code) };
}

function createScanLogin({ api, session }) {
  let scene = null;

  /** Opened with the page's launch query: logs in and claims the scene. */
  async function open(query) {
    scene = sceneFromLaunch(query);
    if (!scene) return errorState({ code: 'no_scene' });
    try {
      const token = await session.accessToken();
      const scanned = await api.scan(scene, token);
      const { device_name: deviceName, ip, created_at: createdAt } = scanned.console;
      return { state: 'confirm', deviceName, ip, time: formatTime(createdAt) };
    } catch (error) {
      return errorState(error);
    }
  }

  async function decide(confirmed) {
    if (!scene) return errorState({ code: 'no_scene' });
    try {
      const token = await session.accessToken();
      if (confirmed) {
        await api.confirm(scene, token);
        return { state: 'done', message: 'The console is logged in.' };
      }
      await api.cancel(scene, token);
      return { state: 'done', message: 'You declined. The console was not logged in.' };
    } catch (error) {
      return errorState(error);
    }
  }

  return { open, confirm: () => decide(true), decline: () => decide(false) };
}

module.exports = { createScanLogin, formatTime, messageFor };
