//! `islogin`: the console's long-poll. It answers at once when there is news for the console (the
//! record keeps the version the console was last told about), else waits up to `wait` for some: a
//! change notified by any instance, the scene's expiry, a newer poll taking over, or shutdown.

use std::time::Duration;

use meeteasy_protocol::{Audience, BEARER, Claims, IsLoginResponse};
use tokio::time::Instant;

use crate::metrics::LoginMethod;
use crate::store::{Lifetime, Step, outcomes};

use super::super::poll_slots::PollSlot;
use super::super::records;
use super::super::secrets::{derived_token, hashes_equal, is_token_shaped, token_hash};
use super::super::service::RecordedSession;
use super::super::sessions::{self, Claim, Condition};
use super::super::users::UserRecord;
use super::super::{AuthError, AuthService, store_keys, tokens, unix_now};
use super::check_scene;
use super::console_side::{self, PollStep, SceneAnswer};
use super::record::SceneRecord;

/// What [`derived_token`] names a delivered console session with.
const SESSION_OF_DELIVERY: &str = "the console session of a scene's delivery";

/// The longest `wait` a long-poll may ask for.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// What one read of the scene tells a poll.
enum Seen {
    Answer(SceneAnswer),
    /// A delivery found the scene moved meanwhile: read it again.
    Changed,
    /// No news, and time left to wait for some; the scene expires in `expires_in`.
    Nothing {
        expires_in: Duration,
    },
}

impl AuthService {
    /// `islogin` of a login scene (a link scene's answers are [`AuthService::poll_any_scene`]'s).
    pub async fn poll_scene(
        &self,
        scene: &str,
        poll_token: &str,
        wait: Duration,
    ) -> Result<IsLoginResponse, AuthError> {
        match self.poll_any_scene(scene, poll_token, wait).await? {
            SceneAnswer::Login(answer) => Ok(answer),
            SceneAnswer::Link(_) => Err(AuthError::InvalidRequest(
                "scene: a link scene, polled as a login scene".into(),
            )),
        }
    }

    /// `GET /auth/scenes/{scene}/islogin`, for either purpose.
    pub async fn poll_any_scene(
        &self,
        scene: &str,
        poll_token: &str,
        wait: Duration,
    ) -> Result<SceneAnswer, AuthError> {
        check_scene(scene)?;
        if wait > MAX_WAIT {
            return Err(AuthError::InvalidRequest(format!(
                "wait: must be 0 to {}",
                MAX_WAIT.as_secs()
            )));
        }
        if !is_token_shaped(poll_token) {
            return Err(AuthError::InvalidPollToken);
        }
        let poll_token_hash = token_hash(poll_token);
        let key = store_keys::scene(scene);
        let deadline = Instant::now() + wait;
        // Only the poll token's holder may listen to a scene: this read checks it, and a poll that
        // has news or does not wait answers from it without ever subscribing. Without `wait`, a
        // console may poll once per interval: its gate is claimed in the same round trip.
        let interval = self.settings.lifetimes.poll_interval;
        let (first, mut gate_passed) = if wait.is_zero() {
            let gate_key = store_keys::scene_poll_gate(scene, &poll_token_hash);
            let gate = Step::ClaimSlot {
                key: &gate_key,
                lifetime: interval,
            };
            let [read, claimed] = outcomes(self.store.batch(&[Step::Get(&key), gate]).await?)?;
            (read.into_read()?, Some(claimed.written()?))
        } else {
            (self.store.get(&key).await?, None)
        };
        let mut unread = Some(first.ok_or(AuthError::SceneExpired)?);
        // Taken only by the poll token's holder, so nobody else can cut the console's wait short.
        let mut slot = None;
        let mut changes = None;
        let mut shutting_down = self.shutting_down.clone();
        let mut stop_waiting = *shutting_down.borrow();
        let _waiter = self.metrics.waiting();
        loop {
            let bytes = match unread.take() {
                Some(bytes) => bytes,
                None => self.store.get(&key).await?.ok_or(AuthError::SceneExpired)?,
            };
            let now = Instant::now();
            let may_wait = now < deadline && !stop_waiting;
            let gate = gate_passed.take();
            // Boxed, and only while it runs: answering (a delivery writes a session) holds far more
            // state than waiting does, and a future is as large as its largest step, so 10,000
            // waiting consoles would each carry room for it.
            let seen = Box::pin(self.look(scene, &key, bytes, &poll_token_hash, gate, may_wait));
            let expires_in = match seen.await? {
                Seen::Answer(answer) => return Ok(answer),
                Seen::Changed => continue,
                Seen::Nothing { expires_in } => expires_in,
            };
            // Nothing read is kept while waiting (`look` took it): 10,000 waiting consoles would
            // each hold a copy.
            // A stored expiry past any clock (a damaged record) waits for the deadline alone.
            let wake_at = now
                .checked_add(expires_in)
                .map_or(deadline, |expiry| expiry.min(deadline));
            let Some(changes) = changes.as_mut() else {
                slot = Some(self.poll_slots.take(scene));
                // Subscribed before the read the wait depends on, so a change between the two is
                // not missed: read again.
                changes = Some(self.store.subscribe(&store_keys::scene_changed(scene)));
                continue;
            };
            tokio::select! {
                () = changes.changed() => {}
                () = tokio::time::sleep_until(wake_at) => {}
                // A closed channel means the server is going away too.
                _ = shutting_down.changed() => stop_waiting = true,
                () = superseded(slot.as_ref()) => stop_waiting = true,
            }
        }
    }

