// The invite page a `url`-mode invite QR opens: shows who invites to which role (from
// POST /auth/invites/inspect), in zh-CN or English by the browser's language (/h5/i18n.js). It accepts nothing:
// accepting takes the MeetEasy mini program (in dev mode, the phone simulator below it).
(function () {
  "use strict";

  var i18n = window.MeetEasyI18n;
  var byId = function (id) {
    return document.getElementById(id);
  };

  var code = decodeURIComponent(window.location.pathname.split("/").pop() || "");

  function showError(errorCode) {
    var message = byId("invite-error");
    message.dataset.error = errorCode;
    message.textContent = i18n.t("invite." + errorCode) || i18n.t("invite.other");
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
      byId("role").textContent = i18n.t("invite.role_" + answer.body.role) || answer.body.role;
      byId("expires").textContent = new Date(answer.body.expires_at * 1000).toLocaleString(i18n.lang);
      byId("invite").hidden = false;
    })
    .catch(function () {
      showError("other");
    });
})();
