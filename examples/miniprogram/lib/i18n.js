// Every string the mini program shows, in Simplified Chinese (the default: WeChat's users) and English
// (when WeChat's own language is English). Pages put `strings(lang)` in their data as `t` and read
// `{{t.key}}` in WXML; texts with a name or time in them are functions, filled in by the page's logic.
'use strict';

const ZH = {
  appName: 'MeetEasy',
  loading: '正在检查请求…',
  opening: '正在打开…',
  // The scan page.
  scanTitle: '登录控制台',
  linkTitle: '关联微信',
  loginQuestion: '登录这台控制台？',
  linkQuestion: (name) => `将你的微信关联到 ${name} 的账号？`,
  linkNote: (name) => `确认后，你可以用这个微信扫码登录 ${name} 的 MeetEasy 账号。只有当这是你本人的账号、且你正在这台控制台前亲自关联时才确认。`,
  device: '设备',
  unnamedConsole: '桌面控制台',
  ip: 'IP',
  time: '时间',
  confirmNote: '只有当你本人正在这台控制台前登录时才确认。',
  confirm: '确认',
  decline: '拒绝',
  loggedIn: '控制台已登录。',
  linked: '你的微信已关联到这个账号。下次可以直接扫码登录控制台。',
  declinedLogin: '你已拒绝，控制台没有登录。',
  declinedLink: '你已拒绝，微信没有关联。',
  mayBeLoggedIn: '控制台可能已经登录了：上一次确认的回复没有送达。请查看控制台；如果没有登录，请刷新二维码后重新扫码。',
  mayBeLinked: '你的微信可能已经关联了：上一次确认的回复没有送达。请在控制台上查看；如果没有关联，请重新开始关联。',
  exit: '完成并退出',
  // The invite page.
  inviteTitle: '团队邀请',
  inviteQuestion: (name, role) => `${name} 邀请你成为 MeetEasy 团队的${role}`,
  inviteNote: '接受后，你可以用微信扫码登录 MeetEasy 控制台。',
  inviteExpires: (time) => `邀请有效期至 ${time}`,
  accept: '接受',
  tryAgain: '再试一次',
  couldNotCheckJoined: '无法确认你是否已经加入团队。请再试一次。',
  roleOrganizer: '组织者',
  roleAdmin: '管理员',
  accepted: (role) => `你已成为 MeetEasy 团队的${role}。现在可以用微信扫码登录控制台。`,
  declinedInvite: '你已拒绝邀请，什么都没有改变。',
  someone: '某位团队成员',
  // What went wrong, by the contract's error code.
  errors: {
    scene_expired: '这个登录码已过期。请在控制台刷新二维码后重新扫码。',
    scene_claimed: '这个登录码已被其他人扫过。',
    not_organizer: '你的账号不是组织者，不能登录控制台。',
    access_denied: '这个请求已被拒绝。',
    identity_in_use: '这个微信已属于另一个有角色或密码的 MeetEasy 账号，不能再关联。请用那个账号登录，或联系管理员。',
    invite_invalid: '这个邀请码无效。请向邀请你的人要一个新的邀请。',
    invite_expired: '这个邀请已过期或已被撤销。请向邀请你的人要一个新的邀请。',
    invite_used: '这个邀请已经被使用过了。每个邀请只能接受一次。',
    forbidden: '你的账号没有执行这个操作的权限。',
    too_many_requests: '尝试次数过多。请稍等一分钟再试。',
    slow_down: '尝试次数过多。请稍等一分钟再试。',
    wechat_code_invalid: '微信登录失败。请重新扫码。',
    wechat_user_blocked: '微信不允许这个账号登录。',
    wechat_rate_limited: '尝试次数过多。请稍等一分钟后再试。',
    wechat_unavailable: '微信暂时没有响应。请稍后再试。',
    store_unavailable: '服务暂时不可用。请稍后再试。',
    server_busy: '服务器正忙。请稍后再试。',
    network_error: '无法连接服务器。请检查网络后重试。',
    // These two may follow a call the server carried out (lib/failure.js): the page offers to try
    // again, and a new scan would be the wrong advice after a confirm.
    internal_error: '服务器出错了。请再试一次。',
    unexpected_status: '服务器的回复无法识别。请再试一次。',
    // A setup or version mismatch between this mini program and the server: trying again will not help.
    unknown_app: '服务器不认识这个小程序。请联系管理员。',
    invalid_request: '服务器无法处理这个请求。请重新扫码；如果仍然不行，请联系管理员。',
    token_revoked: '你的登录已失效。请关闭小程序后重新扫码。',
    token_expired: '你的登录已失效。请关闭小程序后重新扫码。',
    invalid_token: '你的登录已失效。请关闭小程序后重新扫码。',
    no_scene: '请用微信扫描 MeetEasy 控制台上的二维码来打开这个页面。',
    no_invite: '请用微信扫描邀请二维码来打开这个页面。',
  },
  fallbackError: '出了点问题。请重新扫码。',
  // The page that opens the H5 site was not opened by a scan, and tries again itself: where the
  // sentences above send the user to scan, it asks them to try again.
  siteErrors: {
    wechat_code_invalid: '微信登录失败。请再试一次。',
    invalid_request: '服务器无法处理这个请求。请再试一次；如果仍然不行，请联系管理员。',
    token_revoked: '你的登录已失效。请再试一次。',
    token_expired: '你的登录已失效。请再试一次。',
    invalid_token: '你的登录已失效。请再试一次。',
  },
  siteFallbackError: '出了点问题。请再试一次。',
  // The same refusals when the server said how long to wait (`Retry-After`).
  waitThenTry: (wait) => `尝试次数过多。请${wait}后再试。`,
  seconds: (n) => `${n} 秒`,
  minutes: (n) => `${n} 分钟`,
};