    /// One read of the scene, judged for the poll: an answer (news, a failed check, or no news and
    /// no more time to wait), the scene moved under a delivery, or nothing to tell yet.
    async fn look(
        &self,
        scene: &str,
        key: &str,
        bytes: Vec<u8>,
        poll_token_hash: &str,
        gate_passed: Option<bool>,
        may_wait: bool,
    ) -> Result<Seen, AuthError> {
        let record: SceneRecord = records::decode(key, &bytes)?;
        if !hashes_equal(&record.poll_token_hash, poll_token_hash) {
            return Err(AuthError::InvalidPollToken);
        }
        if record.is_expired() {
            return Err(AuthError::SceneExpired);
        }
        if gate_passed == Some(false) {
            return Err(AuthError::SlowDown {
                retry_after: self.settings.lifetimes.poll_interval,
            });
        }
        match console_side::on_poll(&record, may_wait) {
            PollStep::Answer { answer, news } => {
                if news {
                    let reported = console_side::told(&record);
                    // Losing this race means the scene changed meanwhile: the next poll answers
                    // that at once.
                    let _reported_recorded = self
                        .store
                        .compare_and_swap(
                            key,
                            &bytes,
                            &records::encode(&reported)?,
                            record.lifetime(),
                        )
                        .await?;
                }
                Ok(Seen::Answer(answer))
            }
            PollStep::Wait => {
                let expires_in = record.expires_at.saturating_sub(unix_now());
                Ok(Seen::Nothing {
                    expires_in: Duration::from_secs(expires_in),
                })
            }
            PollStep::Deliver {
                user_id,
                by_session,
            } => {
                let confirmed = Confirmed {
                    bytes: &bytes,
                    record: &record,
                    user_id,
                    by_session,
                };
                let delivered = self.deliver(scene, poll_token_hash, confirmed);
                Ok(match delivered.await? {
                    Some(delivered) => Seen::Answer(SceneAnswer::Login(delivered)),
                    // Another poll delivered first (or the scene moved): read what it left.
                    None => Seen::Changed,
                })
            }
            PollStep::DeliverAgain { claims, by_session } => {
                let again = self.deliver_again(claims, &record, by_session).await?;
                Ok(Seen::Answer(SceneAnswer::Login(again)))
            }
            PollStep::Refuse(refusal) => Err(refusal),
        }
    }

