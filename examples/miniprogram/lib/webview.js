// The WebView launcher's logic: the H5 page opens with a one-time `login_ticket` (exchanged by the page
// for its own token) and a `_t` timestamp, so an identical src never shows a stale cached page.
'use strict';

/** `h5Url` with `login_ticket` and `_t` set (replacing any earlier ones), keeping its other parameters. */
function buildH5Url(h5Url, ticket, nowMs) {
  const [withoutHash, hash = ''] = h5Url.split('#');
  const [path, query = ''] = withoutHash.split('?');
  const kept = query
    .split('&')
    .filter((pair) => pair && !/^(login_ticket|_t)=/.test(pair));
  kept.push(`login_ticket=${encodeURIComponent(ticket)}`, `_t=${nowMs}`);
  return `${path}?${kept.join('&')}${hash ? `#${hash}` : ''}`;
}

/** The src to give <web-view> (a fresh ticket every time, since a ticket works once), and when the H5
 * session it opens ends at the latest (`sessionEndsBy`, in ms). */
async function launchUrl({ session, h5Url, now = Date.now }) {
  const ticket = await session.freshTicket();
  return { src: buildH5Url(h5Url, ticket.value, now()), sessionEndsBy: ticket.sessionEndsBy };
}

module.exports = { buildH5Url, launchUrl };
