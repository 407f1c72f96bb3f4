//! Users: who they are, how they log in (WeChat identities, a login + password) and their roles.

use std::collections::BTreeMap;

use meeteasy_protocol::{ADMIN_ROLE, LoginMethod, ORGANIZER_ROLE, TeamRole, User};
use serde::{Deserialize, Serialize};

use crate::store::{Lifetime, Step, Store, StoreError, insert_or_own};
use crate::wechat::WeChatSession;
use meeteasy_protocol::Secret;

use super::device_names::{checked_device_name, is_hidden_or_reordering};
use super::login_claims::{self, Claimed, LoginClaim};
use super::records::{self, Transition};
use super::secrets::random_id;
use super::store_keys;
use super::{AuthError, unix_now};

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: String,
    pub display_name: String,
    pub avatar_url: Option<String>,
    pub roles: Vec<String>,
    /// Normalised email or phone, for password login. Its login key leads here by `login_claim`
    /// (see [`login_claims`]).
    pub login: Option<String>,
    /// The id of the claim by which this account holds `login`'s key; none for a login claimed
    /// before claims had ids, or in a record an older instance wrote again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_claim: Option<String>,
    /// The login a change of this account is claiming, from before it takes the key until the
    /// change is written: a claim of another account then finds the key held, not left behind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claiming_login: Option<LoginClaim>,
    /// argon2id PHC string.
    pub password_hash: Option<String>,
    /// The store keys of the WeChat identities that lead here (unionid, appid + openid). Empty in
    /// records from before v1.1 until that user's next WeChat login fills it in.
    #[serde(default)]
    pub wechat_identities: Vec<String>,
    /// Made by dev mode (`dev:<name>`): logs in only on a server running with `--dev`.
    #[serde(default)]
    pub dev: bool,
    /// How many times the admin role was taken from this user. An invite stands only while its
    /// creator is still the admin who made it (the count unchanged), so one made before a
    /// demotion never comes back with a later grant.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub admin_demotions: u32,
    /// The invites that gave this user a role, by id, each noted until (Unix seconds) a while
    /// after its taker may no longer accept it again, in the same write as the role: an accept
    /// that stopped before that write (the store failed) is finished by the same accept again,
    /// and one that got there gives nothing again, even after the user lost the role.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub joined_by_invites: BTreeMap<String, InviteJoin>,
}

fn is_zero(count: &u32) -> bool {
    *count == 0
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("display_name", &self.display_name)
            .field("roles", &self.roles)
            .field("login", &self.login)
            .field("login_claim", &self.login_claim)
            .field("claiming_login", &self.claiming_login)
            .field("wechat_identities", &self.wechat_identities.len())
            .field("dev", &self.dev)
            .field("joined_by_invites", &self.joined_by_invites)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "<hidden>"),
            )
            .finish_non_exhaustive()
    }
}

impl UserRecord {
    pub fn to_wire(&self) -> User {
        User {
            id: self.id.clone(),
            display_name: self.display_name.clone(),
            avatar_url: self.avatar_url.clone(),
            roles: self.roles.clone(),
        }
    }

    pub fn is_organizer(&self) -> bool {
        self.has_role(ORGANIZER_ROLE)
    }

    pub fn is_admin(&self) -> bool {
        self.has_role(ADMIN_ROLE)
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|held| held == role)
    }

    pub fn has_team_role(&self, role: TeamRole) -> bool {
        match role {
            TeamRole::Organizer => self.is_organizer(),
            TeamRole::Admin => self.is_admin(),
        }
    }

    /// The ways into this account, for the team list.
    pub fn methods(&self) -> Vec<LoginMethod> {
        let mut methods = Vec::new();
        if !self.wechat_identities.is_empty() {
            methods.push(LoginMethod::Wechat);
        }
        if self.password_hash.is_some() {
            methods.push(LoginMethod::Password);
        }
        methods
    }
}

/// How an operator names a user: by id, or by the login they sign in with.
#[derive(Debug, Clone)]
pub enum UserRef {
    Id(String),
    Login(String),
}

/// As an operator's message names it: `id "u-1"`, `login "ann@example.com"` (quoted and escaped,
/// so a name with control characters cannot rewrite the line it is printed on).
impl std::fmt::Display for UserRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Id(id) => write!(f, "id {id:?}"),
            Self::Login(login) => write!(f, "login {login:?}"),
        }
    }
}