    /// Hands the console its token. The token is signed first; then one batch writes the console's
    /// session, moves the scene from the `Confirmed` record this poll read to `Delivered` by
    /// compare-and-swap (a [`Condition`]) and reads the user, so of concurrent polls exactly one
    /// delivers (`None` for the others: they read again and find it delivered). They all name the
    /// session alike, so they write that one session, never one of their own. A failure before
    /// the swap leaves the scene confirmed for the next poll; an answer lost after it (a store
    /// whose reply never came, a console that gave up on the connection) is collected again by the
    /// same poll token for `delivered_scene_ttl`. Nothing a phone saw succeed is lost on the way.
    /// The same batch reads the mark of the phone session that confirmed: one ended since (logged
    /// out, ended from elsewhere, its WeChat unlinked) takes the confirm with it, and the console
    /// is told the scene expired.
    async fn deliver(
        &self,
        scene: &str,
        poll_token_hash: &str,
        confirmed: Confirmed<'_>,
    ) -> Result<Option<IsLoginResponse>, AuthError> {
        let Confirmed {
            bytes: confirmed_bytes,
            record: confirmed,
            user_id,
            by_session,
        } = confirmed;
        let lifetime = self.settings.lifetimes.console_token;
        let delivery = format!("{poll_token_hash}:{scene}:{}", confirmed.version);
        let now = unix_now();
        let claims = tokens::new_session(
            self.issuer(),
            user_id,
            derived_token(SESSION_OF_DELIVERY, &delivery),
            Audience::Console,
            &[tokens::AMR_WECHAT, tokens::AMR_SCAN],
            now,
            now + lifetime.as_secs(),
        );
        let access_token = tokens::sign(&self.keys.ring(), &claims)?;
        let grace = self.settings.lifetimes.delivered_scene;
        let delivered =
            console_side::delivered(confirmed, claims.clone(), by_session, now + grace.as_secs());
        let move_to_delivered = Condition {
            key: store_keys::scene(scene),
            expected: confirmed_bytes.to_vec(),
            new: records::encode(&delivered)?,
            lifetime: Lifetime::For(grace),
        };
        // The user is read in the batch that writes the session, as for any console session (see
        // `AuthService::open_session`), not in a round trip of its own before it.
        let swap = Claim::Swap(&move_to_delivered);
        let recorded = self
            .record_console_session(&claims, confirmed, swap, by_session)
            .await?;
        if !recorded.opened.made {
            // Its note stays: the poll that won delivers the same login, and wrote it too.
            self.end_undelivered(scene, &claims).await?;
            return Ok(None);
        }
        let user = self
            .delivered_user(&claims, &recorded, Delivery::First)
            .await?;
        // Counted by the poll whose swap is known to have won; a swap whose reply was lost goes
        // uncounted (a rare undercount, where counting again on redelivery would double-count).
        self.metrics.count_login(LoginMethod::Scan);
        Ok(Some(console_answer(
            access_token,
            lifetime.as_secs(),
            &user,
        )))
    }

    /// The delivered session once more, for the poll token that already had it (its earlier
    /// answer may never have arrived): the same claims, so the same session, not a second one.
    /// Its record is written again too, should the first delivery have stopped before it, in one
    /// batch that reads the session's own revocation mark and the user: a session ended since
    /// (the console logged out, or was logged out) is not handed out again, nor brought back.
    async fn deliver_again(
        &self,
        claims: &Claims,
        scene: &SceneRecord,
        by_session: Option<&str>,
    ) -> Result<IsLoginResponse, AuthError> {
        let recorded = self
            .record_console_session(claims, scene, Claim::Again, by_session)
            .await?;
        if !recorded.opened.made {
            return Err(AuthError::SceneExpired);
        }
        let user = self
            .delivered_user(claims, &recorded, Delivery::Again)
            .await?;
        let access_token = tokens::sign(&self.keys.ring(), claims)?;
        let expires_in = claims.exp.saturating_sub(unix_now());
        Ok(console_answer(access_token, expires_in, &user))
    }

    /// After a delivery's swap was lost: to another poll of the same confirm, which hands out this
    /// very session, or to a step that moved the scene on (a confirm again, from another phone
    /// session): then the session this poll wrote is nobody's, and ends.
    async fn end_undelivered(&self, scene: &str, claims: &Claims) -> Result<(), AuthError> {
        let store = self.store.as_ref();
        // A scene gone (its delivered grace over) may have handed this session out: it is left to
        // end by itself rather than ended under its holder.
        let Some(now) = records::load::<SceneRecord>(store, &store_keys::scene(scene)).await?
        else {
            return Ok(());
        };
        let delivered = now.delivered_as();
        if delivered.is_none_or(|delivered| delivered.sid != claims.sid) {
            sessions::revoke_with_descendants(store, &claims.sub, &claims.sid, claims.exp).await?;
        }
        Ok(())
    }

