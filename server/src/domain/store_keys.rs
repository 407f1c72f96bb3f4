//! Every store key and notification topic the domain uses, one function per record kind, so two
//! places can never spell one key differently. The key strings are the stored format: changing one
//! orphans the records a running deployment already holds.

use super::ClientAddr;
use super::secrets::token_hash;
use crate::store::{in_group, record_kind};

/// A user record, by id.
pub fn user(id: &str) -> String {
    format!("user:{id}")
}

/// A password login (email or phone, normalised) -> the user id and the claim that wrote it (see
/// `login_claims`).
pub fn login(login: &str) -> String {
    format!("login:{login}")
}

/// A WeChat unionid -> the user id.
pub fn wechat_unionid(unionid: &str) -> String {
    format!("wx:union:{unionid}")
}

/// A mini program's openid -> the user id.
pub fn wechat_openid(appid: &str, openid: &str) -> String {
    format!("wx:open:{appid}:{openid}")
}

/// What a WeChat identity key ([`wechat_unionid`], [`wechat_openid`]) names.
#[derive(Debug, PartialEq, Eq)]
pub enum WeChatKey<'a> {
    Unionid,
    /// An openid, of this mini program.
    Openid {
        appid: &'a str,
    },
}

/// The kind of a WeChat identity key; `None` for any other key.
pub fn wechat_key(key: &str) -> Option<WeChatKey<'_>> {
    if key.starts_with("wx:union:") {
        return Some(WeChatKey::Unionid);
    }
    let (appid, _openid) = key.strip_prefix("wx:open:")?.split_once(':')?;
    Some(WeChatKey::Openid { appid })
}

// A session's records are kept with its user's (see `in_group`): opening one writes the session
// and its line in its user's index, and reads the parent's mark (a parent is always the same
// user's), its own and the user, all in one atomic step even where records are sharded; revoking
// one reads the user's index and the records it lists in one batch.

/// A session of `user_id`, by its id (the tokens' `sid`).
pub fn session(user_id: &str, sid: &str) -> String {
    in_group(user_id, &format!("session:{sid}"))
}

/// The sessions of one user.
pub fn user_sessions(user_id: &str) -> String {
    format!("user-sessions:{user_id}")
}

/// A revoked session of `user_id`, remembered until its tokens would have expired.
pub fn revoked_session(user_id: &str, sid: &str) -> String {
    in_group(user_id, &format!("revoked-sid:{sid}"))
}

/// The signing keys (current, next and retired).
pub const SIGNING_KEYS: &str = "signing-keys";

/// Topic: the signing keys were rotated.
pub const SIGNING_KEYS_ROTATED: &str = "signing-keys-rotated";

/// A scan-login scene.
pub fn scene(scene: &str) -> String {
    format!("scene:{scene}")
}

/// Topic: the scene moved (scanned, confirmed, declined...).
pub fn scene_changed(scene: &str) -> String {
    format!("scene-changed:{scene}")
}

/// A scene's mini program code, cached for the scene's life.
pub fn scene_code_image(scene: &str) -> String {
    format!("scene-qr:{scene}")
}

/// The lock of a scene's single-flight mini program code fetch.
pub fn scene_code_fetch_lock(scene: &str) -> String {
    format!("scene-qr-fetch:{scene}")
}

/// Topic: a scene's mini program code fetch finished (cached, or gave up).
pub fn scene_code_fetched(scene: &str) -> String {
    format!("scene-qr-fetched:{scene}")
}

/// Without `wait`, a console may poll its scene once per interval: present while it may not. Kept
/// per poll token (by its hash's first 16 digits), so a poll with a wrong token, which claims the
/// gate before its token is checked, cannot slow the console down. The scene comes last, like every
/// scene key's: on a Redis Cluster it is the hash tag, so the gate shares the scene's slot.
pub fn scene_poll_gate(scene: &str, poll_token_hash: &str) -> String {
    let holder = poll_token_hash.get(..16).unwrap_or(poll_token_hash);
    format!("poll-gate.{holder}:{scene}")
}

/// The kinds of key an error or a log line may show whole: their ids are public handles (a user's,
/// a session's, an invite's) and help mend a record. Any other key shows its kind alone: a
/// scene's id lets whoever reads it scan or poll the scene (a link scene's joins an account), and
/// logins, WeChat identities and addresses are people's.
const SHOWN_WHOLE: [&str; 13] = [
    "user",
    "user-sessions",
    "session",
    "revoked-sid",
    "last-login",
    "invite",
    "invite-qr",
    // Records of their own, named with no id to hide.
    SIGNING_KEYS,
    SIGNING_KEYS_ROTATED,
    TEAM,
    INVITES,
    PASSWORD_USERS,
    DEV_USERS_MADE,
];