const EN = {
  appName: 'MeetEasy',
  loading: 'Checking the request…',
  opening: 'Opening…',
  scanTitle: 'Console login',
  linkTitle: 'Link WeChat',
  loginQuestion: 'Log in to this console?',
  linkQuestion: (name) => `Link your WeChat to ${name}'s account?`,
  linkNote: (name) => `Once linked, this WeChat logs in to ${name}'s MeetEasy account by scanning. Only confirm if it is your own account and you are linking it at this console yourself.`,
  device: 'Device',
  unnamedConsole: 'Desktop console',
  ip: 'IP',
  time: 'Time',
  confirmNote: 'Only confirm if you are logging in at this console yourself.',
  confirm: 'Confirm',
  decline: 'Decline',
  loggedIn: 'The console is logged in.',
  linked: 'Your WeChat is now linked to this account. Next time, scan to log in to the console.',
  declinedLogin: 'You declined. The console was not logged in.',
  declinedLink: 'You declined. Your WeChat was not linked.',
  mayBeLoggedIn:
    'The console may already be logged in: the answer to your confirm was lost. Check the console; if it is not logged in, refresh its QR code and scan again.',
  mayBeLinked:
    'Your WeChat may already be linked: the answer to your confirm was lost. Check on the console; if it is not linked, start linking again.',
  exit: 'Done, leave',
  inviteTitle: 'Team invite',
  inviteQuestion: (name, role) => `${name} invites you to join the MeetEasy team as ${role}`,
  inviteNote: 'Once you accept, you log in to the MeetEasy console by scanning with WeChat.',
  inviteExpires: (time) => `The invite is valid until ${time}`,
  accept: 'Accept',
  tryAgain: 'Try again',
  couldNotCheckJoined: 'Could not check whether you have joined the team. Please try again.',
  roleOrganizer: 'an organizer',
  roleAdmin: 'an admin',
  accepted: (role) => `You are now ${role} of the MeetEasy team. Scan the console's QR code with WeChat to log in.`,
  declinedInvite: 'You declined the invite. Nothing has changed.',
  someone: 'A team member',
  errors: {
    scene_expired: 'This login code has expired. Refresh the QR code on the console and scan again.',
    scene_claimed: 'Someone else has already scanned this login code.',
    not_organizer: 'Your account is not an organizer, so it cannot log in a console.',
    access_denied: 'This request was declined.',
    identity_in_use:
      'This WeChat already belongs to another MeetEasy account that has its own roles or password, so it cannot be linked. Log in with that account, or ask an admin.',
    invite_invalid: 'This invite code is not valid. Ask the person who invited you for a new invite.',
    invite_expired: 'This invite has expired or was withdrawn. Ask the person who invited you for a new invite.',
    invite_used: 'This invite has already been used. Each invite can be accepted once.',
    forbidden: 'Your account is not allowed to do this.',
    too_many_requests: 'Too many attempts. Please wait a minute and try again.',
    slow_down: 'Too many attempts. Please wait a minute and try again.',
    wechat_code_invalid: 'WeChat login failed. Please scan again.',
    wechat_user_blocked: 'WeChat does not allow this account to log in.',
    wechat_rate_limited: 'Too many attempts. Please wait a minute and try again.',
    wechat_unavailable: 'WeChat is not answering. Please try again shortly.',
    store_unavailable: 'The service is temporarily unavailable. Please try again shortly.',
    server_busy: 'The server is busy. Please try again shortly.',
    network_error: 'No connection to the server. Check your network and try again.',
    internal_error: 'The server ran into an error. Please try again.',
    unexpected_status: 'The server gave an answer that could not be read. Please try again.',
    unknown_app: 'The MeetEasy server does not know this mini program. Ask an admin.',
    invalid_request: 'The server could not accept this request. Scan again; if it still fails, ask an admin.',
    token_revoked: 'Your login has ended. Close the mini program and scan again.',
    token_expired: 'Your login has ended. Close the mini program and scan again.',
    invalid_token: 'Your login has ended. Close the mini program and scan again.',
    no_scene: 'Open this page by scanning the QR code on a MeetEasy console.',
    no_invite: 'Open this page by scanning an invite QR code with WeChat.',
  },
  fallbackError: 'Something went wrong. Please scan again.',
  siteErrors: {
    wechat_code_invalid: 'WeChat login failed. Please try again.',
    invalid_request: 'The server could not accept this request. Try again; if it still fails, ask an admin.',
    token_revoked: 'Your login has ended. Please try again.',
    token_expired: 'Your login has ended. Please try again.',
    invalid_token: 'Your login has ended. Please try again.',
  },
  siteFallbackError: 'Something went wrong. Please try again.',
  waitThenTry: (wait) => `Too many attempts. Please try again in ${wait}.`,
  seconds: (n) => (n === 1 ? '1 second' : `${n} seconds`),
  minutes: (n) => (n === 1 ? '1 minute' : `${n} minutes`),
};