    /// The user a delivery hands the console's session to, as its batch read them, if the login
    /// still stands: else the console is told why. A user taken off the team since the confirm is
    /// the confirm of a non-organizer; a user gone, or a phone session that confirmed and ended
    /// before the delivery, leaves a scene that expired.
    ///
    /// The first delivery reads the phone session's mark in the batch that swaps the scene, so a
    /// mark there ended it first, whatever the clocks say: the session just written is marked
    /// ended at once (before the walk that ends what may derive from it), so collecting it again
    /// finds its own mark. Collecting it again refuses too when the phone session ended by the
    /// delivery's `iat` (a first refusal whose mark failed), but ends nothing: the session may
    /// have been handed out to a poll that raced it, and a phone ended after that leaves it stand.
    async fn delivered_user(
        &self,
        claims: &Claims,
        recorded: &RecordedSession,
        delivery: Delivery,
    ) -> Result<UserRecord, AuthError> {
        let user = self
            .user_as_read(claims, recorded, AuthError::SceneExpired)
            .await
            .map_err(refused_delivery)?;
        let phone_mark = recorded.opened.beside.get(PHONE_MARK_READ);
        let Some(phone_mark) = phone_mark.and_then(Option::as_deref) else {
            return Ok(user);
        };
        match delivery {
            Delivery::First => {
                let store = self.store.as_ref();
                sessions::mark_ended(store, &claims.sub, &claims.sid, claims.exp).await?;
                self.logout(claims).await?;
                self.take_back_login_note(recorded).await;
                Err(AuthError::SceneExpired)
            }
            Delivery::Again if sessions::ended_at(phone_mark) <= claims.iat => {
                Err(AuthError::SceneExpired)
            }
            Delivery::Again => Ok(user),
        }
    }

    /// The console's session takes its scene's device name (if the console gave one) and address
    /// (see [`AuthService::record_session`] for `claim`), and its user is read in the same batch
    /// (see [`AuthService::user_as_read`]), then the mark of the phone session `by_session` if
    /// the scene names it.
    async fn record_console_session(
        &self,
        claims: &Claims,
        scene: &SceneRecord,
        claim: Claim<'_>,
        by_session: Option<&str>,
    ) -> Result<RecordedSession, AuthError> {
        let user_key = store_keys::user(&claims.sub);
        let phone_mark = by_session.map(|sid| store_keys::revoked_session(&claims.sub, sid));
        // The user first (see `AuthService::user_as_read`), then the mark at [`PHONE_MARK_READ`].
        let mut read_beside = vec![user_key.as_str()];
        read_beside.extend(phone_mark.as_deref());
        self.record_session(
            claims,
            scene.console_device_name(),
            scene.console.ip.clone(),
            None,
            claim,
            &read_beside,
        )
        .await
    }
}

/// Where the phone session's mark is among the records a delivery reads beside the console's
/// session (see `record_console_session`): after the user.
const PHONE_MARK_READ: usize = 1;

/// Which delivery of a confirmed login a poll makes.
#[derive(Debug, Clone, Copy)]
enum Delivery {
    /// The one that swaps the scene to delivered.
    First,
    /// The same session collected again by the same poll token.
    Again,
}

/// A confirmed scene as a poll read it.
struct Confirmed<'a> {
    bytes: &'a [u8],
    record: &'a SceneRecord,
    user_id: &'a str,
    /// The phone session that confirmed, if the record names it.
    by_session: Option<&'a str>,
}

fn console_answer(access_token: String, expires_in: u64, user: &UserRecord) -> IsLoginResponse {
    IsLoginResponse::Confirmed {
        access_token,
        token_type: BEARER.to_owned(),
        expires_in,
        user: user.to_wire(),
    }
}

/// What a console is told when its confirmed login may not be delivered: a user without the
/// organizer role is the confirm of a non-organizer (`access_denied`, reason `not_organizer`).
fn refused_delivery(refusal: AuthError) -> AuthError {
    match refusal {
        AuthError::NotOrganizer => AuthError::ConfirmedByNonOrganizer,
        other => other,
    }
}

/// Resolves when a newer poll of the scene took the slot; never for a poll that holds none.
async fn superseded(slot: Option<&PollSlot<'_>>) {
    match slot {
        Some(slot) => slot.superseded().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