/// `key` as an error or a log line may show it (see [`SHOWN_WHOLE`]).
pub fn shown(key: &str) -> String {
    let kind = record_kind(key);
    if SHOWN_WHOLE.contains(&kind) {
        key.to_owned()
    } else {
        format!("{kind}:…")
    }
}

// Per-address limits take the address itself and key it by `ClientAddr::limit_key`, so no limit
// can count an IPv6 client by its full address (a fresh budget per request) by mistake.

/// Window counter: scenes created from one address.
pub fn scenes_created_from(from: &ClientAddr) -> String {
    format!("scene-create:{}", from.limit_key())
}

/// Window counter: scenes created for one app (kept to `wxacode` apps, whose QR spends WeChat quota).
pub fn scenes_created_for_app(app: &str) -> String {
    format!("scene-create-app:{app}")
}

/// Failure window: mini program logins from one address whose code WeChat rejected.
pub fn wechat_code_failures_from(from: &ClientAddr) -> String {
    format!("wx-code-failures:{}", from.limit_key())
}

/// Failure window: failed password attempts for one login.
pub fn password_failures_for(login: &str) -> String {
    format!("pwd-failures:login:{login}")
}

/// Failure window: failed password attempts from one address.
pub fn password_failures_from(from: &ClientAddr) -> String {
    format!("pwd-failures:ip:{}", from.limit_key())
}

/// The team index: every organizer's user id (and whether they are an admin), so the team is
/// listed, and its last admin kept, without scanning the store.
pub const TEAM: &str = "team";

/// Held while a link folds the account away or an invite gives it a role (see `account_changes`).
pub fn account_change(user_id: &str) -> String {
    format!("account-change:{user_id}")
}

/// When a user last logged in (Unix seconds), written once per login.
pub fn last_login(user_id: &str) -> String {
    format!("last-login:{user_id}")
}

/// An invite, by its public id.
pub fn invite(id: &str) -> String {
    format!("invite:{id}")
}

/// An invite code, by its hash (the code itself is never stored) -> the invite's id.
pub fn invite_code(code: &str) -> String {
    format!("invite-code:{}", token_hash(code))
}

/// The index of invites still worth listing (open, or accepted within the last week).
pub const INVITES: &str = "invites";

/// An open invite's QR image, so an admin can show it again by id (deleted when the invite closes).
pub fn invite_qr(id: &str) -> String {
    format!("invite-qr:{id}")
}

/// Window counter: invite inspections and acceptances from one address.
pub fn invite_tries_from(from: &ClientAddr) -> String {
    format!("invite-tries:{}", from.limit_key())
}

/// The ids of users with a password login (for the operator's user list; the store has no scan).
pub const PASSWORD_USERS: &str = "password-users";

/// Present once dev mode has made a user in this store: a server without dev mode says so at start.
pub const DEV_USERS_MADE: &str = "dev-users-made";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_shown_whole_only_when_its_id_is_a_public_handle() {
        let scene_keys = [
            scene("s3cret"),
            scene_changed("s3cret"),
            scene_code_image("s3cret"),
            scene_code_fetch_lock("s3cret"),
            scene_code_fetched("s3cret"),
            scene_poll_gate("s3cret", "0123456789abcdef0123"),
        ];
        for key in scene_keys {
            let shown = shown(&key);
            assert!(
                !shown.contains("s3cret") && shown.ends_with(":…"),
                "{shown}"
            );
        }
        let corrupt = super::super::records::decode::<u8>(&scene("s3cret"), b"{");
        let said = corrupt.unwrap_err().to_string();
        assert!(
            said.contains("record scene:…") && !said.contains("s3cret"),
            "{said}"
        );
        assert_eq!(shown(&user("u-ann")), "user:u-ann");
        assert_eq!(shown(&session("u-ann", "sid")), session("u-ann", "sid"));
        for whole in [TEAM, SIGNING_KEYS, INVITES, PASSWORD_USERS, DEV_USERS_MADE] {
            assert_eq!(shown(whole), whole);
        }
        let people = [login("ann@example.org"), wechat_openid("wx1", "o-ann")];
        for key in people {
            let shown = shown(&key);
            assert!(!shown.contains("ann") && shown.ends_with(":…"), "{shown}");
        }
    }
}
