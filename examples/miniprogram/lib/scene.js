// Where the scan-login page finds its scene: `scene` of a mini program code (URI-encoded, decoded once),
// or `q`, the URI-encoded full URL `<public_url>/m/scan/<scene>` of an ordinary-link QR code.
'use strict';

const SCAN_PATH = '/m/scan/';

function safeDecode(text) {
  try {
    return decodeURIComponent(text);
  } catch (_malformed) {
    return null;
  }
}

/** The scene in a page's launch query, or null when the page was not opened by a console's QR. */
function sceneFromLaunch(query) {
  if (!query) return null;
  if (query.scene) {
    const scene = safeDecode(query.scene);
    return scene || null;
  }
  if (query.q) {
    const url = safeDecode(query.q);
    if (!url) return null;
    const at = url.indexOf(SCAN_PATH);
    if (at < 0) return null;
    const scene = url.slice(at + SCAN_PATH.length).split(/[?#/]/)[0];
    return scene ? safeDecode(scene) : null;
  }
  return null;
}

module.exports = { sceneFromLaunch };
