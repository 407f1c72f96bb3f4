//! Invites to the team: an admin (or the operator) makes one for a role; whoever accepts it with the
//! mini program gets that role. The code is a secret of about 190 random bits (32 chars of
//! `[0-9A-Za-z]`, the same alphabet and length as a scene, so it fits a mini program code's scene);
//! the store keeps only its SHA-256. The invite's `id` is its public handle.
//!
//! Single use is one atomic store step: accepting moves the invite record from open to accepted by
//! compare-and-swap, so of any number of concurrent accepts, on any number of instances sharing
//! the store, exactly one swap wins; the others are decided again on the accepted record and
//! answer `invite_used` (but the taker's own accept again, below). Records are kept a week past
//! their end so a late scan learns it expired or was used rather than "invalid", then the store's
//! expiry removes them.
//!
//! The role is given in a second write, of the taker's record, which also notes the invite. So that
//! a store failure between the two writes is not final, the taker may accept the invite again for
//! [`RETRY_FOR`]: that gives the role if the record does not note the invite, and is `invite_used`
//! if it does (the contract's single use: of all accepts one is answered 200, even should its
//! answer be lost).
//!
//! The QR image of an open invite is kept too (an admin may show it again by id; in `wxacode` mode
//! it is a WeChat call that costs quota). It is served to admins only and deleted when the invite
//! is accepted, revoked or withdrawn.

use std::time::Duration;

use meeteasy_protocol::{
    CreateInviteRequest, CreateInviteResponse, InspectInviteResponse, Invite, Inviter, QrInfo,
    TeamRole, User,
};
use serde::{Deserialize, Serialize};

use crate::config::{AppSettings, QrMode};
use crate::store::{Lifetime, Store};
use crate::wechat::WeChat;

use super::records::{self, Transition};
use super::secrets::{random_id, random_scene};
use super::team::{self, TeamActor, TeamCaller};
use super::users::{self, InviteGrant, InviteNote, UserRecord};
use super::{
    AuthError, AuthService, ClientAddr, account_changes, is_scene_shaped, store_keys, unix_now,
};

/// An invite lives this long unless its maker says otherwise.
pub const DEFAULT_INVITE_LIFETIME: Duration = Duration::from_secs(86_400);
/// The longest an invite may live.
pub const MAX_INVITE_LIFETIME: Duration = Duration::from_secs(604_800);
/// Accepted invites stay listed, and every invite answers its fate, this long.
const KEPT_FOR: u64 = 7 * 86_400;
/// How long after taking an invite its taker may accept it again: long enough for the mini
/// program's "Try again" once the store is back, short enough that a taker taken off the team
/// meanwhile cannot come back by it for long.
const RETRY_FOR: u64 = 3_600;
/// How long past its last accept again a user's record notes an invite that gave it a role: a
/// day more, against clocks that differ between instances.
const NOTED_PAST_RETRY: u64 = 86_400;

/// The id `created_by` shows for invites the operator made from the command line: no user has it
/// (user ids are 22 characters), so it never names a real account.
pub const OPERATOR_USER_ID: &str = "operator";