impl UserRef {
    /// An email or phone is a login; anything else is taken as a user id.
    pub fn parse(value: &str) -> Self {
        match normalize_login(value) {
            Ok(login) => Self::Login(login),
            Err(_) => Self::Id(value.to_owned()),
        }
    }
}

/// A user created by an operator, who logs in with a password.
#[derive(Debug)]
pub struct NewPasswordUser {
    pub login: String,
    pub display_name: String,
    pub roles: Vec<String>,
    pub password: Secret,
}

/// The profile a first WeChat login creates.
#[derive(Debug, Clone)]
pub struct NewWeChatProfile {
    pub display_name: String,
    pub roles: Vec<String>,
    /// A dev user (`dev:<name>` in dev mode).
    pub dev: bool,
}

/// Emails are compared lowercased; phones by their digits (with an optional leading `+`).
pub fn normalize_login(raw: &str) -> Result<String, AuthError> {
    let trimmed = raw.trim();
    if trimmed.len() > 254 {
        return Err(AuthError::InvalidRequest(
            "login: longer than 254 characters".into(),
        ));
    }
    if let Some((local, domain)) = trimmed.split_once('@') {
        // A login is shown to the team and printed on the operator's terminal: control and
        // text-direction characters could rewrite what is shown around it.
        if local.is_empty()
            || domain.is_empty()
            || domain.contains('@')
            || trimmed.contains(char::is_whitespace)
            || trimmed.contains(is_hidden_or_reordering)
        {
            return Err(AuthError::InvalidRequest(
                "login: not a valid email address".into(),
            ));
        }
        return Ok(trimmed.to_lowercase());
    }
    let (plus, rest) = match trimmed.strip_prefix('+') {
        Some(rest) => ("+", rest),
        None => ("", trimmed),
    };
    let digits: String = rest.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    if (6..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(format!("{plus}{digits}"))
    } else {
        Err(AuthError::InvalidRequest(
            "login: must be an email address or a phone number".into(),
        ))
    }
}

pub(super) async fn save(store: &dyn Store, user: &UserRecord) -> Result<(), StoreError> {
    store
        .put(
            &store_keys::user(&user.id),
            &records::encode(user)?,
            Lifetime::Forever,
        )
        .await
}

pub async fn get(store: &dyn Store, id: &str) -> Result<Option<UserRecord>, StoreError> {
    records::load(store, &store_keys::user(id)).await
}

/// The account whose login is `login`: the one its key leads to, while that account's record
/// names the key as its login's. A key left behind leads to nothing.
pub async fn by_login(store: &dyn Store, login: &str) -> Result<Option<UserRecord>, StoreError> {
    let Some(value) = store.get(&store_keys::login(login)).await? else {
        return Ok(None);
    };
    let user = get(store, &login_claims::holder_id(&value)).await?;
    Ok(user.filter(|user| login_claims::holds_as_its_login(user, login, &value)))
}

pub async fn find(store: &dyn Store, who: &UserRef) -> Result<Option<UserRecord>, StoreError> {
    match who {
        UserRef::Id(id) => get(store, id).await,
        UserRef::Login(login) => by_login(store, login).await,
    }
}

