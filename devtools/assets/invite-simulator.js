// Dev-mode phone simulator of the invite page: logs in a dev user the way the mini program does
// (`dev:<name>`), then accepts the invite for them, and says what happened, in zh-CN or English by
// the browser's language.
(function () {
  "use strict";

  var TEXT = {
    en: {
      heading: "Dev mode: phone simulator",
      hint: "This server runs in dev mode, so this page can play the phone: it logs in a dev user (no WeChat) and accepts the invite for them.",
      name_label: "Dev user name",
      accept: "Accept as this user",
      decline: "Decline",
      accepted: "Joined the team as ",
      declined: "Declined. Nothing changed.",
      invite_invalid: "This invite is not valid.",
      invite_expired: "This invite has expired or was withdrawn.",
      invite_used: "This invite has already been used.",
      too_many_requests: "Too many tries from this network; wait a minute.",
      other: "That did not work: ",
    },
    zh: {
      heading: "开发模式：手机模拟器",
      hint: "此服务器运行在开发模式下，本页面可以模拟手机：以开发用户登录（无需微信）并替其接受邀请。",
      name_label: "开发用户名",
      accept: "以此用户接受",
      decline: "拒绝",
      accepted: "已加入团队：",
      declined: "已拒绝，没有任何改变。",
      invite_invalid: "此邀请无效。",
      invite_expired: "此邀请已过期或已被撤回。",
      invite_used: "此邀请已被使用。",
      too_many_requests: "此网络尝试次数过多，请稍等一分钟。",
      other: "操作失败：",
    },
  };
  var language = (navigator.language || "en").toLowerCase().indexOf("zh") === 0 ? "zh" : "en";
  var text = TEXT[language];
  var byId = function (id) {
    return document.getElementById(id);
  };
  document.querySelectorAll("[data-i18n-dev]").forEach(function (element) {
    var key = element.getAttribute("data-i18n-dev");
    if (text[key]) {
      element.textContent = text[key];
    }
  });

  var simulator = byId("simulator");
  var code = decodeURIComponent(window.location.pathname.split("/").pop() || "");

  function post(path, body, bearer) {
    var headers = { "Content-Type": "application/json", Accept: "application/json" };
    if (bearer) {
      headers.Authorization = "Bearer " + bearer;
    }
    return fetch(path, { method: "POST", headers: headers, body: JSON.stringify(body), cache: "no-store" }).then(
      function (response) {
        return response.json().then(function (payload) {
          if (!response.ok) {
            throw payload;
          }
          return payload;
        });
      },
    );
  }

  function finish(state, message) {
    simulator.dataset.state = state;
    byId("accept-form").hidden = true;
    var outcome = byId("outcome");
    outcome.textContent = message;
    outcome.hidden = false;
  }

  function fail(error) {
    var codeName = (error && error.error) || "other";
    var message = byId("accept-error");
    message.dataset.error = codeName;
    message.textContent = text[codeName] || text.other + ((error && error.message) || codeName);
    message.hidden = false;
  }

  byId("accept-form").addEventListener("submit", function (event) {
    event.preventDefault();
    byId("accept-error").hidden = true;
    var name = byId("dev-name").value.trim();
    post("/auth/wechat/login", { code: "dev:" + name })
      .then(function (login) {
        return post("/auth/invites/accept", { code: code }, login.access_token);
      })
      .then(function (answer) {
        finish("accepted", text.accepted + answer.user.display_name);
      })
      .catch(fail);
  });
  byId("decline-invite").addEventListener("click", function () {
    finish("declined", text.declined);
  });
})();
