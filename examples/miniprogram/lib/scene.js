// Where a page opened by a QR finds its secret: `scene` of a mini program code (URI-encoded, decoded
// once), or `q`, the URI-encoded full URL of an ordinary-link QR code: `<public_url>/m/scan/<scene>` for
// a console's login or link code, `<public_url>/m/invite/<code>` for a team invite.
'use strict';

const SCAN_PATH = '/m/scan/';
const INVITE_PATH = '/m/invite/';
// How the server makes scenes and invite codes. Anything else is no console's or invite's QR (another
// app's, or a damaged one): the page says so before `wx.login` spends a login code on it.
const SHAPE = /^[0-9A-Za-z]{32}$/;

function safeDecode(text) {
  try {
    return decodeURIComponent(text);
  } catch (_malformed) {
    return null;
  }
}

/** The value in a launch query, if it has the server's shape. */
function fromLaunch(query, path) {
  const value = rawFromLaunch(query, path);
  return value !== null && SHAPE.test(value) ? value : null;
}

/** `scene` as is, or the path segment after `path` in the URL in `q`. */
function rawFromLaunch(query, path) {
  if (!query) return null;
  if (query.scene) {
    const scene = safeDecode(query.scene);
    return scene || null;
  }
  if (query.q) {
    const url = safeDecode(query.q);
    if (!url) return null;
    const at = url.indexOf(path);
    if (at < 0) return null;
    const value = url.slice(at + path.length).split(/[?#/]/)[0];
    return value ? safeDecode(value) : null;
  }
  return null;
}

/** The scene in a page's launch query, or null when the page was not opened by a console's QR. */
function sceneFromLaunch(query) {
  return fromLaunch(query, SCAN_PATH);
}

/** The invite code in a page's launch query, or null when the page was not opened by an invite's QR. */
function inviteCodeFromLaunch(query) {
  return fromLaunch(query, INVITE_PATH);
}

module.exports = { sceneFromLaunch, inviteCodeFromLaunch };
