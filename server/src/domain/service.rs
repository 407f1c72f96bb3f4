//! [`AuthService`]: the domain's one entry point, holding the store, WeChat, the settings and the
//! signing keys. Its operations are spread over the files of their area (tickets, scenes, ...).

use std::sync::Arc;
use std::time::Duration;

use meeteasy_protocol::{Audience, BEARER, Claims, Jwks, TokenResponse, User};
use tokio::sync::watch;

use crate::config::{AppSettings, Settings};
use crate::key_sealing::KeyEncryptionKey;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};
use crate::wechat::WeChat;

use super::address_turns::{AddressTurns, TurnBounds};
use super::last_seen_memo::LastSeenMemo;
use super::passwords::HashingTurns;
use super::poll_slots::PollSlots;
use super::secrets::random_token;
use super::sessions::{self, Claim, Opened, ParentSession, SessionRecord};
use super::signing_keys::{SealedKeysError, SigningKeys};
use super::store_keys;
use super::team::{self, LoginNote, SeenListed};
use super::users::{self, UserRecord};
use super::verified_tokens::VerifiedTokens;
use super::{AuthError, unix_now};
use super::{passwords, records, tokens};

/// How often the signing keys are re-read even without a rotation notice.
const KEYS_REREAD_INTERVAL: Duration = Duration::from_secs(60);

/// The address a request came from, as the transport saw it.
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

pub struct AuthService {
    pub(super) store: Arc<dyn Store>,
    pub(super) wechat: Arc<dyn WeChat>,
    pub(super) settings: Arc<Settings>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) keys: SigningKeys,
    pub(super) poll_slots: PollSlots,
    pub(super) hashing: HashingTurns,
    /// Turns at asking WeChat about a code, per address (see [`WECHAT_CODE_CHECKS_PER_ADDRESS`]).
    pub(super) wechat_code_turns: AddressTurns,
    /// Turns true when the server is shutting down: waiting long-polls answer at once.
    pub(super) shutting_down: watch::Receiver<bool>,
    last_seen: LastSeenMemo,
    /// The organizers this instance saw in the team index.
    pub(super) seen_listed: SeenListed,
    /// The `iss` of the tokens this server makes and takes (see [`token_issuer`]).
    issuer: String,
    verified_tokens: VerifiedTokens,
}

/// `public_url`, and in dev mode `public_url#dev`: a token made in dev mode (where anyone logs in
/// as anyone) never verifies on a server without it, on this store or at a service checking `iss`.
fn token_issuer(settings: &Settings) -> String {
    if settings.dev {
        format!("{}#dev", settings.public_url)
    } else {
        settings.public_url.clone()
    }
}

/// A new session: which client, how the user authenticated, from where, derived from which one.
pub(super) struct NewSession<'a> {
    pub audience: Audience,
    pub methods: &'a [&'a str],
    pub device_name: Option<String>,
    pub ip: String,
    pub parent: Option<ParentSession>,
    /// The session's id when the caller names it (a ticket names the one it opens); else a new one.
    /// Callers naming one id race to write its record, and only the first hands out a token: the
    /// others, a ticket's replays, answer [`AuthError::TicketUsed`].
    pub sid: Option<String>,
    /// When the session's lifetime counts from, if not now: a ticket's minting, so that every
    /// exchange of one ticket (a replay too) gives its session the same end.
    pub started_at: Option<u64>,
}