/// Who `created_by` is for an operator-made invite: a fixed user record, with no roles, that no
/// one can log in as.
pub fn operator_user() -> User {
    User {
        id: OPERATOR_USER_ID.to_owned(),
        display_name: "Server operator".to_owned(),
        avatar_url: None,
        roles: Vec::new(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(super) enum Creator {
    User {
        id: String,
        /// The creator's [`UserRecord::admin_demotions`] when they made it (0 in invites stored
        /// before it was kept, as in the records of admins never demoted).
        #[serde(default)]
        demotions: u32,
    },
    Operator,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(super) enum InviteState {
    Open,
    Accepted {
        by: String,
        at: u64,
        /// Until when `by` may accept it again (see [`Acceptance::Again`]); none in invites taken
        /// before that was kept.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_until: Option<u64>,
    },
    Revoked {
        at: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct InviteRecord {
    pub id: String,
    pub role: TeamRole,
    pub created_by: Creator,
    pub created_at: u64,
    pub expires_at: u64,
    pub state: InviteState,
}

impl InviteRecord {
    /// Until when the store keeps it.
    fn lifetime(&self) -> Lifetime {
        Lifetime::Until(match self.state {
            InviteState::Open => self.expires_at.saturating_add(KEPT_FOR),
            InviteState::Accepted { at, .. } | InviteState::Revoked { at } => {
                at.saturating_add(KEPT_FOR)
            }
        })
    }

    /// Whether the invites list shows it at `now`.
    fn listed(&self, now: u64) -> bool {
        match self.state {
            InviteState::Open => self.expires_at > now,
            InviteState::Accepted { at, .. } => at + KEPT_FOR > now,
            InviteState::Revoked { .. } => false,
        }
    }
}

/// Whether the invite is still open at `now` (its taker may accept a taken one again: see
/// [`accepted`]).
fn check_open(record: &InviteRecord, now: u64) -> Result<(), AuthError> {
    match record.state {
        InviteState::Open if record.expires_at > now => Ok(()),
        InviteState::Open | InviteState::Revoked { .. } => Err(AuthError::InviteExpired),
        InviteState::Accepted { .. } => Err(AuthError::InviteUsed),
    }
}

/// What an accept does with an invite.
#[derive(Debug, PartialEq)]
enum Acceptance {
    /// It takes the open invite: the record once taken, whose taker may accept it again until
    /// `retry_until`.
    Takes {
        taken: InviteRecord,
        retry_until: u64,
    },
    /// Its taker accepts it again, before `retry_until`: the role follows if it did not (the
    /// store failed between the take and the role).
    Again { retry_until: u64 },
}

/// What an accept by `user_id` at `now` does with `record`, or why it cannot.
fn accepted(record: &InviteRecord, user_id: &str, now: u64) -> Result<Acceptance, AuthError> {
    // An invite taken before takers could accept again has no `retry_until`: it stays used.
    if let InviteState::Accepted {
        by,
        retry_until: Some(retry_until),
        ..
    } = &record.state
        && by == user_id
        && now < *retry_until
    {
        return Ok(Acceptance::Again {
            retry_until: *retry_until,
        });
    }
    check_open(record, now)?;
    let retry_until = now + RETRY_FOR;
    let taken = InviteRecord {
        state: InviteState::Accepted {
            by: user_id.to_owned(),
            at: now,
            retry_until: Some(retry_until),
        },
        ..record.clone()
    };
    Ok(Acceptance::Takes { taken, retry_until })
}

/// The invite `user_id` took, taken away again at `now` because its creator stopped standing
/// meanwhile: it ends as an admin's revoke ends it. `None` when it is not (or no longer) theirs.
fn withdrawn(record: &InviteRecord, user_id: &str, now: u64) -> Option<InviteRecord> {
    match &record.state {
        InviteState::Accepted { by, .. } if by == user_id => Some(InviteRecord {
            state: InviteState::Revoked { at: now },
            ..record.clone()
        }),
        InviteState::Accepted { .. } | InviteState::Open | InviteState::Revoked { .. } => None,
    }
}

/// Answers an accept refused because the invite's creator no longer stands (`refused`): the
/// invite goes if `user_id` took it ([`withdraw`]), unless an accept of theirs beside this one gave
/// the role meanwhile (then it is used again).
async fn fallen_inviter(
    store: &dyn Store,
    invite: &InviteRecord,
    user_id: &str,
    now: u64,
    refused: AuthError,
) -> Result<User, AuthError> {
    if matches!(refused, AuthError::InviteExpired) {
        let now_noted = users::get(store, user_id).await?;
        if now_noted.is_some_and(|user| user.joined_by_invites.contains_key(&invite.id)) {
            return used_again(store, user_id, &invite.id).await;
        }
        withdraw(store, invite, user_id, now).await?;
    }
    Err(refused)
}

/// An invite's QR, as [`drawn`] made it.
pub(super) enum InviteQr {
    /// The app's mini program code of its invite page, the code as scene (`wxacode`).
    MiniProgramCode(Vec<u8>),
    /// A QR of the invite's link (`url`, or no app to draw with).
    OfLink(Vec<u8>),
}

/// The QR of the invite `code` (whose link is `link`) as `app` draws QRs, asking its WeChat for a
/// mini program code in `wxacode` mode.
pub(super) async fn drawn(
    app: Option<(&AppSettings, &dyn WeChat)>,
    link: &str,
    code: &str,
) -> Result<InviteQr, AuthError> {
    match app {
        Some((app, wechat)) if app.qr_mode == QrMode::Wxacode => Ok(InviteQr::MiniProgramCode(
            wechat
                .unlimited_qr_code(app, &app.invite_page, code)
                .await?,
        )),
        Some(_) | None => crate::qr::png(link, crate::qr::DEFAULT_WIDTH)
            .map(InviteQr::OfLink)
            .map_err(|e| AuthError::Internal(format!("cannot render the invite QR: {e}"))),
    }
}

/// Stores [`withdrawn`], so the invite lists as neither open nor accepted, and lets its QR go.
async fn withdraw(
    store: &dyn Store,
    invite: &InviteRecord,
    user_id: &str,
    now: u64,
) -> Result<(), AuthError> {
    let withdrew = records::update(
        store,
        &store_keys::invite(&invite.id),
        |current: Option<&InviteRecord>| {
            Ok(
                match current.and_then(|record| withdrawn(record, user_id, now)) {
                    Some(next) => Transition::Write(next.clone(), next.lifetime(), true),
                    None => Transition::Keep(false),
                },
            )
        },
    )
    .await?;
    // Logged once written, whatever becomes of the QR's deletion.
    if withdrew {
        tracing::info!(
            team_event = "invite_withdrawn",
            actor = %user_id,
            invite = %invite.id,
            role = invite.role.as_str(),
            "team change"
        );
    }
    store.delete(&store_keys::invite_qr(&invite.id)).await?;
    Ok(())
}

/// An invite entry in the listing index, dropped once `until` passed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Listed {
    id: String,
    until: u64,
}

/// A new invite (not yet stored) and its code.
pub(super) fn new_invite(
    creator: Creator,
    role: TeamRole,
    expires_in: Option<u64>,
) -> Result<(InviteRecord, String), AuthError> {
    let lifetime = match expires_in {
        None => DEFAULT_INVITE_LIFETIME.as_secs(),
        Some(seconds) if (1..=MAX_INVITE_LIFETIME.as_secs()).contains(&seconds) => seconds,
        Some(_) => {
            return Err(AuthError::InvalidRequest(format!(
                "expires_in: must be 1 to {} seconds",
                MAX_INVITE_LIFETIME.as_secs()
            )));
        }
    };
    let now = unix_now();
    let record = InviteRecord {
        id: random_id()?,
        role,
        created_by: creator,
        created_at: now,
        expires_at: now + lifetime,
        state: InviteState::Open,
    };
    Ok((record, random_scene()?))
}

/// Stores a new invite: its QR, its record, its code's hash, and its place in the list.
pub(super) async fn save(
    store: &dyn Store,
    record: &InviteRecord,
    code: &str,
    qr_png: &[u8],
) -> Result<(), AuthError> {
    let now = unix_now();
    let lifetime = record.lifetime();
    let open_for = Lifetime::Until(record.expires_at);
    store
        .put(&store_keys::invite_qr(&record.id), qr_png, open_for)
        .await?;
    store
        .put(
            &store_keys::invite(&record.id),
            &records::encode(record)?,
            lifetime,
        )
        .await?;
    // The code leads to the invite only once the invite is there.
    store
        .put(
            &store_keys::invite_code(code),
            record.id.as_bytes(),
            lifetime,
        )
        .await?;
    let entry = Listed {
        id: record.id.clone(),
        until: record.expires_at.saturating_add(KEPT_FOR),
    };
    records::update(
        store,
        store_keys::INVITES,
        |current: Option<&Vec<Listed>>| {
            let mut listed: Vec<Listed> = current
                .into_iter()
                .flatten()
                .filter(|listed| listed.until > now)
                .cloned()
                .collect();
            listed.push(entry.clone());
            Ok(Transition::Write(listed, Lifetime::Forever, ()))
        },
    )
    .await
}

/// The invite a code leads to: `invite_invalid` for a malformed or unknown code.
async fn by_code(store: &dyn Store, code: &str) -> Result<InviteRecord, AuthError> {
    if !is_scene_shaped(code) {
        return Err(AuthError::InviteInvalid);
    }
    let id = store
        .get(&store_keys::invite_code(code))
        .await?
        .ok_or(AuthError::InviteInvalid)?;
    records::load(store, &store_keys::invite(&String::from_utf8_lossy(&id)))
        .await?
        .ok_or(AuthError::InviteInvalid)
}

/// Who made an invite, as the wire shows them.
async fn creator_user(store: &dyn Store, creator: &Creator) -> Result<User, AuthError> {
    match creator {
        Creator::Operator => Ok(operator_user()),
        Creator::User { id, .. } => member_or_former(store, id).await,
    }
}

/// The user `id` as the wire shows them, or, when their account was folded or deleted since, a
/// stand-in saying so: the list of invites does not fail, and an accepted invite still reads as
/// accepted by someone (`accepted_by` null would read as not accepted).
async fn member_or_former(store: &dyn Store, id: &str) -> Result<User, AuthError> {
    Ok(match users::get(store, id).await? {
        Some(user) => user.to_wire(),
        None => User {
            id: id.to_owned(),
            display_name: "Former member".to_owned(),
            avatar_url: None,
            roles: Vec::new(),
        },
    })
}

/// The creator of an invite that still stands; else the invite has expired. An invite stands only
/// while its creator may still make one, so an admin removed or demoted since (or gone) takes
/// their open invites along, or they could let themselves back in with one; and, like their
/// logins, a dev user's invites stand only on a server in dev mode (`dev_mode`), or an admin
/// made with `--dev` could hand out admin rights on a production server sharing the store. The
/// operator's invites stand.
async fn standing_inviter(
    store: &dyn Store,
    creator: &Creator,
    dev_mode: bool,
) -> Result<User, AuthError> {
    match creator {
        Creator::Operator => Ok(operator_user()),
        Creator::User { id, demotions } => match users::get(store, id).await? {
            Some(user)
                if user.is_admin()
                    && user.admin_demotions == *demotions
                    && (dev_mode || !user.dev) =>
            {
                Ok(user.to_wire())
            }
            Some(_) | None => Err(AuthError::InviteExpired),
        },
    }
}

pub(super) async fn to_wire(store: &dyn Store, record: &InviteRecord) -> Result<Invite, AuthError> {
    let (accepted_by, accepted_at) = match &record.state {
        InviteState::Accepted { by, at, .. } => {
            (Some(member_or_former(store, by).await?), Some(*at))
        }
        InviteState::Open | InviteState::Revoked { .. } => (None, None),
    };
    Ok(Invite {
        id: record.id.clone(),
        role: record.role,
        created_by: creator_user(store, &record.created_by).await?,
        created_at: record.created_at,
        expires_at: record.expires_at,
        accepted_by,
        accepted_at,
    })
}

/// Open invites that still stand (see [`standing_inviter`]; `dev_mode` as there) and those accepted
/// in the last week, newest first: an open invite whose creator may no longer make one is not
/// offered as open, as its code answers `invite_expired`.
pub(super) async fn list(store: &dyn Store, dev_mode: bool) -> Result<Vec<Invite>, AuthError> {
    let now = unix_now();
    let listed: Vec<Listed> = records::load(store, store_keys::INVITES)
        .await?
        .unwrap_or_default();
    let mut invites = Vec::new();
    for entry in listed.iter().filter(|entry| entry.until > now) {
        let Some(record) =
            records::load::<InviteRecord>(store, &store_keys::invite(&entry.id)).await?
        else {
            continue;
        };
        let stands = match record.state {
            InviteState::Open => {
                match standing_inviter(store, &record.created_by, dev_mode).await {
                    Ok(_) => true,
                    Err(AuthError::InviteExpired) => false,
                    Err(failure) => return Err(failure),
                }
            }
            InviteState::Accepted { .. } | InviteState::Revoked { .. } => true,
        };
        if record.listed(now) && stands {
            invites.push(to_wire(store, &record).await?);
        }
    }
    invites.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    Ok(invites)
}

/// Revokes an invite (any state: an accepted one leaves the list, its member keeps the role).
pub(super) async fn revoke(
    store: &dyn Store,
    id: &str,
    actor: &TeamActor,
) -> Result<(), AuthError> {
    let now = unix_now();
    let revoked = records::update(
        store,
        &store_keys::invite(id),
        |current: Option<&InviteRecord>| {
            let record = current.ok_or(AuthError::InviteInvalid)?;
            Ok(match record.state {
                InviteState::Revoked { .. } => Transition::Keep(false),
                InviteState::Open | InviteState::Accepted { .. } => {
                    let next = InviteRecord {
                        state: InviteState::Revoked { at: now },
                        ..record.clone()
                    };
                    let lifetime = next.lifetime();
                    Transition::Write(next, lifetime, true)
                }
            })
        },
    )
    .await?;
    store.delete(&store_keys::invite_qr(id)).await?;
    if revoked {
        tracing::info!(team_event = "invite_revoked", actor = %actor, invite = %id, "team change");
    }
    Ok(())
}

/// Logs a new invite: who made it, its id and role, never its code.
pub(super) fn log_created(record: &InviteRecord, actor: &TeamActor) {
    tracing::info!(
        team_event = "invite_created",
        actor = %actor,
        invite = %record.id,
        role = record.role.as_str(),
        expires_at = record.expires_at,
        "team change"
    );
}

impl AuthService {
    /// `POST /auth/invites` (admin).
    pub async fn create_invite(
        &self,
        caller: &TeamCaller,
        request: CreateInviteRequest,
    ) -> Result<CreateInviteResponse, AuthError> {
        let (record, code) = new_invite(
            Creator::User {
                id: caller.claims.sub.clone(),
                demotions: caller.admin_demotions,
            },
            request.role,
            request.expires_in,
        )?;
        let app = self.app(None)?;
        let link = invite_link(&self.settings.public_url, &code);
        let (content, png) = match drawn(Some((app, self.wechat.as_ref())), &link, &code).await? {
            InviteQr::MiniProgramCode(png) => (None, png),
            InviteQr::OfLink(png) => (Some(link), png),
        };
        let store = self.store.as_ref();
        save(store, &record, &code, &png).await?;
        log_created(&record, &caller.actor());
        Ok(CreateInviteResponse {
            qr: QrInfo {
                png_url: format!("/auth/invites/{}/qr.png", record.id),
                content,
            },
            invite: to_wire(store, &record).await?,
            code,
        })
    }

    /// `GET /auth/invites/{id}/qr.png` (admin): the open invite's QR, while it stands.
    pub async fn invite_qr(&self, _caller: &TeamCaller, id: &str) -> Result<Vec<u8>, AuthError> {
        let record: InviteRecord = records::load(self.store.as_ref(), &store_keys::invite(id))
            .await?
            .ok_or(AuthError::InviteInvalid)?;
        check_open(&record, unix_now())?;
        standing_inviter(self.store.as_ref(), &record.created_by, self.settings.dev).await?;
        self.store
            .get(&store_keys::invite_qr(id))
            .await?
            .ok_or(AuthError::InviteExpired)
    }

    /// `GET /auth/invites` (admin).
    pub async fn invites(&self, _caller: &TeamCaller) -> Result<Vec<Invite>, AuthError> {
        list(self.store.as_ref(), self.settings.dev).await
    }

    /// `DELETE /auth/invites/{id}` (admin).
    pub async fn revoke_invite(&self, caller: &TeamCaller, id: &str) -> Result<(), AuthError> {
        revoke(self.store.as_ref(), id, &caller.actor()).await
    }

    /// `POST /auth/invites/inspect` (no auth, limited per address).
    pub async fn inspect_invite(
        &self,
        code: &str,
        from: &ClientAddr,
    ) -> Result<InspectInviteResponse, AuthError> {
        self.limit_invite_tries(from).await?;
        let store = self.store.as_ref();
        let record = by_code(store, code).await?;
        check_open(&record, unix_now())?;
        let inviter = standing_inviter(store, &record.created_by, self.settings.dev).await?;
        Ok(InspectInviteResponse {
            role: record.role,
            invited_by: Inviter {
                display_name: inviter.display_name,
                avatar_url: inviter.avatar_url,
            },
            expires_at: record.expires_at,
        })
    }

    /// `POST /auth/invites/accept` (mini program token, limited per address): one atomic step
    /// decides the one winner (see the module's first lines), who then gets the role, unless the
    /// invite's creator stopped standing meanwhile (the invite is then withdrawn).
    pub async fn accept_invite(
        &self,
        code: &str,
        claims: &meeteasy_protocol::Claims,
        from: &ClientAddr,
    ) -> Result<User, AuthError> {
        self.limit_invite_tries(from).await?;
        let store = self.store.as_ref();
        let found = by_code(store, code).await?;
        // Under the account's change lock, from the take to the role: a link folding the account
        // away meanwhile refuses this accept (503 server_busy) before it uses the invite up, and
        // its Try again, from the account the WeChat then leads to, takes it.
        let accept_id = random_id()?;
        let holder = format!("invite:{accept_id}");
        let accept = self.accept_locked(found, &claims.sub, &accept_id);
        account_changes::one_at_a_time(&self.store, &claims.sub, &holder, accept).await
    }

    async fn accept_locked(
        &self,
        found: InviteRecord,
        user_id: &str,
        accept_id: &str,
    ) -> Result<User, AuthError> {
        let store = self.store.as_ref();
        let user: UserRecord = self.user(user_id).await?;
        // The taker's accept again once the role was given (its answer lost on the way) is used,
        // whatever became of the invite's creator since: the role stands, and the invite must not
        // be withdrawn under it. What that first accept may not have finished is done again.
        if user.joined_by_invites.contains_key(&found.id) {
            return used_again(store, &user.id, &found.id).await;
        }
        let now = unix_now();
        if let Err(refused) = standing_inviter(store, &found.created_by, self.settings.dev).await {
            // This user's accept again, after a first that took the invite but failed to give the
            // role, and a demotion of its creator since: the invite goes as below, rather than
            // stay listed as accepted by someone who holds no role.
            return fallen_inviter(store, &found, &user.id, now, refused).await;
        }
        let key = store_keys::invite(&found.id);
        let (record, retry_until) =
            records::update(store, &key, |current: Option<&InviteRecord>| {
                let record = current.ok_or(AuthError::InviteInvalid)?;
                Ok(match accepted(record, &user.id, now)? {
                    Acceptance::Takes { taken, retry_until } => {
                        let lifetime = taken.lifetime();
                        Transition::Write(taken.clone(), lifetime, (taken, retry_until))
                    }
                    Acceptance::Again { retry_until } => {
                        Transition::Keep((record.clone(), retry_until))
                    }
                })
            })
            .await?;
        // Its creator is read again now that the invite is taken: a demotion that fell between
        // the first read and the take must not let it through, or an admin demoted meanwhile could
        // still let someone in. A demotion after this read came after the accept.
        if let Err(refused) = standing_inviter(store, &found.created_by, self.settings.dev).await {
            return fallen_inviter(store, &found, &user.id, now, refused).await;
        }
        // Won, or its winner accepting again: the role follows, with the invite noted in the
        // user's record in the same write. Should that write fail, the same accept again gives it.
        let note = InviteNote {
            id: &record.id,
            until: retry_until.saturating_add(NOTED_PAST_RETRY),
            accept_id,
        };
        let given = match team::promote(store, &user.id, record.role, &note).await? {
            InviteGrant::Given(user) => {
                tracing::info!(
                    team_event = "invite_accepted",
                    actor = %user.id,
                    invite = %record.id,
                    role = record.role.as_str(),
                    "team change"
                );
                Some(user)
            }
            InviteGrant::GivenBefore => None,
        };
        // Either way the invite is used: its QR goes (again, should the first accept have failed
        // to delete it).
        store.delete(&store_keys::invite_qr(&record.id)).await?;
        given
            .map(|user| user.to_wire())
            .ok_or(AuthError::InviteUsed)
    }

    async fn limit_invite_tries(&self, from: &ClientAddr) -> Result<(), AuthError> {
        let limits = self.settings.invite_limits;
        let window = self
            .store
            .count_in_window(&store_keys::invite_tries_from(from), limits.window)
            .await?;
        if window.count > limits.per_ip {
            return Err(AuthError::TooManyRequests {
                retry_after: window.resets_in,
            });
        }
        Ok(())
    }
}

/// The answer to an accept of `invite` by the user it gave a role already (`user_id`):
/// `invite_used`, once what the first accept may have left undone is done again (the user listed
/// in the team index as their record says, the invite's QR deleted).
async fn used_again(store: &dyn Store, user_id: &str, invite: &str) -> Result<User, AuthError> {
    team::list_as_recorded(store, user_id).await?;
    store.delete(&store_keys::invite_qr(invite)).await?;
    Err(AuthError::InviteUsed)
}

/// The link a `url`-mode invite QR encodes.
pub fn invite_link(public_url: &str, code: &str) -> String {
    format!("{public_url}/m/invite/{code}")
}

#[cfg(test)]
mod tests;