const TABLES = { zh: ZH, en: EN };
const DEFAULT_LANG = 'zh';

/** 'en' for an English WeChat (`en`, `en_US`, ...), else 'zh': WeChat's users read Chinese first. */
function normalizeLang(language) {
  return /^en\b|^en[_-]/i.test(String(language || '')) ? 'en' : DEFAULT_LANG;
}

/**
 * The language WeChat itself is set to: `wx.getAppBaseInfo` (base library >= 2.20.1), else the older
 * `wx.getSystemInfoSync`; Chinese when neither answers.
 */
function detectLang(wx) {
  for (const name of ['getAppBaseInfo', 'getSystemInfoSync']) {
    try {
      if (wx && typeof wx[name] === 'function') {
        const info = wx[name]();
        if (info && info.language) return normalizeLang(info.language);
      }
    } catch (_unsupported) {
      // An older client or tool without this API: try the next one.
    }
  }
  return DEFAULT_LANG;
}

function strings(lang) {
  return TABLES[lang] || TABLES[DEFAULT_LANG];
}

/**
 * The plain strings of `lang`, for a page's `data.t`: setData carries JSON only, so the sentences that
 * take a name or a time (functions) are left out and filled in by the page's logic instead.
 */
function viewStrings(lang) {
  const t = strings(lang);
  return Object.fromEntries(Object.entries(t).filter(([, value]) => typeof value === 'string'));
}

// Refusals for the rate, and the sentence that says how long to wait when the server said so.
const WAITS = { too_many_requests: 'waitThenTry', slow_down: 'waitThenTry', wechat_rate_limited: 'waitThenTry' };

/** The sentence for an error code; with `retryAfter` (seconds) a refusal for the rate says the wait. */
function messageFor(code, lang, retryAfter = null) {
  const t = strings(lang);
  if (WAITS[code] && retryAfter > 0) {
    const wait = retryAfter < 90 ? t.seconds(retryAfter) : t.minutes(Math.ceil(retryAfter / 60));
    return t[WAITS[code]](wait);
  }
  return t.errors[code] || t.fallbackError;
}

/** `messageFor` on the page that opens the H5 site, which no scan opened: it never says to scan. */
function siteMessageFor(code, lang, retryAfter = null) {
  const t = strings(lang);
  if (t.siteErrors[code]) return t.siteErrors[code];
  return t.errors[code] ? messageFor(code, lang, retryAfter) : t.siteFallbackError;
}

/** The role's name as the sentences use it ("组织者" / "an organizer"). */
function roleName(role, lang) {
  const t = strings(lang);
  return role === 'admin' ? t.roleAdmin : t.roleOrganizer;
}

module.exports = { DEFAULT_LANG, detectLang, normalizeLang, strings, viewStrings, messageFor, siteMessageFor, roleName, TABLES };