/// The user behind a WeChat identity, created on their first login: by unionid when WeChat gives one
/// (one user across the apps of one Open Platform account), else by (appid, openid).
pub async fn find_or_create_wechat(
    store: &dyn Store,
    appid: &str,
    session: &WeChatSession,
    profile: NewWeChatProfile,
) -> Result<UserRecord, AuthError> {
    let (identity_key, openid_key) = wechat_keys(appid, session);
    if let Some(user) = existing_user(store, &identity_key).await? {
        return link_openid(store, &identity_key, &openid_key, OpenidKey::Write, user).await;
    }
    // Logged in before the app was bound to an Open Platform account: the unionid is new, but
    // this openid already has a user, who keeps their account and roles.
    let earlier = if identity_key == openid_key {
        None
    } else {
        existing_user(store, &openid_key).await?
    };
    let found_by_openid = earlier.is_some();
    let (candidate, created) = match earlier {
        Some(user) => (user, false),
        None => {
            let user = UserRecord {
                id: random_id()?,
                display_name: profile.display_name,
                avatar_url: None,
                roles: profile.roles,
                login: None,
                login_claim: None,
                claiming_login: None,
                password_hash: None,
                wechat_identities: identity_keys(&identity_key, &openid_key),
                dev: profile.dev,
                admin_demotions: 0,
                joined_by_invites: BTreeMap::new(),
            };
            if user.dev {
                store
                    .put(store_keys::DEV_USERS_MADE, b"1", Lifetime::Forever)
                    .await?;
            }
            // The user record goes first, so an identity never points at a missing user.
            save(store, &user).await?;
            (user, true)
        }
    };
    // An insert a Redis Cluster client sent again (its first reply lost) finds its own write: the
    // key leading to this user is this login's, not a concurrent one's. Dropping the user then
    // would leave the key pointing at nobody, for every later login.
    let identity = candidate.id.as_bytes();
    if insert_or_own(store, &identity_key, identity, Lifetime::Forever).await? {
        // Found by its openid key, which leads here already: writing it again could bring back a
        // key an unlink deleted since it was read, and the login's last read of both keys
        // (`wechat_leads_to`) would then not see the unlink.
        let openid = if found_by_openid {
            OpenidKey::LeadsHere
        } else {
            OpenidKey::Write
        };
        return link_openid(store, &identity_key, &openid_key, openid, candidate).await;
    }
    // A concurrent first login of the same person won: use their user, and drop ours if we made it.
    if created {
        store.delete(&store_keys::user(&candidate.id)).await?;
    }
    let winner = existing_user(store, &identity_key).await?.ok_or_else(|| {
        // The key names a person's WeChat identity: the log says only what kind it is.
        let key = store_keys::shown(&identity_key);
        StoreError::Corrupt(format!("{key} vanished while read"))
    })?;
    link_openid(store, &identity_key, &openid_key, OpenidKey::Write, winner).await
}

/// The key a WeChat login finds its user by (the unionid's, else the openid's), and the openid's.
fn wechat_keys(appid: &str, session: &WeChatSession) -> (String, String) {
    let openid_key = store_keys::wechat_openid(appid, &session.openid);
    let identity_key = match &session.unionid {
        Some(unionid) => store_keys::wechat_unionid(unionid),
        None => openid_key.clone(),
    };
    (identity_key, openid_key)
}

/// Every key of the WeChat of `session`: the unionid's (if WeChat gave one), and the openid's.
fn every_wechat_key(appid: &str, session: &WeChatSession) -> Vec<String> {
    let (identity_key, openid_key) = wechat_keys(appid, session);
    identity_keys(&identity_key, &openid_key)
}

/// Whether the WeChat of `session` leads to `user_id` now, by every key of it (the unionid's and
/// the openid's): an unlink deletes them one after the other, and a login that found the account
/// by the second may have written the first back.
pub async fn wechat_leads_to(
    store: &dyn Store,
    appid: &str,
    session: &WeChatSession,
    user_id: &str,
) -> Result<bool, StoreError> {
    let keys = every_wechat_key(appid, session);
    Ok(keys_leading_to(store, &keys, user_id).await?.len() == keys.len())
}

/// Takes the WeChat of `session` from `user_id`'s account, which it no longer leads to by one of
/// its keys (an operator unlinked it, or a link folded the account away): a login that found
/// that account deletes the keys that still lead there (an openid key it put again) and the
/// identities listed there again, so its next try finds the account the WeChat leads to now and
/// the account does not claim a way in it has lost.
pub async fn take_back_wechat_keys(
    store: &dyn Store,
    appid: &str,
    session: &WeChatSession,
    user_id: &str,
) -> Result<(), AuthError> {
    let keys = every_wechat_key(appid, session);
    for key in &keys {
        store.compare_and_delete(key, user_id.as_bytes()).await?;
    }
    records::update(
        store,
        &store_keys::user(user_id),
        |current: Option<&UserRecord>| {
            Ok(match current {
                Some(record) if record.wechat_identities.iter().any(|k| keys.contains(k)) => {
                    let mut next = record.clone();
                    next.wechat_identities.retain(|key| !keys.contains(key));
                    Transition::Write(next, Lifetime::Forever, ())
                }
                // Gone (folded away meanwhile), or listing none of them: nothing to forget.
                Some(_) | None => Transition::Keep(()),
            })
        },
    )
    .await
}

