// The invite page a `url`-mode invite QR opens: shows who invites to which role (from
// POST /auth/invites/inspect), in zh-CN or English by the browser's language. It accepts nothing:
// accepting takes the MeetEasy mini program (in dev mode, the phone simulator below it).
(function () {
  "use strict";

  var TEXT = {
    en: {
      title: "Join the MeetEasy organizer team",
      invites_you: "invites you to join as",
      valid_until: "Valid until",
      open_in_wechat:
        "To accept, scan this invite's QR code with WeChat's scanner (WeChat → Discover → Scan): the MeetEasy " +
        "mini program opens the invite. Opened in any other app or browser, this page cannot accept it.",
      role_organizer: "an organizer",
      role_admin: "an admin",
      invite_invalid: "This invite link is not valid. Ask for a new invite.",
      invite_expired: "This invite has expired or was withdrawn. Ask for a new invite.",
      invite_used: "This invite has already been accepted.",
      too_many_requests: "Too many tries from this network. Wait a minute and reload the page.",
      other: "The invite could not be read. Reload the page to try again.",
    },
    zh: {
      title: "加入 MeetEasy 组织者团队",
      invites_you: "邀请你加入，身份为",
      valid_until: "有效期至",
      open_in_wechat:
        "请用微信“扫一扫”（微信 → 发现 → 扫一扫）扫描此邀请的二维码，MeetEasy 小程序会打开邀请。" +
        "在其他应用或浏览器中打开此页面无法接受邀请。",
      role_organizer: "组织者",
      role_admin: "管理员",
      invite_invalid: "此邀请链接无效，请向邀请人索取新的邀请。",
      invite_expired: "此邀请已过期或已被撤回，请向邀请人索取新的邀请。",
      invite_used: "此邀请已被接受。",
      too_many_requests: "此网络的尝试次数过多，请稍等一分钟后刷新页面。",
      other: "无法读取邀请，请刷新页面重试。",
    },
  };

  var language = (navigator.language || "en").toLowerCase().indexOf("zh") === 0 ? "zh" : "en";
  var text = TEXT[language];
  var byId = function (id) {
    return document.getElementById(id);
  };

  document.documentElement.lang = language === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach(function (element) {
    var key = element.getAttribute("data-i18n");
    if (text[key]) {
      element.textContent = text[key];
    }
  });
  document.title = text.title;

  var code = decodeURIComponent(window.location.pathname.split("/").pop() || "");

  function showError(errorCode) {
    var message = byId("invite-error");
    message.dataset.error = errorCode;
    message.textContent = text[errorCode] || text.other;
    message.hidden = false;
  }

  fetch("/auth/invites/inspect", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ code: code }),
    cache: "no-store",
  })
    .then(function (response) {
      return response.json().then(function (body) {
        return { ok: response.ok, body: body };
      });
    })
    .then(function (answer) {
      if (!answer.ok) {
        showError(answer.body && answer.body.error);
        return;
      }
      byId("inviter").textContent = answer.body.invited_by.display_name;
      byId("role").textContent = text["role_" + answer.body.role] || answer.body.role;
      byId("expires").textContent = new Date(answer.body.expires_at * 1000).toLocaleString(
        language === "zh" ? "zh-CN" : "en",
      );
      byId("invite").hidden = false;
    })
    .catch(function () {
      showError("other");
    });
})();
