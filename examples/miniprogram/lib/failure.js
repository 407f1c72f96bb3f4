// What a failed call means for a page: the error state it shows, and whether the call may have
// been carried out all the same.
'use strict';

const i18n = require('./i18n');

// A call that failed with one of these may have been carried out all the same: its answer lost
// on the way (or a proxy's error page in its place), or a store that failed after writing. A page
// offers to send it again, and reads what answers that with this in mind.
const MAY_HAVE_LANDED = new Set(['network_error', 'store_unavailable', 'server_busy', 'internal_error', 'unexpected_status']);

/** The error state a page shows for `error`, its sentence in `lang`. */
function errorState(error, lang) {
  const code = (error && error.code) || 'unknown';
  const message = i18n.messageFor(code, lang, error && error.retryAfter);
  return { state: 'error', code, message, canExit: true, canRetry: false };
}

module.exports = { MAY_HAVE_LANDED, errorState };
