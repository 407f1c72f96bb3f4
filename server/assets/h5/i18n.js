// The language of the server's own pages (the `/m/scan/…` page, its not-found page, `/m/invite/…`,
// `/h5/demo`):
// Simplified Chinese or English, whichever comes first in the browser's preferred languages
// (navigator.languages), English when neither does. The HTML is written in English, so a page reads
// sensibly without it; this script puts the chosen language's text into every element with
// `data-i18n="key"` (which style.css hides until then, for a second at most) and offers
// `MeetEasyI18n.t(key, vars)` to the page's own script.
// A classic script, loaded with `defer` before any module script of the page, under the pages' CSP.
(function () {
  "use strict";

  var TEXT = {
    en: {
      "scan.title": "Log in the MeetEasy console",
      "scan.open_with_wechat":
        "To log the console in, scan its QR code with WeChat's scanner (WeChat → Discover → Scan). " +
        "Opened in any other app or browser, this page cannot log anything in.",
      "invite.title": "Join the MeetEasy organizer team",
      "invite.invites_you": "invites you to join as",
      "invite.valid_until": "Valid until",
      "invite.open_with_wechat":
        "To accept, scan this invite's QR code with WeChat's scanner (WeChat → Discover → Scan): the MeetEasy " +
        "mini program opens the invite. Opened in any other app or browser, this page cannot accept it.",
      "invite.role_organizer": "an organizer",
      "invite.role_admin": "an admin",
      "invite.invite_invalid": "This invite link is not valid. Ask for a new invite.",
      "invite.invite_expired": "This invite has expired or was withdrawn. Ask for a new invite.",
      "invite.invite_used": "This invite has already been accepted.",
      "invite.too_many_requests": "Too many tries from this network. Wait a minute and reload the page.",
      "invite.other": "The invite could not be read. Reload the page to try again.",
      "not_found.title": "Not found",
      "not_found.heading": "This login code is not valid",
      "not_found.body": "The link is incomplete or was mistyped. Scan the QR code on the console again.",
      "demo.title": "MeetEasy Conference",
      "demo.loading": "Checking your login…",
      "demo.logged_in_as": "Logged in as",
      "demo.roles": "Roles:",
      "demo.no_roles": "none",
      "demo.logout": "Log out",
      "demo.switch_heading": "Switch account?",
      "demo.current_as": "You are logged in here as",
      "demo.current_unknown": "You are already logged in here.",
      "demo.offered_as": "The link you opened logs in as",
      "demo.switch_hint":
        "If you did not ask for a link to that account, stay as you are: someone may want you to use " +
        "their account without noticing.",
      "demo.stay": "Stay logged in",
      "demo.stay_as": "Stay as {name}",
      "demo.switch_to": "Switch to {name}",
      "demo.from_mini_program": "You opened this page from the MeetEasy mini program.",
      "demo.reopen_from_mini_program": "Close the mini program and open it again: it opens this page logged in.",
      "demo.login_heading": "Log in",
      "demo.login_label": "Email or phone",
      "demo.password_label": "Password",
      "demo.login_submit": "Log in",
      "demo.login_required": "That login link was not valid. Please log in.",
      "demo.ticket_not_needed": "That login link could not be used again; you are still logged in.",
      "demo.ticket_not_checked": "That login link could not be checked just now; you are still logged in as before.",
      "demo.retry_in": " (retry in {seconds} s)",
      "error.ticket_expired": "That login link has expired. Please log in again.",
      "error.ticket_used": "That login link was already used (perhaps in another tab). Please log in.",
      "error.exchange_outcome_unknown":
        "The connection dropped while the login link was being used: it may have worked, but this page did " +
        "not get the login. Open the page again from the mini program (or wherever you got the link).",
      "error.network_error": "Could not reach the login server. Check your connection and try again.",
      "error.token_expired": "Your session has ended. Please log in again.",
      "error.token_revoked": "Your session has ended. Please log in again.",
      "error.invalid_token": "Your session is no longer valid. Please log in again.",
      "error.invalid_credentials": "Wrong email/phone or password.",
      "error.too_many_attempts": "Too many attempts. Please wait a moment and try again.",
      "error.store_unavailable": "The service is temporarily unavailable. Please try again shortly.",
      "error.ticket_invalid": "That login link is not valid. Please log in.",
      "error.too_many_requests": "Too many requests from this network. Please wait a minute and try again.",
      "error.unexpected_response": "The login server gave an answer this page does not understand. Please try again.",
      "error.server_busy": "The login server is busy. Please try again in a moment.",
      "error.invalid_request": "Please fill in your email or phone and your password.",
      "error.internal_error": "Something went wrong on the login server. Please try again.",
      "error.other": "Something went wrong. Please try again.",
    },
    "zh-CN": {
      "scan.title": "登录 MeetEasy 控制台",
      "scan.open_with_wechat":
        "请用微信的“扫一扫”（微信 → 发现 → 扫一扫）扫描控制台上的二维码来登录控制台。" +
        "在其他应用或浏览器中打开这个页面，无法登录任何东西。",
      "invite.title": "加入 MeetEasy 组织者团队",
      "invite.invites_you": "邀请你加入，身份为",
      "invite.valid_until": "有效期至",
      "invite.open_with_wechat":
        "请用微信“扫一扫”（微信 → 发现 → 扫一扫）扫描此邀请的二维码，MeetEasy 小程序会打开邀请。" +
        "在其他应用或浏览器中打开此页面无法接受邀请。",
      "invite.role_organizer": "组织者",
      "invite.role_admin": "管理员",
      "invite.invite_invalid": "此邀请链接无效，请向邀请人索取新的邀请。",
      "invite.invite_expired": "此邀请已过期或已被撤回，请向邀请人索取新的邀请。",
      "invite.invite_used": "此邀请已被接受。",
      "invite.too_many_requests": "此网络的尝试次数过多，请稍等一分钟后刷新页面。",
      "invite.other": "无法读取邀请，请刷新页面重试。",
      "not_found.title": "未找到",
      "not_found.heading": "这个登录码无效",
      "not_found.body": "链接不完整或输入有误。请重新扫描控制台上的二维码。",
      "demo.title": "MeetEasy 大会",
      "demo.loading": "正在检查登录状态…",
      "demo.logged_in_as": "已登录：",
      "demo.roles": "角色：",
      "demo.no_roles": "无",
      "demo.logout": "退出登录",
      "demo.switch_heading": "切换账号？",
      "demo.current_as": "你在这里已登录为",
      "demo.current_unknown": "你在这里已经登录了。",
      "demo.offered_as": "你打开的链接会登录为",
      "demo.switch_hint": "如果你没有要过这个账号的链接，请保持现状：可能有人想让你在不知情的情况下使用他的账号。",
      "demo.stay": "保持登录",
      "demo.stay_as": "保持为 {name}",
      "demo.switch_to": "切换到 {name}",
      "demo.from_mini_program": "你是从 MeetEasy 小程序打开这个页面的。",
      "demo.reopen_from_mini_program": "请关闭小程序后重新打开，它会以登录状态打开这个页面。",
      "demo.login_heading": "登录",
      "demo.login_label": "邮箱或手机号",
      "demo.password_label": "密码",
      "demo.login_submit": "登录",
      "demo.login_required": "这个登录链接无效。请登录。",
      "demo.ticket_not_needed": "这个登录链接不能再次使用；你仍处于登录状态。",
      "demo.ticket_not_checked": "暂时无法验证这个登录链接；你仍保持原来的登录。",
      "demo.retry_in": "（{seconds} 秒后重试）",
      "error.ticket_expired": "这个登录链接已过期。请重新登录。",
      "error.ticket_used": "这个登录链接已被使用过（可能在另一个标签页中）。请登录。",
      "error.exchange_outcome_unknown":
        "使用登录链接时连接中断：链接可能已经生效，但这个页面没有收到登录结果。请从小程序（或你获得链接的地方）重新打开这个页面。",
      "error.network_error": "无法连接登录服务器。请检查网络后重试。",
      "error.token_expired": "你的会话已结束。请重新登录。",
      "error.token_revoked": "你的会话已结束。请重新登录。",
      "error.invalid_token": "你的会话已失效。请重新登录。",
      "error.invalid_credentials": "邮箱/手机号或密码错误。",
      "error.too_many_attempts": "尝试次数过多。请稍等片刻再试。",
      "error.store_unavailable": "服务暂时不可用。请稍后再试。",
      "error.ticket_invalid": "这个登录链接无效。请登录。",
      "error.too_many_requests": "当前网络的请求过于频繁。请稍等一分钟再试。",
      "error.unexpected_response": "登录服务器的回答无法识别。请重试。",
      "error.server_busy": "登录服务器繁忙。请稍后再试。",
      "error.invalid_request": "请填写邮箱或手机号以及密码。",
      "error.internal_error": "登录服务器出了问题。请重试。",
      "error.other": "出了点问题。请重试。",
    },
  };

  /** "zh-CN" for any Chinese, "en" for any English: the first of the two in the browser's list wins. */
  function pick(languages) {
    for (var i = 0; i < languages.length; i += 1) {
      var language = String(languages[i] || "").toLowerCase();
      if (language === "zh" || language.indexOf("zh-") === 0) return "zh-CN";
      if (language === "en" || language.indexOf("en-") === 0) return "en";
    }
    return "en";
  }

  var preferred = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
  var lang = pick(preferred);
  var table = TEXT[lang];

  /** The text of `key` in the page's language, `{name}` filled from `vars`; undefined for an unknown key. */
  function t(key, vars) {
    var text = Object.prototype.hasOwnProperty.call(table, key) ? table[key] : TEXT.en[key];
    if (text === undefined) return undefined;
    return text.replace(/\{(\w+)\}/g, function (whole, name) {
      return vars && Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : whole;
    });
  }

  /** Puts the page's language into every `data-i18n` element under `root`. */
  function apply(root) {
    var elements = root.querySelectorAll("[data-i18n]");
    for (var i = 0; i < elements.length; i += 1) {
      var text = t(elements[i].getAttribute("data-i18n"));
      if (text !== undefined) elements[i].textContent = text;
    }
  }

  document.documentElement.lang = lang;
  apply(document);
  // Shows the texts style.css hid until now.
  document.documentElement.setAttribute("data-i18n-ready", "");
  window.MeetEasyI18n = { lang: lang, t: t, apply: apply };
})();