/// Whose session [`AuthService::open_session`] opens.
pub(super) enum SessionUser<'a> {
    /// A user the caller read.
    Known(&'a UserRecord),
    /// The user of a login ticket, by id, read in the batch that writes the session (a round trip
    /// saved): a user deleted meanwhile ([`AuthError::TicketInvalid`]) or one who may not log in
    /// here has the session ended at once.
    OfTicket(&'a str),
    /// A user whose password the caller checked against this record. Read again in the batch that
    /// writes the session: a password changed meanwhile (the hash takes a while to check) ends
    /// the session at once, [`AuthError::InvalidCredentials`]. The change writes the record before
    /// it reads the index of sessions to end, and the batch writes the session's index line before
    /// it reads the record, so one of the two always sees the other.
    ByPassword(&'a UserRecord),
}

/// A session [`AuthService::record_session`] wrote, and the last-login note it wrote beside it
/// for a login of its own (taken back if the login is refused after all).
pub(super) struct RecordedSession {
    pub opened: Opened,
    pub login_note: Option<LoginNote>,
}

/// A session just opened: the token answer, and the session as a parent of sessions it derives.
pub(super) struct OpenedSession {
    pub response: TokenResponse,
    pub session: ParentSession,
}

/// Why a token whose user was deleted is refused.
pub(super) const USER_GONE: &str = "the user of this token no longer exists";

/// Codes of one address WeChat is asked about at once, per instance: so many that a venue's NAT
/// logs hundreds of attendees in a minute, so few that codes sent at once overshoot the address's
/// limit of rejected codes by at most this many less one.
const WECHAT_CODE_CHECKS_PER_ADDRESS: usize = 8;
/// Codes of one address that may wait for their turn meanwhile (a venue's burst; as many as the
/// default per-address connection cap), each for at most WeChat's own timeout.
const WECHAT_CODES_WAITING_PER_ADDRESS: usize = 1_000;

impl AuthService {
    /// Loads (or, on a new store, creates) the signing keys, sealed at rest with `key_encryption_key`
    /// when one is given.
    pub async fn start(
        store: Arc<dyn Store>,
        wechat: Arc<dyn WeChat>,
        settings: Arc<Settings>,
        key_encryption_key: Option<KeyEncryptionKey>,
        metrics: Arc<Metrics>,
        shutting_down: watch::Receiver<bool>,
    ) -> Result<AuthService, AuthError> {
        let keys = SigningKeys::load(store.as_ref(), key_encryption_key).await?;
        passwords::warm_up().await?;
        if !settings.dev && store.get(store_keys::DEV_USERS_MADE).await?.is_some() {
            tracing::warn!(
                "this store holds users made in dev mode: they cannot log in here, and their dev-mode tokens do not verify; a production server should have a store of its own"
            );
        }
        Ok(AuthService {
            issuer: token_issuer(&settings),
            hashing: HashingTurns::new(settings.password_hashing),
            wechat_code_turns: AddressTurns::new(TurnBounds {
                at_once: WECHAT_CODE_CHECKS_PER_ADDRESS,
                waiting: WECHAT_CODES_WAITING_PER_ADDRESS,
                wait: settings.wechat.timeout,
            }),
            store,
            wechat,
            settings,
            metrics,
            keys,
            poll_slots: PollSlots::default(),
            shutting_down,
            last_seen: LastSeenMemo::default(),
            verified_tokens: VerifiedTokens::default(),
            seen_listed: SeenListed::default(),
        })
    }

    pub(super) fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// How this server draws invites (its default app, its WeChat), for the operator's.
    pub fn invite_codes(&self) -> Option<super::InviteCodes> {
        let app = self.settings.app(None)?.clone();
        Some(super::InviteCodes {
            app,
            wechat: Arc::clone(&self.wechat),
        })
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub async fn ready(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }

    /// Follows key rotations (`meeteasy-auth keys rotate`, on this instance's store) until the
    /// server shuts down: re-reads the keys when notified, and every minute besides, for a
    /// notification that could not be sent or was lost on its way. The first re-read comes right
    /// after subscribing: a rotation between the keys' first load and the subscription is seen too.
    ///
    /// Ends with the error when the stored keys are sealed with another key-encryption key than
    /// this instance's (an operator replaced it with `keys rotate --compromised`): the keys in use
    /// are the leaked ones, so the server must stop rather than go on signing with them. An
    /// instance without a key-encryption key finding sealed keys goes on with a warning: it cannot
    /// tell a rotation from another instance sealing the same keys as it starts with a key
    /// (turning sealing on, one instance at a time).
    pub async fn follow_key_rotations(&self) -> Result<(), SealedKeysError> {
        let mut shutting_down = self.shutting_down.clone();
        let mut rotated = self.store.subscribe(store_keys::SIGNING_KEYS_ROTATED);
        loop {
            match self.keys.reload(self.store.as_ref()).await {
                Ok(()) => {
                    tracing::debug!(current = %self.keys.ring().current_kid(), "signing keys re-read")
                }
                Err(AuthError::SealedKeys(SealedKeysError::WrongKeyEncryptionKey)) => {
                    return Err(SealedKeysError::WrongKeyEncryptionKey);
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot re-read the signing keys; keeping the ones in use")
                }
            }
            tokio::select! {
                () = rotated.changed() => {}
                () = tokio::time::sleep(KEYS_REREAD_INTERVAL) => {}
                _ = shutting_down.changed() => return Ok(()),
            }
        }
    }

    pub fn jwks(&self) -> Jwks {
        self.keys.ring().jwks()
    }

    /// Checks a bearer token fully: signature, issuer, expiry and revocation.
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = (self.verified_tokens).check(&self.keys.ring(), &self.issuer, token)?;
        let store = self.store.as_ref();
        let (user_id, sid) = (&claims.sub, &claims.sid);
        // `last_seen_at` moves when it is a period old. This instance remembers when the stored
        // one was set (by whichever instance), so it reads the record only once that is due: not
        // once per period after its own last look, which could leave the time shown nearly two
        // periods behind. Then the record is read in the round trip that reads the revocation
        // mark: a first verification costs one, as every later one does. Nothing is due, and
        // nothing read, until the token itself is a period old (see `may_be_due`).
        if !self.last_seen.may_be_due(sid, claims.iat, unix_now()) {
            if sessions::is_revoked(store, user_id, sid).await? {
                return Err(AuthError::TokenRevoked);
            }
            return Ok(claims);
        }
        let (revoked, record) = sessions::revoked_and_record(store, user_id, sid).await?;
        if revoked {
            return Err(AuthError::TokenRevoked);
        }
        // Bookkeeping, not a check: a move the store could not make (or its replicas could not
        // confirm) fails no verification; the next one is tried a period later. A record that
        // cannot be read is another matter, and is said.
        match sessions::touch_from(store, user_id, sid, record).await {
            Ok(Some(seen_at)) => self.last_seen.stored(sid, seen_at),
            Ok(None) => {}
            Err(AuthError::Store(error)) => {
                tracing::warn!(%error, "could not move a session's last_seen_at");
            }
            Err(other) => return Err(other),
        }
        Ok(claims)
    }

    /// Like [`AuthService::verify`], for endpoints only a mini program may call.
    pub async fn verify_miniprogram(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = self.verify(token).await?;
        match claims.aud {
            Audience::Miniprogram => Ok(claims),
            Audience::H5 | Audience::Console => Err(AuthError::InvalidToken(
                "this endpoint needs a mini program token",
            )),
        }
    }

    pub async fn me(&self, claims: &Claims) -> Result<User, AuthError> {
        Ok(self.user(&claims.sub).await?.to_wire())
    }

    /// Ends the token's session and every session derived from it.
    pub async fn logout(&self, claims: &Claims) -> Result<(), AuthError> {
        sessions::revoke_with_descendants(
            self.store.as_ref(),
            &claims.sub,
            &claims.sid,
            claims.exp,
        )
        .await?;
        Ok(())
    }

    pub(super) async fn user(&self, id: &str) -> Result<UserRecord, AuthError> {
        users::get(self.store.as_ref(), id)
            .await?
            .ok_or(AuthError::InvalidToken(USER_GONE))
    }

    pub(super) fn app(&self, key: Option<&str>) -> Result<&AppSettings, AuthError> {
        self.settings
            .app(key)
            .ok_or_else(|| AuthError::UnknownApp(key.unwrap_or_default().to_owned()))
    }

    /// Opens a session for `user` and issues its token. A derived session never outlives its
    /// parent; one whose parent has ended, or whose lifetime ran out since it was `started_at`,
    /// answers [`AuthError::TicketExpired`] (only a ticket derives sessions or starts them early).
    pub(super) async fn open_session(
        &self,
        user: SessionUser<'_>,
        new: NewSession<'_>,
    ) -> Result<OpenedSession, AuthError> {
        let now = unix_now();
        let started_at = new.started_at.unwrap_or(now);
        let mut ends_at = started_at.saturating_add(self.token_lifetime(new.audience).as_secs());
        if let Some(parent) = &new.parent {
            ends_at = ends_at.min(parent.expires_at);
        }
        // Only a ticket's session can have ended already: with its parent, or a lifetime after
        // the ticket was minted.
        if ends_at <= now {
            return Err(AuthError::TicketExpired);
        }
        let user_id = match user {
            SessionUser::Known(user) | SessionUser::ByPassword(user) => {
                self.may_hold(user, new.audience)?;
                user.id.as_str()
            }
            SessionUser::OfTicket(user_id) => user_id,
        };
        // The user is read (again) in the batch that writes the session when the session depends
        // on who they are now: a ticket's, and a console's, which needs the organizer role. A
        // removal from the team running meanwhile either finds the session in the user's index
        // and ends it, or is seen here (see `sessions::open` on that order).
        let reread = matches!(user, SessionUser::OfTicket(_) | SessionUser::ByPassword(_))
            || new.audience == Audience::Console;
        let read_beside = reread.then(|| store_keys::user(user_id));
        let (sid, claim) = match new.sid {
            Some(sid) => (sid, Claim::FirstRecord),
            None => (random_token()?, Claim::Any),
        };
        let claims = tokens::new_session(
            &self.issuer,
            user_id,
            sid,
            new.audience,
            new.methods,
            now,
            ends_at,
        );
        let access_token = tokens::sign(&self.keys.ring(), &claims)?;
        let recorded = self
            .record_session(
                &claims,
                new.device_name,
                new.ip,
                new.parent.map(|p| p.sid),
                claim,
                &Vec::from_iter(read_beside.as_deref()),
            )
            .await?;
        if !recorded.opened.made {
            // A ticket redeemed by another caller, or a session revoked as it was opened: no
            // login of this caller's stands.
            self.take_back_login_note(&recorded).await;
            return Err(AuthError::TicketUsed);
        }
        let user = match (user, read_beside) {
            (SessionUser::Known(user), None) => user.to_wire(),
            (SessionUser::Known(_), Some(_)) => {
                let gone = AuthError::InvalidToken(USER_GONE);
                self.user_as_read(&claims, &recorded, gone).await?.to_wire()
            }
            (SessionUser::OfTicket(_), _) => {
                let gone = AuthError::TicketInvalid;
                self.user_as_read(&claims, &recorded, gone).await?.to_wire()
            }
            (SessionUser::ByPassword(checked), _) => {
                let gone = AuthError::InvalidCredentials;
                let now = self.user_as_read(&claims, &recorded, gone).await?;
                if now.password_hash != checked.password_hash {
                    self.logout(&claims).await?;
                    self.take_back_login_note(&recorded).await;
                    return Err(AuthError::InvalidCredentials);
                }
                now.to_wire()
            }
        };
        Ok(OpenedSession {
            response: TokenResponse {
                access_token,
                token_type: BEARER.to_owned(),
                expires_in: claims.exp.saturating_sub(claims.iat),
                user,
            },
            session: ParentSession::of(&claims),
        })
    }

    /// The user as the batch that opened the session of `claims` read them (its first read beside
    /// the session), if they may hold it; else the session is ended and the login refused, its
    /// last-login note taken back (`gone`: there is no such user, whose last-login note, written
    /// beside the session, then goes too).
    pub(super) async fn user_as_read(
        &self,
        claims: &Claims,
        recorded: &RecordedSession,
        gone: AuthError,
    ) -> Result<UserRecord, AuthError> {
        let read = recorded.opened.beside.first().and_then(Option::as_deref);
        let user: Option<UserRecord> = match read {
            Some(bytes) => Some(records::decode(&store_keys::user(&claims.sub), bytes)?),
            None => None,
        };
        let user_gone = user.is_none();
        let refusal = match user {
            Some(user) => match self.may_hold(&user, claims.aud) {
                Ok(()) => return Ok(user),
                Err(refusal) => refusal,
            },
            None => gone,
        };
        // Ended as a logout ends it: it and whatever may have derived from it meanwhile.
        self.logout(claims).await?;
        // After the logout, which matters more: a note left behind is only a stale line.
        if user_gone {
            let note = store_keys::last_login(&claims.sub);
            if let Err(error) = self.store.delete(&note).await {
                tracing::warn!(%error, "cannot delete a gone user's last-login note");
            }
        } else {
            self.take_back_login_note(recorded).await;
        }
        Err(refusal)
    }

    /// Takes back the last-login note of a login refused after its session was written.
    pub(super) async fn take_back_login_note(&self, recorded: &RecordedSession) {
        if let Some(note) = &recorded.login_note {
            team::take_back(self.store.as_ref(), note).await;
        }
    }

    /// Keeps the session of `claims` (again, idempotently, for a login delivered twice), on `claim`,
    /// reading the records under `read_beside` in the same batch (see [`sessions::open`]).
    pub(super) async fn record_session(
        &self,
        claims: &Claims,
        device_name: Option<String>,
        ip: String,
        parent: Option<String>,
        claim: Claim<'_>,
        read_beside: &[&str],
    ) -> Result<RecordedSession, AuthError> {
        // A login of its own (not a session a ticket derived, nor a delivery collected again) is
        // the team list's last login.
        let own_login = parent.is_none() && !matches!(claim, Claim::Again);
        let record = SessionRecord {
            user_id: claims.sub.clone(),
            client: claims.aud,
            device_name,
            ip,
            created_at: claims.iat,
            last_seen_at: claims.iat,
            methods: claims.amr.clone(),
            parent,
            expires_at: claims.exp,
        };
        // Written together: one group commit on the embedded store, not two in a row. The note
        // is written before the login is known to stand, and taken back if it does not.
        let note_login = async {
            if own_login {
                team::note_login(self.store.as_ref(), &claims.sub)
                    .await
                    .map(Some)
            } else {
                Ok(None)
            }
        };
        let open = sessions::open(
            self.store.as_ref(),
            &claims.sid,
            &record,
            claim,
            read_beside,
        );
        let (login_note, opened) = tokio::try_join!(note_login, open)?;
        Ok(RecordedSession { opened, login_note })
    }

    /// Refuses `user` a session for `audience` they may not hold: a dev user on a server without
    /// dev mode, a console session without the organizer role.
    pub(super) fn may_hold(&self, user: &UserRecord, audience: Audience) -> Result<(), AuthError> {
        self.may_log_in(user)?;
        if audience == Audience::Console && !user.is_organizer() {
            return Err(AuthError::NotOrganizer);
        }
        Ok(())
    }

    /// Refuses a dev user a session on a server without dev mode.
    pub(super) fn may_log_in(&self, user: &UserRecord) -> Result<(), AuthError> {
        if user.dev && !self.settings.dev {
            return Err(AuthError::Forbidden(
                "this account was made in dev mode and logs in only on a server running with --dev",
            ));
        }
        Ok(())
    }

    fn token_lifetime(&self, audience: Audience) -> Duration {
        match audience {
            Audience::Console => self.settings.lifetimes.console_token,
            Audience::Miniprogram | Audience::H5 => self.settings.lifetimes.access_token,
        }
    }
}