/// The WeChat identity keys of `keys` that lead to `user_id` now.
pub(super) async fn keys_leading_to(
    store: &dyn Store,
    keys: &[String],
    user_id: &str,
) -> Result<Vec<String>, StoreError> {
    // Read side by side (one round trip where the store can): a WeChat login checks both of its
    // keys every time.
    let reads: Vec<Step<'_>> = keys.iter().map(|key| Step::Get(key)).collect();
    let mut leading = Vec::new();
    for (key, read) in keys.iter().zip(store.batch(&reads).await?) {
        if read.into_read()?.as_deref() == Some(user_id.as_bytes()) {
            leading.push(key.clone());
        }
    }
    Ok(leading)
}

/// Whether a login writes the openid key of a user keyed by unionid.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OpenidKey {
    Write,
    /// The login found the user by it a moment ago.
    LeadsHere,
}

/// Makes the (appid, openid) identity point at `user` too, when the user is keyed by unionid, and
/// records both on the user (a write only when one is missing: records from before v1.1).
async fn link_openid(
    store: &dyn Store,
    identity_key: &str,
    openid_key: &str,
    openid: OpenidKey,
    user: UserRecord,
) -> Result<UserRecord, AuthError> {
    if identity_key != openid_key && openid == OpenidKey::Write {
        store
            .put(openid_key, user.id.as_bytes(), Lifetime::Forever)
            .await?;
    }
    let keys = identity_keys(identity_key, openid_key);
    if keys.iter().all(|key| user.wechat_identities.contains(key)) {
        return Ok(user);
    }
    update(store, &user.id, |record| {
        for key in &keys {
            if !record.wechat_identities.contains(key) {
                record.wechat_identities.push(key.clone());
            }
        }
    })
    .await
}

fn identity_keys(identity_key: &str, openid_key: &str) -> Vec<String> {
    let mut keys = vec![identity_key.to_owned()];
    if identity_key != openid_key {
        keys.push(openid_key.to_owned());
    }
    keys
}

/// Changes the user record `id` with `change` (compare-and-swap, retried), and answers it as
/// changed. A user deleted meanwhile is `InvalidRequest`.
pub(super) async fn update(
    store: &dyn Store,
    id: &str,
    change: impl Fn(&mut UserRecord),
) -> Result<UserRecord, AuthError> {
    records::update(
        store,
        &store_keys::user(id),
        |current: Option<&UserRecord>| {
            let Some(current) = current else {
                return Err(AuthError::InvalidRequest(format!("user: no user {id}")));
            };
            let mut next = current.clone();
            change(&mut next);
            // Every field, so a change of any one (the demotion count too) is written.
            if next == *current {
                return Ok(Transition::Keep(next));
            }
            Ok(Transition::Write(next.clone(), Lifetime::Forever, next))
        },
    )
    .await
}

async fn existing_user(
    store: &dyn Store,
    identity_key: &str,
) -> Result<Option<UserRecord>, StoreError> {
    match store.get(identity_key).await? {
        None => Ok(None),
        Some(id) => {
            let id = String::from_utf8_lossy(&id);
            let user = get(store, &id).await?;
            user.map(Some).ok_or_else(|| {
                let key = store_keys::shown(identity_key);
                StoreError::Corrupt(format!("{key} points at missing user {id}"))
            })
        }
    }
}

/// Creates a password user; the login must be free or left behind (see [`login_claims`]).
pub async fn create_password_user(
    store: &dyn Store,
    new: NewPasswordUser,
    password_hash: String,
) -> Result<UserRecord, AuthError> {
    let login = normalize_login(&new.login)?;
    // Shown on the console, the phone and by `users list`: held to what a device name may hold,
    // so no control or text-direction character reaches a screen or a terminal.
    let name = checked_device_name("name", &new.display_name)?
        .ok_or_else(|| AuthError::InvalidRequest("name: must be 1 to 64 characters".into()))?;
    // The same roles a grant of each would give: checked, and an admin an organizer too.
    let mut roles: Vec<String> = Vec::new();
    for role in &new.roles {
        for given in roles_of(role)? {
            if !roles.iter().any(|held| held == given) {
                roles.push(given.to_owned());
            }
        }
    }
    let claim = LoginClaim::new(&login)?;
    let user = UserRecord {
        id: random_id()?,
        display_name: name,
        avatar_url: None,
        roles,
        login: Some(login.clone()),
        login_claim: Some(claim.id.clone()),
        claiming_login: None,
        password_hash: Some(password_hash),
        wechat_identities: Vec::new(),
        dev: false,
        admin_demotions: 0,
        joined_by_invites: BTreeMap::new(),
    };
    save(store, &user).await?;
    let refused = match login_claims::claim(store, &claim, &user.id).await {
        Ok(Claimed::Taken) => None,
        Ok(Claimed::HeldBy(_)) => Some(AuthError::InvalidRequest(format!(
            "login: {login} is already taken"
        ))),
        Err(failure) => Some(failure),
    };
    if let Some(refused) = refused {
        store.delete(&store_keys::user(&user.id)).await?;
        return Err(refused);
    }
    note_password_user(store, &user.id).await?;
    Ok(user)
}

