//! The organizer team: who may use the console (`organizer`) and manage the team (`admin`), the
//! team index that lists them without scanning the store, and the role changes that keep at least
//! one admin. Invites are in [`super::invites`].
//!
//! The index (`store_keys::TEAM`) maps each organizer's user id to their listing: organizer, admin,
//! or removed. It is written by compare-and-swap only, so it is also where "no admin would be left"
//! is decided: see [`demote`]. The user record stays the truth for what a token may do; the index
//! follows it. Role changes list the user as their record says ([`list_as_recorded`]); logins and
//! console requests only list someone the index does not know yet ([`list_if_missing`]: organizers
//! granted before the index existed), never someone it marks removed, so a request already under
//! way for a member being removed cannot put them back.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::{Mutex, PoisonError};

use meeteasy_protocol::{ADMIN_ROLE, Audience, Claims, Member, ORGANIZER_ROLE, TeamRole, User};
use serde::{Deserialize, Serialize};

use crate::store::{Lifetime, Step, Store, outcomes};

use super::records::{self, Transition};
use super::sessions;
use super::users::{self, InviteGrant, InviteNote, UserRecord};
use super::{AuthError, AuthService, store_keys, unix_now};

/// How the index lists a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Listing {
    Organizer,
    Admin,
    /// Taken off the team: kept, so a late automatic listing cannot bring them back.
    Removed,
}

impl Listing {
    fn of(user: &UserRecord) -> Listing {
        match (user.is_organizer(), user.is_admin()) {
            (true, true) => Listing::Admin,
            (true, false) => Listing::Organizer,
            (false, _) => Listing::Removed,
        }
    }
}

/// The team index: user id -> listing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct TeamIndex {
    members: BTreeMap<String, Listing>,
}

impl TeamIndex {
    fn admins(&self) -> usize {
        self.members
            .values()
            .filter(|listing| **listing == Listing::Admin)
            .count()
    }
}

/// Who made a team change, for its log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeamActor {
    /// A user, by id (an admin in the console, or the user accepting an invite).
    User(String),
    /// The server's operator, from the command line.
    Operator,
}

impl fmt::Display for TeamActor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(id) => f.write_str(id),
            Self::Operator => f.write_str("operator"),
        }
    }
}

/// A console caller holding the role an endpoint needs.
#[derive(Debug, Clone)]
pub struct TeamCaller {
    pub claims: Claims,
    pub user: User,
    /// The caller's [`UserRecord::admin_demotions`] as authorized: what an invite it makes keeps.
    pub(super) admin_demotions: u32,
}

impl TeamCaller {
    pub fn actor(&self) -> TeamActor {
        TeamActor::User(self.claims.sub.clone())
    }
}

/// The organizers this instance has seen in the team index. An entry never leaves the index (a
/// removal marks it), so once seen a user needs no [`list_if_missing`] again: an organizer's
/// logins and team requests then cost no read and no decoding of the whole index.
#[derive(Default)]
pub(super) struct SeenListed(Mutex<HashSet<String>>);

/// How many users [`SeenListed`] remembers; past that it starts over (each user costs one read).
const SEEN_LISTED_LIMIT: usize = 10_000;

