//! WeChat errcodes that only the operator can cure (a wrong AppID or AppSecret, the server's IP
//! missing from the whitelist, a page not published), logged at error level with what to fix.
//! Every request they fail is still logged as a fault by the HTTP layer; this line says what to
//! do, once per app and cause, and again only after a call of that app has succeeded since.
//! Errcodes the user causes (a bad code, a blocked user, their minute quota) are not logged here.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use super::call::{CallError, Endpoint};
use crate::config::AppSettings;

const WRONG_SECRET: &str = "the app's AppSecret is wrong (reset in the admin console, or another \
     app's): configure the current one (secret_env or secret_file)";
const IP_NOT_WHITELISTED: &str = "this server's outbound IP address is not in the mini program's \
     API IP whitelist (admin console, Development settings): add it, or switch the whitelist off";

/// Errcodes that mean misconfiguration from any endpoint, and what the operator must fix.
const MISCONFIGURATIONS: [(i64, &str); 6] = [
    (
        40013,
        "the app's appid is not a mini program AppID WeChat knows: check it against the admin \
         console (Development settings)",
    ),
    (40125, WRONG_SECRET),
    (40164, IP_NOT_WHITELISTED),
    // "access clientip is not registered": the same whitelist as answered by other WeChat APIs.
    (61004, IP_NOT_WHITELISTED),
    (
        40243,
        "the app's AppSecret is frozen: unfreeze it in the admin console, or reset it and \
         configure the new one",
    ),
    (
        89503,
        "WeChat's risk control wants an administrator to confirm calls from this server's IP \
         address: confirm it in the administrator's WeChat, or add the IP to the whitelist",
    ),
];

/// What the operator must fix when `endpoint` answers `errcode`, if that is a misconfiguration.
fn operator_fix(endpoint: Endpoint, errcode: i64) -> Option<&'static str> {
    match (endpoint, errcode) {
        // From the token call it is the AppSecret; from the others a stale token, handled there.
        (Endpoint::StableToken, 40001) => Some(WRONG_SECRET),
        (Endpoint::UnlimitedQrCode, 41030) => Some(
            "the page (scan_page or invite_page) is not in the mini program's published \
             version: publish it, correct the page, or use env_version trial or develop",
        ),
        (Endpoint::UnlimitedQrCode, 48001) => Some(
            "the mini program has no permission to make mini program codes (a personal or \
             unverified account): check its type and permissions in the admin console",
        ),
        (Endpoint::Code2Session | Endpoint::StableToken | Endpoint::UnlimitedQrCode, errcode) => {
            MISCONFIGURATIONS
                .iter()
                .find(|(known, _)| *known == errcode)
                .map(|(_, fix)| *fix)
        }
    }
}

/// The misconfigurations logged, per app, since the app's last successful call.
#[derive(Default)]
pub(super) struct Misconfigurations {
    /// (app key, endpoint, errcode): few, as apps are configured and errcodes listed above.
    reported: Mutex<HashSet<(String, Endpoint, i64)>>,
}

impl Misconfigurations {
    /// Logs `failure` of a call for `app` at error level, with what to fix, when it is a
    /// misconfiguration not reported since the app's last successful call.
    pub fn failed(&self, app: &AppSettings, failure: &CallError) {
        let CallError::Errcode {
            endpoint,
            errcode,
            errmsg,
        } = failure
        else {
            return;
        };
        let Some(fix) = operator_fix(*endpoint, *errcode) else {
            return;
        };
        let cause = (app.key.clone(), *endpoint, *errcode);
        if self.reported().insert(cause) {
            tracing::error!(
                app = %app.key,
                appid = %app.appid,
                api = endpoint.name(),
                errcode,
                %errmsg,
                "WeChat refuses the app's configuration: {fix} (not logged again until a call of \
                 this app succeeds)"
            );
        }
    }

    /// A call for `app` succeeded: a misconfiguration after this one is news again.
    pub fn succeeded(&self, app: &AppSettings) {
        let mut reported = self.reported();
        if !reported.is_empty() {
            reported.retain(|(key, _, _)| *key != app.key);
        }
    }

    fn reported(&self) -> std::sync::MutexGuard<'_, HashSet<(String, Endpoint, i64)>> {
        // A set of log notes stays usable whatever a panicking holder left half done.
        self.reported.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