/// Lists `user_id` among the users with a password login (for the operator's `users list`).
pub(super) async fn note_password_user(store: &dyn Store, user_id: &str) -> Result<(), AuthError> {
    records::update(
        store,
        store_keys::PASSWORD_USERS,
        |current: Option<&Vec<String>>| {
            let listed = current.cloned().unwrap_or_default();
            if listed.iter().any(|id| id == user_id) {
                return Ok(Transition::Keep(()));
            }
            let mut next = listed;
            next.push(user_id.to_owned());
            Ok(Transition::Write(next, Lifetime::Forever, ()))
        },
    )
    .await
}

pub(super) async fn password_user_ids(store: &dyn Store) -> Result<Vec<String>, StoreError> {
    Ok(records::load(store, store_keys::PASSWORD_USERS)
        .await?
        .unwrap_or_default())
}

/// `role` trimmed, if it is a role's name at all.
fn checked_role(role: &str) -> Result<&str, AuthError> {
    let role = role.trim();
    if role.is_empty()
        || role.len() > 64
        || !role
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(AuthError::InvalidRequest(
            "role: must be 1 to 64 of [A-Za-z0-9_-]".into(),
        ));
    }
    Ok(role)
}

/// The roles granting `role` gives, checked: an admin is always an organizer too. A team role
/// written otherwise (`Admin`, `organiser`) is refused rather than granted as a role of its own,
/// which would give no access and say nothing. (Taking a role away takes one so spelt by an older
/// build, as it is spelt.)
fn roles_of(role: &str) -> Result<Vec<&str>, AuthError> {
    let role = checked_role(role)?;
    let team_role_misspelt = [ORGANIZER_ROLE, "organiser", ADMIN_ROLE]
        .iter()
        .any(|team_role| role.eq_ignore_ascii_case(team_role))
        && role != ORGANIZER_ROLE
        && role != ADMIN_ROLE;
    if team_role_misspelt {
        return Err(AuthError::InvalidRequest(format!(
            "role: {role:?} is not a team role; they are `{ORGANIZER_ROLE}` and `{ADMIN_ROLE}`, in lowercase"
        )));
    }
    Ok(if role == ADMIN_ROLE {
        vec![ORGANIZER_ROLE, ADMIN_ROLE]
    } else {
        vec![role]
    })
}

/// Adds `role` to a user (a no-op when they have it).
pub async fn grant(store: &dyn Store, who: &UserRef, role: &str) -> Result<UserRecord, AuthError> {
    let adds = roles_of(role)?;
    let user = find_named(store, who).await?;
    update(store, &user.id, |next| add_roles(next, &adds)).await
}

/// An invite that gave a user a role, as their record notes it (see
/// [`UserRecord::joined_by_invites`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteJoin {
    /// Noted until then (Unix seconds).
    pub until: u64,
    /// The id of the accept that gave the role, so that accept knows its own write when it reads
    /// it again (a compare-and-swap resent answers as if it had lost).
    pub accept_id: String,
}

/// An accept of an invite that gives a role: the invite's id, until when the user's record notes
/// it, and the accept's own id.
pub(super) struct InviteNote<'a> {
    pub id: &'a str,
    pub until: u64,
    pub accept_id: &'a str,
}

/// What [`grant_by_invite`] did.
pub(super) enum InviteGrant {
    /// The role is given now, and the invite noted: the user's record as written.
    Given(Box<UserRecord>),
    /// The record noted the invite already: its role was given before (and may have been taken
    /// away since). Nothing is written.
    GivenBefore,
}