impl SeenListed {
    /// [`list_if_missing`], unless this instance already saw `user` in the index.
    pub(super) async fn list_if_missing(
        &self,
        store: &dyn Store,
        user: &UserRecord,
    ) -> Result<(), AuthError> {
        if self.lock().contains(&user.id) {
            return Ok(());
        }
        list_if_missing(store, user).await?;
        if user.is_organizer() {
            let mut seen = self.lock();
            if seen.len() >= SEEN_LISTED_LIMIT {
                seen.clear();
            }
            seen.insert(user.id.clone());
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Lists an organizer the index does not know (one read when it does). Never changes a listing,
/// so it cannot undo a removal under way: for logins and console requests.
pub(super) async fn list_if_missing(store: &dyn Store, user: &UserRecord) -> Result<(), AuthError> {
    if !user.is_organizer() {
        return Ok(());
    }
    records::update(store, store_keys::TEAM, |current: Option<&TeamIndex>| {
        if current.is_some_and(|index| index.members.contains_key(&user.id)) {
            return Ok(Transition::Keep(()));
        }
        let mut next = current.cloned().unwrap_or_default();
        next.members.insert(user.id.clone(), Listing::of(user));
        Ok(Transition::Write(next, Lifetime::Forever, ()))
    })
    .await
}

/// Lists `user` as their roles say, as [`list_as_recorded`] read them. Not for taking the last
/// admin away: that is [`demote`].
async fn set_listing(store: &dyn Store, user: &UserRecord) -> Result<(), AuthError> {
    let wanted = Listing::of(user);
    records::update(store, store_keys::TEAM, |current: Option<&TeamIndex>| {
        let listed = current.and_then(|index| index.members.get(&user.id).copied());
        if listed == Some(wanted) || (listed.is_none() && wanted == Listing::Removed) {
            return Ok(Transition::Keep(()));
        }
        let mut next = current.cloned().unwrap_or_default();
        next.members.insert(user.id.clone(), wanted);
        Ok(Transition::Write(next, Lifetime::Forever, ()))
    })
    .await
}

/// How many times [`list_as_recorded`] lists a user whose record keeps changing under it.
const LISTING_TRIES: usize = 3;

/// Lists user `user_id` as their record says now, and again should the record change meanwhile.
/// A grant and a demotion of one user running side by side each list the record as they read
/// it, so the later listing might be of the earlier record: an admin listed without the role
/// would count towards "at least one admin". Whichever of them reads the record last lists it.
pub(super) async fn list_as_recorded(store: &dyn Store, user_id: &str) -> Result<(), AuthError> {
    let mut listed = None;
    for _try in 0..LISTING_TRIES {
        let Some(user) = users::get(store, user_id).await? else {
            return Ok(());
        };
        let wanted = Listing::of(&user);
        if listed == Some(wanted) {
            return Ok(());
        }
        set_listing(store, &user).await?;
        listed = Some(wanted);
    }
    Ok(())
}

/// What a demotion takes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Demotion {
    /// `admin` only: the user stays an organizer.
    Admin,
    /// `organizer` and `admin`: the user leaves the team.
    Team,
}

/// The index after `demotion` of `user_id`, or [`AuthError::LastAdmin`] when it would hold no
/// admin while it held one before. A pure function, so the check and the write are one
/// compare-and-swap of the one index record.
fn demoted(index: &TeamIndex, user_id: &str, demotion: Demotion) -> Result<TeamIndex, AuthError> {
    let mut next = index.clone();
    match (demotion, next.members.get_mut(user_id)) {
        (Demotion::Team, Some(listing)) => *listing = Listing::Removed,
        (Demotion::Admin, Some(listing)) if *listing == Listing::Admin => {
            *listing = Listing::Organizer;
        }
        (Demotion::Admin, Some(_)) | (Demotion::Team | Demotion::Admin, None) => {}
    }
    if index.admins() > 0 && next.admins() == 0 {
        return Err(AuthError::LastAdmin);
    }
    Ok(next)
}

/// Takes `demotion`'s roles from `user_id` and, when `organizer` goes, ends their console sessions.
/// Returns the user as left (`None` for an unknown user: nothing to take) and how many sessions
/// ended.
///
/// Why two admins removing each other cannot leave none: the admin count is checked and the admin
/// taken off the index in one compare-and-swap of the one index record. Both requests may read an
/// index with two admins, but only one swap wins; the other is decided again on what the winner
/// wrote, finds the other admin the last one, and answers `last_admin` without writing. The loser's
/// own request cannot list its removed caller again meanwhile: automatic listing never touches an
/// entry marked removed. The index goes first and the user record after it; a failure between the
/// two lists the user again as their record still says, so the team page shows them for a removal
/// again (and should that listing fail too, the same request retried completes it).
pub(super) async fn demote(
    store: &dyn Store,
    user_id: &str,
    demotion: Demotion,
) -> Result<(Option<UserRecord>, u64), AuthError> {
    let Some(user) = users::get(store, user_id).await? else {
        return Ok((None, 0));
    };
    // A user the index missed (granted before it existed) is listed first, so the count is right.
    list_if_missing(store, &user).await?;
    records::update(store, store_keys::TEAM, |current: Option<&TeamIndex>| {
        let stored = current.cloned().unwrap_or_default();
        // An admin whose record says so while the index lists an organizer (the listing after a
        // grant failed) is counted as the admin they are, so the last admin cannot be removed
        // through the stale listing; the index is mended on the way.
        let mut index = stored.clone();
        if user.is_admin()
            && let Some(listing) = index.members.get_mut(user_id)
            && *listing == Listing::Organizer
        {
            *listing = Listing::Admin;
        }
        let next = demoted(&index, user_id, demotion)?;
        Ok(if next == stored {
            Transition::Keep(())
        } else {
            Transition::Write(next, Lifetime::Forever, ())
        })
    })
    .await?;
    let demoted = take_roles(store, user_id, demotion).await;
    // The index follows the record as it is now, whatever failed on the way: a promotion (an
    // invite accepted) that ran between the writes listed the user as it read them, and a
    // removal that failed before the role was taken lists the member again, for the admin to
    // remove once more.
    let listed = list_as_recorded(store, user_id).await;
    let demoted = demoted?;
    listed?;
    Ok((Some(demoted.0), demoted.1))
}

/// Takes the roles `demotion` takes from `user_id`'s record and, for a removal from the team, ends
/// their console sessions: before the write, so a failure to end them leaves the role (and the
/// listing) for a removal again, and after it, for a session opened in between.
async fn take_roles(
    store: &dyn Store,
    user_id: &str,
    demotion: Demotion,
) -> Result<(UserRecord, u64), AuthError> {
    let end_console_sessions = || async {
        match demotion {
            Demotion::Team => {
                sessions::end_user_sessions(store, user_id, &[Audience::Console]).await
            }
            Demotion::Admin => Ok(0),
        }
    };
    let ended_before = end_console_sessions().await?;
    let taken: &[&str] = match demotion {
        Demotion::Admin => &[ADMIN_ROLE],
        Demotion::Team => &[ORGANIZER_ROLE, ADMIN_ROLE],
    };
    // Counted in the same write that takes the role: the invites the admin made stop standing for
    // good (see `invites::standing_inviter`), whatever happens to this request afterwards.
    let user = users::update(store, user_id, |record| {
        if record.is_admin() {
            record.admin_demotions = record.admin_demotions.saturating_add(1);
        }
        record.roles.retain(|role| !taken.contains(&role.as_str()));
    })
    .await?;
    let ended_after = end_console_sessions().await?;
    Ok((user, ended_before + ended_after))
}

/// Gives `role` (an admin is an organizer too) for the invite `note` names (see
/// [`users::grant_by_invite`]), and lists the user in the index as their record is now, so an
/// accept again also lists a member whose listing failed the first time, and a removal that ran
/// beside it stands.
pub(super) async fn promote(
    store: &dyn Store,
    user_id: &str,
    role: TeamRole,
    note: &InviteNote<'_>,
) -> Result<InviteGrant, AuthError> {
    let grant = users::grant_by_invite(store, user_id, role, note).await?;
    list_as_recorded(store, user_id).await?;
    Ok(grant)
}

/// Every organizer the index lists, as the team page shows them (the user record decides: one
/// the index lists but who lost the role meanwhile is left out).
pub(super) async fn members(store: &dyn Store) -> Result<Vec<Member>, AuthError> {
    let index: TeamIndex = records::load(store, store_keys::TEAM)
        .await?
        .unwrap_or_default();
    let mut members = Vec::with_capacity(index.members.len());
    for user_id in index.members.keys() {
        let Some(user) = users::get(store, user_id).await? else {
            continue;
        };
        if !user.is_organizer() {
            continue;
        }
        members.push(Member {
            methods: user.methods(),
            last_login_at: last_login(store, user_id).await?,
            user: user.to_wire(),
        });
    }
    members.sort_by(|a, b| {
        (&a.user.display_name, &a.user.id).cmp(&(&b.user.display_name, &b.user.id))
    });
    Ok(members)
}

/// A login noted as its user's last (see [`note_login`]): what the note held before, so a login
/// refused after all can take its note back.
pub(super) struct LoginNote {
    user_id: String,
    previous: Option<Vec<u8>>,
    written: Vec<u8>,
}

/// Notes a login as its user's last, in the round trip (and on the embedded store the commit)
/// that opens its session, before the login is known to stand: one batch that reads the note it
/// replaces and writes its own.
pub(super) async fn note_login(store: &dyn Store, user_id: &str) -> Result<LoginNote, AuthError> {
    let key = store_keys::last_login(user_id);
    let written = unix_now().to_string().into_bytes();
    let steps = [
        Step::Get(&key),
        Step::Put {
            key: &key,
            value: &written,
            lifetime: Lifetime::Forever,
        },
    ];
    let [previous, _put] = outcomes(store.batch(&steps).await?)?;
    Ok(LoginNote {
        user_id: user_id.to_owned(),
        previous: previous.into_read()?,
        written,
    })
}

/// Puts back the note a refused login replaced, unless another login noted itself since. (Two
/// logins of one user noted in the same second write the same note: the refused one's taking
/// back may then take the other's, a second's worth of the team list's last login.) Best effort:
/// a note is no session, and the refusal stands whatever happens here.
pub(super) async fn take_back(store: &dyn Store, note: &LoginNote) {
    let key = store_keys::last_login(&note.user_id);
    let taken_back = match &note.previous {
        Some(previous) => {
            store
                .compare_and_swap(&key, &note.written, previous, Lifetime::Forever)
                .await
        }
        None => store.compare_and_delete(&key, &note.written).await,
    };
    if let Err(error) = taken_back {
        tracing::warn!(%error, "cannot take back a refused login's last-login note");
    }
}

pub(super) async fn last_login(store: &dyn Store, user_id: &str) -> Result<Option<u64>, AuthError> {
    Ok(store
        .get(&store_keys::last_login(user_id))
        .await?
        .and_then(|bytes| String::from_utf8_lossy(&bytes).parse().ok()))
}

impl AuthService {
    /// A console token (`aud` = `console`) of a user holding `role`: 401 for a bad token or another
    /// audience, 403 `forbidden` for a user without the role.
    pub async fn authorize(&self, token: &str, role: TeamRole) -> Result<TeamCaller, AuthError> {
        let claims = self.verify_console(token).await?;
        let user = self.user(&claims.sub).await?;
        if !user.has_team_role(role) {
            return Err(AuthError::Forbidden(match role {
                TeamRole::Organizer => "this needs the organizer role",
                TeamRole::Admin => "this needs the admin role",
            }));
        }
        self.seen_listed
            .list_if_missing(self.store.as_ref(), &user)
            .await?;
        Ok(TeamCaller {
            claims,
            user: user.to_wire(),
            admin_demotions: user.admin_demotions,
        })
    }

    /// Like [`AuthService::verify`], for endpoints only the console may call.
    pub async fn verify_console(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = self.verify(token).await?;
        match claims.aud {
            Audience::Console => Ok(claims),
            Audience::H5 | Audience::Miniprogram => Err(AuthError::InvalidToken(
                "this endpoint needs a console token",
            )),
        }
    }

    /// `GET /auth/team`.
    pub async fn team(&self, _caller: &TeamCaller) -> Result<Vec<Member>, AuthError> {
        members(self.store.as_ref()).await
    }

    /// `DELETE /auth/team/{user_id}`: takes `organizer` and `admin` and ends the console sessions.
    pub async fn remove_member(&self, caller: &TeamCaller, user_id: &str) -> Result<(), AuthError> {
        let (user, ended) = demote(self.store.as_ref(), user_id, Demotion::Team).await?;
        if user.is_some() {
            tracing::info!(
                team_event = "member_removed",
                actor = %caller.actor(),
                user = %user_id,
                console_sessions_ended = ended,
                "team change"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::test_support::{
        Calls, Fault, FaultyStore, TestService, invite_note, organizer,
    };
    use super::*;

    #[tokio::test]
    async fn an_organizer_seen_in_the_index_costs_no_read_of_it_again() {
        let store = FaultyStore::new();
        let seen = SeenListed::default();
        let bob = organizer(store.as_ref(), "bob").await;
        seen.list_if_missing(store.as_ref(), &bob).await.unwrap();
        // The index cannot be read now: only a call that reads it fails.
        store.fail_next(Calls::Read, store_keys::TEAM, Fault::FailBefore);
        seen.list_if_missing(store.as_ref(), &bob).await.unwrap();
        let ann = organizer(store.as_ref(), "ann").await;
        assert!(seen.list_if_missing(store.as_ref(), &ann).await.is_err());
        assert!(store.all_faults_hit());
        seen.list_if_missing(store.as_ref(), &ann).await.unwrap();
        let listed = records::load::<TeamIndex>(store.as_ref(), store_keys::TEAM)
            .await
            .unwrap()
            .unwrap();
        assert!(listed.members.contains_key(&bob.id) && listed.members.contains_key(&ann.id));
    }

    use Listing::{Admin as A, Organizer as O, Removed as R};

    fn index(members: &[(&str, Listing)]) -> TeamIndex {
        TeamIndex {
            members: members
                .iter()
                .map(|(id, listing)| ((*id).to_owned(), *listing))
                .collect(),
        }
    }

    #[test]
    fn the_last_admin_cannot_be_removed_or_demoted() {
        let one = index(&[("a", A), ("o", O)]);
        assert!(matches!(
            demoted(&one, "a", Demotion::Team),
            Err(AuthError::LastAdmin)
        ));
        assert!(matches!(
            demoted(&one, "a", Demotion::Admin),
            Err(AuthError::LastAdmin)
        ));
        assert_eq!(
            demoted(&one, "o", Demotion::Team).unwrap(),
            index(&[("a", A), ("o", R)])
        );
    }

    #[test]
    fn with_two_admins_either_may_go_but_not_both() {
        let two = index(&[("a", A), ("b", A)]);
        let after_a = demoted(&two, "a", Demotion::Team).unwrap();
        assert_eq!(after_a, index(&[("a", R), ("b", A)]));
        assert!(matches!(
            demoted(&after_a, "b", Demotion::Team),
            Err(AuthError::LastAdmin)
        ));
        assert_eq!(
            demoted(&two, "b", Demotion::Admin).unwrap(),
            index(&[("a", A), ("b", O)])
        );
    }

    #[test]
    fn a_team_without_admins_may_still_lose_organizers() {
        let none = index(&[("o", O), ("p", O)]);
        assert_eq!(
            demoted(&none, "o", Demotion::Team).unwrap(),
            index(&[("o", R), ("p", O)])
        );
        assert_eq!(demoted(&none, "x", Demotion::Team).unwrap(), none);
    }

    /// Ann, an admin by an invite, and Bob, an organizer.
    async fn ann_admin_and_bob(store: &dyn Store) -> (UserRecord, UserRecord) {
        let ann = organizer(store, "ann").await;
        promote(store, &ann.id, TeamRole::Admin, &invite_note("i1"))
            .await
            .unwrap();
        (ann, organizer(store, "bob").await)
    }

    #[tokio::test]
    async fn automatic_listing_never_brings_a_removed_member_back() {
        let store = FaultyStore::new();
        let store = store.as_ref();
        let (ann, bob) = ann_admin_and_bob(store).await;
        let promoted = promote(store, &bob.id, TeamRole::Admin, &invite_note("i2")).await;
        let InviteGrant::Given(bob) = promoted.unwrap() else {
            panic!("bob is promoted");
        };
        demote(store, &bob.id, Demotion::Team).await.unwrap();
        // A request of Bob's, begun while his record still said admin, lists him again.
        list_if_missing(store, &bob).await.unwrap();
        assert!(matches!(
            demote(store, &ann.id, Demotion::Team).await,
            Err(AuthError::LastAdmin)
        ));
        let listed: Vec<String> = members(store)
            .await
            .unwrap()
            .into_iter()
            .map(|member| member.user.display_name)
            .collect();
        assert_eq!(listed, ["ann"]);
    }

    /// Ann's grant of admin wrote her record but not her listing (the index still says organizer):
    /// she is the team's one admin all the same, and may not be removed.
    #[tokio::test]
    async fn an_admin_listed_as_an_organizer_is_still_the_last_admin() {
        let faulty = FaultyStore::new();
        let store = faulty.as_ref();
        let ann = organizer(store, "ann").await;
        list_if_missing(store, &ann).await.unwrap();
        users::update(store, &ann.id, |record| {
            record.roles.push(ADMIN_ROLE.into())
        })
        .await
        .unwrap();
        let listed = records::load::<TeamIndex>(store, store_keys::TEAM).await;
        assert_eq!(
            listed.unwrap().unwrap().admins(),
            0,
            "the listing did not follow"
        );

        let removed = demote(store, &ann.id, Demotion::Team).await;
        assert!(matches!(removed, Err(AuthError::LastAdmin)), "{removed:?}");
        let demoted = demote(store, &ann.id, Demotion::Admin).await;
        assert!(matches!(demoted, Err(AuthError::LastAdmin)), "{demoted:?}");
    }

    /// Ann, an admin, and Bob, an organizer, on a service over `faulty`, with a console session of
    /// Bob's: the service (kept for the test's length), Bob, and the session's id.
    async fn bob_with_a_console_session(
        faulty: &Arc<FaultyStore>,
    ) -> (TestService, UserRecord, String) {
        use super::super::service::SessionUser;
        use super::super::test_support::{console_password_login, service_on, settings};
        let service = service_on(faulty.clone(), settings(|_| {})).await;
        let (_ann, bob) = ann_admin_and_bob(faulty.as_ref()).await;
        let opened = service.open_session(SessionUser::Known(&bob), console_password_login());
        let token = opened.await.unwrap().response.access_token;
        let sid = service.verify(&token).await.unwrap().sid;
        (service, bob, sid)
    }

    /// A removal whose write of the member's record lost its reply (the role may be gone, and
    /// with it the member from the team list) still ends their console sessions.
    #[tokio::test]
    async fn a_removal_whose_record_write_lost_its_reply_still_ends_the_console_sessions() {
        let faulty = FaultyStore::new();
        let store = faulty.as_ref();
        let (_service, bob, sid) = bob_with_a_console_session(&faulty).await;
        faulty.fail_next(Calls::Write, &store_keys::user(&bob.id), Fault::FailAfter);

        let removed = demote(store, &bob.id, Demotion::Team).await;
        assert!(removed.is_err(), "the store's failure is told: {removed:?}");
        assert!(faulty.all_faults_hit());
        let ended = sessions::is_revoked(store, &bob.id, &sid).await.unwrap();
        assert!(ended, "bob's console session lives on");
    }

    /// A removal that could not end the member's console sessions (the store failed) takes
    /// nothing: the member stays listed, with the role, for the admin to remove again, rather than
    /// drop off the team page while their consoles stay logged in.
    #[tokio::test]
    async fn a_removal_that_cannot_end_the_sessions_leaves_the_member_listed_for_another_try() {
        let faulty = FaultyStore::new();
        let store = faulty.as_ref();
        let (_service, bob, sid) = bob_with_a_console_session(&faulty).await;
        list_if_missing(store, &bob).await.unwrap();
        let names = |members: Vec<Member>| -> Vec<String> {
            members.into_iter().map(|m| m.user.display_name).collect()
        };
        faulty.fail_next(
            Calls::Read,
            &store_keys::user_sessions(&bob.id),
            Fault::FailBefore,
        );

        let removed = demote(store, &bob.id, Demotion::Team).await;
        assert!(removed.is_err(), "the store's failure is told: {removed:?}");
        assert!(faulty.all_faults_hit());
        assert_eq!(names(members(store).await.unwrap()), ["ann", "bob"]);

        demote(store, &bob.id, Demotion::Team)
            .await
            .expect("removed again");
        assert_eq!(names(members(store).await.unwrap()), ["ann"]);
        let ended = sessions::is_revoked(store, &bob.id, &sid).await.unwrap();
        assert!(ended, "bob's console session lives on");
    }

    /// Bob is taken off the team while his promotion lists him, between its grant and its
    /// listing: the index follows his record (removed), so it does not count him as an admin
    /// and Ann, the one admin left, may not be removed.
    #[tokio::test]
    async fn a_removal_beside_a_promotion_stands_in_the_index() {
        let faulty = FaultyStore::new();
        let store = faulty.as_ref();
        let (ann, bob) = ann_admin_and_bob(store).await;
        let bob_removed = {
            let (faulty, bob) = (faulty.clone(), bob.id.clone());
            async move {
                let removed = demote(faulty.as_ref(), &bob, Demotion::Team).await;
                removed.expect("bob is taken off the team");
            }
        };
        faulty.before_next(Calls::Write, store_keys::TEAM, Box::pin(bob_removed));

        promote(store, &bob.id, TeamRole::Admin, &invite_note("i2"))
            .await
            .unwrap();
        assert!(
            faulty.all_faults_hit(),
            "bob was removed during his promotion"
        );
        let last = demote(store, &ann.id, Demotion::Team).await;
        assert!(matches!(last, Err(AuthError::LastAdmin)), "{last:?}");
    }
}