/// Gives user `id` `role` for the invite `note` names, noting it in the same write, unless the
/// record notes it already. Notes past their time go.
pub(super) async fn grant_by_invite(
    store: &dyn Store,
    id: &str,
    role: TeamRole,
    note: &InviteNote<'_>,
) -> Result<InviteGrant, AuthError> {
    let adds = roles_of(role.as_str())?;
    let now = unix_now();
    records::update(
        store,
        &store_keys::user(id),
        |current: Option<&UserRecord>| {
            let current = current.ok_or_else(|| no_user(&UserRef::Id(id.to_owned())))?;
            // Decided on the record as it is now, not as the accept read it before its take: of
            // two accepts of one taker at once, the second finds the first's note.
            if let Some(noted) = current.joined_by_invites.get(note.id) {
                let grant = if noted.accept_id == note.accept_id {
                    // This accept's own write, read again.
                    InviteGrant::Given(Box::new(current.clone()))
                } else {
                    InviteGrant::GivenBefore
                };
                return Ok(Transition::Keep(grant));
            }
            let mut next = current.clone();
            add_roles(&mut next, &adds);
            next.joined_by_invites.retain(|_, noted| noted.until > now);
            let noted = InviteJoin {
                until: note.until,
                accept_id: note.accept_id.to_owned(),
            };
            next.joined_by_invites.insert(note.id.to_owned(), noted);
            let given = InviteGrant::Given(Box::new(next.clone()));
            Ok(Transition::Write(next, Lifetime::Forever, given))
        },
    )
    .await
}

fn add_roles(user: &mut UserRecord, adds: &[&str]) {
    for role in adds {
        if !user.has_role(role) {
            user.roles.push((*role).to_owned());
        }
    }
}

/// The refusal of taking `role` from `user`, who does not hold it: it must not look done.
pub(super) fn role_not_held(who: &UserRef, role: &str, user: &UserRecord) -> AuthError {
    AuthError::InvalidRequest(format!(
        "role: the user with {who} has no role {role:?} (they have [{}])",
        user.roles.join(", ")
    ))
}

/// Takes a role other than the team's (see `team::demote` for those) from a user. One they do not
/// hold is refused, not passed over: `Organizer` or `organiser` typed for `organizer` must not
/// look done.
pub async fn take_other_role(
    store: &dyn Store,
    who: &UserRef,
    role: &str,
) -> Result<UserRecord, AuthError> {
    let taken = checked_role(role)?;
    let user = find_named(store, who).await?;
    if !user.has_role(taken) {
        return Err(role_not_held(who, taken, &user));
    }
    update(store, &user.id, |next| {
        next.roles.retain(|held| held != taken)
    })
    .await
}

/// The user `who` names, or an error naming them.
pub(super) async fn find_named(store: &dyn Store, who: &UserRef) -> Result<UserRecord, AuthError> {
    find(store, who).await?.ok_or_else(|| no_user(who))
}

pub(super) fn no_user(who: &UserRef) -> AuthError {
    AuthError::InvalidRequest(format!("user: no user with {who}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_normalise() {
        assert_eq!(
            normalize_login(" Ann@Example.ORG ").unwrap(),
            "ann@example.org"
        );
        assert_eq!(
            normalize_login("+86 138-0013-8000").unwrap(),
            "+8613800138000"
        );
        assert!(normalize_login("ann").is_err());
        assert!(normalize_login("@x").is_err());
        assert!(normalize_login("12345").is_err());
        assert!(matches!(UserRef::parse("8hPq0x"), UserRef::Id(_)));
        assert!(matches!(UserRef::parse("a@b.c"), UserRef::Login(_)));
    }

    /// The operator reads which user a command meant, quoted and escaped.
    #[test]
    fn messages_name_the_user_as_the_operator_gave_them() {
        let said = |error: AuthError| match error {
            AuthError::InvalidRequest(said) => said,
            other => panic!("{other:?}"),
        };
        let by_id = said(no_user(&UserRef::Id("u-\u{1b}[2K".into())));
        assert_eq!(by_id, r#"user: no user with id "u-\u{1b}[2K""#);
        let ann = UserRecord {
            roles: vec!["admin".into()],
            ..crate::domain::test_support::bare_user("u-ann")
        };
        let by_login = UserRef::Login("ann@x.io".into());
        assert_eq!(
            said(role_not_held(&by_login, "organizer", &ann)),
            r#"role: the user with login "ann@x.io" has no role "organizer" (they have [admin])"#
        );
    }

    /// A login an organizer chose is printed on the operator's terminal (`users list`) and shown
    /// to the team: one that could rewrite the line it is on is refused.
    #[test]
    fn logins_that_could_rewrite_what_is_shown_are_refused() {
        for login in [
            "a\u{1b}[2Kb@x.io",
            "ann@x.io\u{7}",
            "ann\u{202E}gro@x.io",
            "ann\u{200B}@x.io",
        ] {
            let refused = normalize_login(login).expect_err(login);
            assert!(
                matches!(&refused, AuthError::InvalidRequest(why) if why.contains("email")),
                "{refused:?}"
            );
        }
    }

    /// A login takes its WeChat back from an account that was folded away meanwhile (its record
    /// gone): the keys that still lead there go, and the missing account is no error.
    #[tokio::test]
    async fn a_wechat_is_taken_back_from_an_account_gone_meanwhile() {
        let store = crate::domain::test_support::FaultyStore::new();
        let session = WeChatSession {
            openid: "o-ann".into(),
            unionid: Some("u-ann".into()),
        };
        let (identity_key, openid_key) = wechat_keys("wx-app", &session);
        for key in [&identity_key, &openid_key] {
            store.put(key, b"u-gone", Lifetime::Forever).await.unwrap();
        }
        take_back_wechat_keys(store.as_ref(), "wx-app", &session, "u-gone")
            .await
            .expect("no error for a gone account");
        for key in [&identity_key, &openid_key] {
            assert_eq!(store.get(key).await.unwrap(), None, "{key}");
        }
    }

    /// A first login whose identity key's insert a Redis Cluster client sent again (its first reply
    /// lost) reads "taken" for its own write: it keeps its user, whom later logins find.
    #[tokio::test]
    async fn a_first_login_whose_insert_was_resent_keeps_its_user() {
        use crate::domain::test_support::{Calls, Fault, FaultyStore};
        let store = FaultyStore::new();
        let session = WeChatSession {
            openid: "o-ann".into(),
            unionid: Some("u-ann".into()),
        };
        let (identity_key, _) = wechat_keys("wx-app", &session);
        store.fail_next(Calls::Write, &identity_key, Fault::Resent);
        let profile = || NewWeChatProfile {
            display_name: "Ann".into(),
            roles: Vec::new(),
            dev: false,
        };
        let first = find_or_create_wechat(store.as_ref(), "wx-app", &session, profile()).await;
        let first = first.expect("the first login succeeds");
        assert!(store.all_faults_hit());
        assert!(get(store.as_ref(), &first.id).await.unwrap().is_some());
        let again = find_or_create_wechat(store.as_ref(), "wx-app", &session, profile()).await;
        assert_eq!(again.expect("a later login succeeds").id, first.id);
    }

    /// An identity key leading to an account that is gone is a store fault, which is logged: it
    /// says what kind of key it is, never the person's unionid or openid.
    #[tokio::test]
    async fn a_fault_over_a_wechat_identity_does_not_name_the_person() {
        let store = crate::domain::test_support::FaultyStore::new();
        let session = WeChatSession {
            openid: "o-ann-secret".into(),
            unionid: Some("u-ann-secret".into()),
        };
        let (identity_key, _) = wechat_keys("wx-app", &session);
        store
            .put(&identity_key, b"u-gone", Lifetime::Forever)
            .await
            .unwrap();
        let fault = existing_user(store.as_ref(), &identity_key).await;
        let Err(StoreError::Corrupt(cause)) = fault else {
            panic!("{fault:?}");
        };
        assert!(!cause.contains("ann-secret"), "{cause}");
        assert!(cause.contains("u-gone"), "{cause}");
    }

    /// A team role written otherwise would be granted as a role of its own that gives no access.
    #[test]
    fn a_team_role_written_otherwise_is_refused() {
        for role in ["Admin", "ADMIN", "Organizer", "organiser", "Organiser"] {
            assert!(
                matches!(roles_of(role), Err(AuthError::InvalidRequest(_))),
                "{role}"
            );
        }
        assert_eq!(roles_of(" admin ").unwrap(), [ORGANIZER_ROLE, ADMIN_ROLE]);
        assert_eq!(roles_of("organizer").unwrap(), [ORGANIZER_ROLE]);
        assert_eq!(roles_of("speaker").unwrap(), ["speaker"]);
    }

    /// A role an older build granted as spelt (`Admin`) is still taken away as spelt.
    #[tokio::test]
    async fn a_team_role_misspelt_by_an_older_build_can_be_taken_away() {
        let store = crate::domain::test_support::FaultyStore::new();
        let user = UserRecord {
            roles: vec!["Admin".into()],
            ..crate::domain::test_support::bare_user("u-ann")
        };
        save(store.as_ref(), &user).await.unwrap();
        let taken = take_other_role(store.as_ref(), &UserRef::Id("u-ann".into()), "Admin").await;
        assert!(taken.expect("taken").roles.is_empty());
    }

    #[tokio::test]
    async fn a_user_added_as_admin_is_an_organizer_too_and_roles_are_checked() {
        let store = crate::domain::test_support::FaultyStore::new();
        let new = |login: &str, roles: &[&str]| NewPasswordUser {
            login: login.to_owned(),
            display_name: "Ann".to_owned(),
            roles: roles.iter().map(|role| (*role).to_owned()).collect(),
            password: meeteasy_protocol::Secret::new("unused"),
        };
        let hash = || "not-a-hash".to_owned();
        let admin =
            create_password_user(store.as_ref(), new("ann@example.org", &["admin"]), hash())
                .await
                .expect("added");
        assert!(
            admin.is_admin() && admin.is_organizer(),
            "{:?}",
            admin.roles
        );
        let odd =
            create_password_user(store.as_ref(), new("bob@example.org", &["a b"]), hash()).await;
        assert!(matches!(odd, Err(AuthError::InvalidRequest(_))));
    }

    /// A role given by an invite notes it, and another accept of it gives nothing while noted
    /// (the same accept reading its own write again is told it gave it); notes past their time go
    /// with the next one, so the record does not grow with every invite ever accepted.
    #[tokio::test]
    async fn an_invite_s_note_stops_a_second_grant_and_goes_in_time() {
        let store = crate::domain::test_support::FaultyStore::new();
        let ann = crate::domain::test_support::organizer(store.as_ref(), "ann").await;
        let (store, ann) = (store.as_ref(), ann.id);
        let note = |id, until, accept_id| InviteNote {
            id,
            until,
            accept_id,
        };
        let gone = note("gone", 1, "a1");
        let first = grant_by_invite(store, &ann, TeamRole::Organizer, &gone).await;
        let InviteGrant::Given(first) = first.unwrap() else {
            panic!("a new invite grants");
        };
        assert!(first.joined_by_invites.contains_key("gone"));
        let kept = note("kept", unix_now() + 60, "a2");
        let second = grant_by_invite(store, &ann, TeamRole::Admin, &kept).await;
        let InviteGrant::Given(second) = second.unwrap() else {
            panic!("a new invite grants");
        };
        assert!(second.is_admin());
        let noted: Vec<_> = second.joined_by_invites.keys().collect();
        assert_eq!(noted, ["kept"], "the note past its time went");
        let own_again = grant_by_invite(store, &ann, TeamRole::Admin, &kept).await;
        let own_again = matches!(own_again.unwrap(), InviteGrant::Given(_));
        assert!(
            own_again,
            "an accept reading its own write again gave the role"
        );

        let demoted = update(store, &ann, |ann| {
            ann.roles.retain(|role| role != ADMIN_ROLE)
        });
        demoted.await.unwrap();
        let another = note("kept", kept.until, "a3");
        let again = grant_by_invite(store, &ann, TeamRole::Admin, &another).await;
        let again = matches!(again.unwrap(), InviteGrant::GivenBefore);
        assert!(again, "a noted invite grants nothing again");
        let ann = get(store, &ann).await.unwrap().unwrap();
        assert!(!ann.is_admin(), "the role taken since stays taken");
    }

    /// A name is shown on screens and printed by `users list`: no escape sequence, line break or
    /// text-direction character gets in, and a blank one is no name.
    #[tokio::test]
    async fn a_name_that_would_disguise_itself_on_a_screen_is_refused() {
        let store = crate::domain::test_support::FaultyStore::new();
        let named = |display_name: &str| NewPasswordUser {
            login: "ann@example.org".to_owned(),
            display_name: display_name.to_owned(),
            roles: Vec::new(),
            password: meeteasy_protocol::Secret::new("unused"),
        };
        for name in ["Ann\u{1b}[31m", "Ann\nroot", "Ann\u{202E}nimda", "   "] {
            let added = create_password_user(store.as_ref(), named(name), "h".to_owned()).await;
            match added {
                Err(AuthError::InvalidRequest(message)) => {
                    assert!(message.starts_with("name: "), "{name:?}: {message}");
                }
                other => panic!("{name:?} was not refused: {other:?}"),
            }
        }
        let kept = create_password_user(store.as_ref(), named("  Ann Lee "), "h".to_owned()).await;
        assert_eq!(kept.expect("added").display_name, "Ann Lee");
    }
}
