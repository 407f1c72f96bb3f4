//! Sessions: every token's `sid` names one. The store keeps a record per session (who, from where,
//! which client, how, derived from which session) and an index of each user's sessions; both
//! expire with the sessions they hold, so nothing grows for ever and nothing is swept by hand.
//!
//! Where revocation's cost goes: to revoke time. Ending a session reads its user's sessions (the
//! index, then the records it lists in one batch), ends the ones derived from it at any depth, then
//! the session itself, and reads again for any derived meanwhile; token verification reads one
//! marker, its own, whatever the depth. A session derives only from a session of the same user, so
//! the user's index lists every descendant, and opening one writes no index of its parent's. The
//! race with a session being derived at that moment is closed by order: revoke reads for
//! children again after marking their parent (until a reading finds none it has not marked), and
//! deriving writes the child's record and index line before checking the parent's mark, so one of
//! the two always sees the other.

mod index;

use std::collections::HashSet;
use std::time::Duration;

use meeteasy_protocol::{Audience, Claims, Session};
use serde::{Deserialize, Serialize};

use crate::store::{Lifetime, Outcome, Step, Store, StoreError, outcomes};

use self::index::{IndexBound, IndexEntry};
use super::records::{self, Transition};
use super::secrets::is_token_shaped;
use super::{AuthError, store_keys, unix_now};

/// `last_seen_at` is kept to within this; a session is written at most once per this period.
pub const LAST_SEEN_PRECISION: Duration = Duration::from_secs(60);

/// Live sessions one user keeps, derived ones included (see [`index`]). Past the bound the most
/// numerous kind of session gives up its oldest (see [`index::evict_oldest`]), so a token minting
/// tickets in a loop cannot grow it, a run of console logins does not end the phone that confirms
/// them, and an ended session cannot escape "log out everywhere" by having fallen out of its index.
pub const MAX_SESSIONS_PER_USER: usize = 100;
/// How long a revocation mark outlives the end it was given: the end an index line or a record
/// holds can be a second short of a token's (two callers racing on one session made their claims
/// a second apart) or come from an instance whose clock runs ahead, and a revoked token must not
/// verify again in its last moments.
const MARK_OUTLIVES_END: u64 = 300;
/// Past this many live sessions derived from one parent, a user at [`MAX_SESSIONS_PER_USER`] makes
/// room for the next from that parent's oldest: a token that mints ticket after ticket ends its
/// own older H5 sessions, not the user's sessions on other devices. (A chain, each new token
/// minting the next ticket, keeps its ancestors and makes room from everything else; no worse
/// than revoke-others, which any token of the user's may call.)
const MAX_DERIVED_PER_SESSION: usize = 50;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionRecord {
    pub user_id: String,
    pub client: Audience,
    pub device_name: Option<String>,
    pub ip: String,
    pub created_at: u64,
    pub last_seen_at: u64,
    pub methods: Vec<String>,
    /// The session whose token opened this one (through a login ticket).
    pub parent: Option<String>,
    pub expires_at: u64,
}

/// The session a new one is derived from: it may not outlive it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentSession {
    pub sid: String,
    pub expires_at: u64,
}

impl ParentSession {
    pub fn of(claims: &Claims) -> ParentSession {
        ParentSession {
            sid: claims.sid.clone(),
            expires_at: claims.exp,
        }
    }
}

/// A compare-and-swap made in the batch that writes a session (one commit on the embedded store,
/// not two in a row): a scene's delivery moving the scene on.
pub struct Condition {
    pub key: String,
    /// The record the swap replaces.
    pub expected: Vec<u8>,
    pub new: Vec<u8>,
    pub lifetime: Lifetime,
}

/// Which of the callers opening one session may hand out its token. Callers that race name the
/// session alike, so they all write that one session, never one of their own.
#[derive(Clone, Copy)]
pub enum Claim<'a> {
    /// Any caller: the session's id is new (a login's own).
    Any,
    /// Any caller of a session handed out before (a delivery collected again): nothing to claim,
    /// but it may have ended since, which its own mark, read in the batch, tells.
    Again,
    /// The one whose insert of the session's record is made: a login ticket names the session it
    /// opens, so the record is the ticket's redeem, and no mark of its own is written.
    FirstRecord,
    /// The one whose [`Condition`] is met: a scene's delivery.
    Swap(&'a Condition),
}

/// A session [`open`] wrote.
#[derive(Debug)]
pub struct Opened {
    /// `false` when the [`Claim`] was another caller's (its write came first, and the session is
    /// that caller's to hand out), or when the session was revoked as it was opened.
    pub made: bool,
    /// The records the caller asked to read beside the session, as the same batch read them, one
    /// answer per key asked for, in that order.
    pub beside: Vec<Option<Vec<u8>>>,
}

/// Records the session `sid` in one batch (one round trip): its record, its line appended to its
/// user's index, the swap of a [`Claim::Swap`], then reads of the parent's mark, of the session's
/// own mark if the claim is contested, and of the records under `read_beside` (the user, for a
/// session that depends on who they are now; the mark of the phone session whose confirm a
/// delivery carries out), in that order. The parent's mark is read only
/// after this session's record and line are written (see the module's first lines), so a parent
/// revoked meanwhile takes the new session with it: the caller gets
/// [`AuthError::TicketExpired`]. An index the append took past its bound is compacted after (see
/// [`compact`]), never ending a session the new one derives from. The record is inserted, not
/// put: of callers racing on one session, the first one's stays, but for a delivery's, which
/// takes over an older record (see [`take_over_record`]; a round trip more, then).
pub async fn open(
    store: &dyn Store,
    sid: &str,
    record: &SessionRecord,
    claim: Claim<'_>,
    read_beside: &[&str],
) -> Result<Opened, AuthError> {
    let entry = IndexEntry {
        sid: sid.to_owned(),
        expires_at: record.expires_at,
        client: Some(record.client),
    };
    let line = entry.line()?;
    let lifetime = Lifetime::Until(record.expires_at);
    let user_index = store_keys::user_sessions(&record.user_id);
    let parent_mark = (record.parent.as_deref())
        .map(|parent| store_keys::revoked_session(&record.user_id, parent));

    let record_bytes = records::encode(record)?;
    let session_key = store_keys::session(&record.user_id, sid);
    // Inserted, not put: of callers racing on one session (a ticket redeemed twice at once), the
    // first one's record stays, so a loser's device, address and end never replace the winner's;
    // for a ticket, whether this insert was made is whether this caller redeemed it. A delivery
    // is the exception: its winner is the swap's, and it takes an older record over below.
    let mut steps = vec![
        Step::InsertNew {
            key: &session_key,
            value: &record_bytes,
            lifetime,
        },
        Step::Append {
            key: &user_index,
            value: &line,
            lifetime,
        },
    ];
    if let Claim::Swap(condition) = claim {
        steps.push(Step::CompareAndSwap {
            key: &condition.key,
            expected: &condition.expected,
            new: &condition.new,
            lifetime: condition.lifetime,
        });
    }
    steps.extend(parent_mark.as_deref().map(Step::Get));
    // A contested session has an id its callers share (a ticket's, a delivery's), so a caller that
    // comes late (a spent ticket replayed) writes it again, even after it was revoked and its
    // record taken: its own mark says so.
    let contested = !matches!(claim, Claim::Any);
    let own_mark = contested.then(|| store_keys::revoked_session(&record.user_id, sid));
    steps.extend(own_mark.as_deref().map(Step::Get));
    steps.extend(read_beside.iter().map(|key| Step::Get(key)));

    let mut outcomes = batch(store, &steps).await?;
    let inserted = outcomes
        .first()
        .map_or(Ok(false), |insert| insert.written())?;
    let mut last = || {
        outcomes
            .pop()
            .ok_or_else(|| StoreError::Corrupt("a batch answered too few steps".to_owned()))
    };
    let mut beside = Vec::with_capacity(read_beside.len());
    for _ in read_beside {
        beside.push(last()?.into_read()?);
    }
    // Popped from the end: put back in the order asked for.
    beside.reverse();
    let revoked = match own_mark {
        Some(_) => last()?.into_read()?.is_some(),
        None => false,
    };
    let parent_revoked = match parent_mark {
        Some(_) => last()?.into_read()?.is_some(),
        None => false,
    };
    let made = match claim {
        Claim::Any | Claim::Again => true,
        Claim::FirstRecord => inserted,
        Claim::Swap(_) => last()?.written()?,
    };

    // Even a preempted caller's append may have pushed entries out: they end all the same.
    let appended = outcomes.get(1).map_or(Ok(0), Outcome::length)?;
    if index::overflows(MAX_SESSIONS_PER_USER, appended) {
        // The session is open whatever happens here (failing now would lose a ticket already
        // used, a login already delivered), and nothing leaves an index before it ends: an index
        // left long is compacted by the next session past its bound.
        let parent = record.parent.as_deref();
        if let Err(error) = make_room(store, &record.user_id, &user_index, &entry, parent).await {
            tracing::warn!(%error, index = %user_index, "compacting a session index failed; the next session opened past its bound compacts it");
        }
    }
    // A session revoked before (a spent ticket replayed after its minting session ended, which
    // ended it too) only has its record taken back below.
    if made && parent_revoked && !revoked {
        revoke_with_descendants(store, &record.user_id, sid, record.expires_at).await?;
        // The ticket that would open it ended with the session that minted it.
        return Err(AuthError::TicketExpired);
    }
    if revoked {
        // A revoked session keeps no record: whoever wrote this one back, it goes. Should that
        // fail, the record ends when the session did (its callers give it the same end) and the
        // mark, which outlives that, keeps it out of the list meanwhile.
        if let Err(error) = store.take(&session_key).await {
            tracing::warn!(%error, "a revoked session's record was not taken back; it ends by itself");
        }
    }
    if made && !revoked && !inserted && matches!(claim, Claim::Swap(_) | Claim::Again) {
        take_over_record(store, &session_key, record).await;
    }
    // Revoked while it was being opened ("log out everywhere" meanwhile): not handed out.
    Ok(Opened {
        made: made && !revoked,
        beside,
    })
}

/// Makes the session's record at `key` the one of the token a delivery hands out, `record`, when
/// the delivery's swap was made (or it is the delivered session, collected again) but not its
/// insert: another poll of the same confirm inserted the record first, and its swap failed or
/// lost to this one's, so that record may have the other poll's earlier times, for a token nobody
/// was given. Left as it was, the session would end by its record before its token does (out of
/// the list and of "log out everywhere"), and be seen before its token was made. A record of the
/// same start (this very delivery's, or one moved on since by a verification) is kept; one gone
/// meanwhile (the session revoked) stays gone. Best effort: the login stands either way.
async fn take_over_record(store: &dyn Store, key: &str, record: &SessionRecord) {
    let taken_over = records::update(store, key, |current: Option<&SessionRecord>| {
        Ok(match current {
            Some(earlier) if earlier.created_at < record.created_at => {
                Transition::Write(record.clone(), Lifetime::Until(record.expires_at), ())
            }
            Some(_) | None => Transition::Keep(()),
        })
    })
    .await;
    if let Err(error) = taken_over {
        tracing::warn!(%error, "a delivered session keeps the record of an earlier, failed delivery");
    }
}

/// Compacts the user's index at `key`, which holds more than [`MAX_SESSIONS_PER_USER`] lines, for
/// `opened`; `parent` and the sessions it derives from stay, and past [`MAX_DERIVED_PER_SESSION`]
/// sessions derived from `parent` those make room first, read only now that they may be needed.
async fn make_room(
    store: &dyn Store,
    user_id: &str,
    key: &str,
    opened: &IndexEntry,
    parent: Option<&str>,
) -> Result<(), StoreError> {
    let (keep, siblings, live) = match parent {
        Some(parent) => {
            let live = live_records(store, user_id).await?;
            let derived = live
                .iter()
                .filter(|(_, r)| r.parent.as_deref() == Some(parent));
            let siblings: Vec<String> = derived.map(|(sid, _)| sid.clone()).collect();
            (chain_from(&live, parent), siblings, Some(live))
        }
        None => (Vec::new(), Vec::new(), None),
    };
    let crowded = siblings.len() > MAX_DERIVED_PER_SESSION;
    compact(
        store,
        user_id,
        key,
        opened,
        IndexBound {
            live: MAX_SESSIONS_PER_USER,
            keep: &keep,
            first: if crowded { &siblings } else { &[] },
        },
        live,
    )
    .await
}

/// Compacts the index at `key` (see [`index::compaction`]). The sessions it lets go of are ended
/// before their lines leave it, so nothing that stops this half-way (an error, a cancelled
/// request) leaves a live session that "log out everywhere" cannot find; a swap lost to a session
/// added meanwhile compacts again from a fresh read, and what was ended stays ended. `live` is the
/// caller's reading of the user's sessions, if it made one: the first eviction starts from it
/// (the revocation reads again until nothing new turns up).
async fn compact(
    store: &dyn Store,
    user_id: &str,
    key: &str,
    opened: &IndexEntry,
    bound: IndexBound<'_>,
    mut live: Option<Vec<(String, SessionRecord)>>,
) -> Result<(), StoreError> {
    loop {
        let Some(current) = store.get(key).await? else {
            return Ok(());
        };
        let Some(compaction) = index::compaction(key, &current, opened, bound, unix_now())? else {
            return Ok(());
        };
        if !compaction.evicted.is_empty() {
            let evicted = compaction.evicted.iter();
            let evicted = evicted.map(|oldest| (oldest.sid.clone(), oldest.expires_at));
            let live = match live.take() {
                Some(live) => live,
                None => live_records(store, user_id).await?,
            };
            revoke_trees(store, user_id, &live, evicted.collect()).await?;
        }
        let (compacted, lifetime) = (&compaction.compacted, compaction.lifetime);
        if store
            .compare_and_swap(key, &current, compacted, lifetime)
            .await?
        {
            return Ok(());
        }
    }
}

pub async fn is_revoked(store: &dyn Store, user_id: &str, sid: &str) -> Result<bool, StoreError> {
    Ok(store
        .get(&store_keys::revoked_session(user_id, sid))
        .await?
        .is_some())
}

pub async fn get(
    store: &dyn Store,
    user_id: &str,
    sid: &str,
) -> Result<Option<SessionRecord>, StoreError> {
    if !is_token_shaped(sid) {
        return Ok(None);
    }
    Ok(
        records::load::<SessionRecord>(store, &store_keys::session(user_id, sid))
            .await?
            .filter(|record| record.expires_at > unix_now()),
    )
}

/// Ends `sid`, a session of `user_id` valid until `expires_at`, and every session derived from
/// it, at any depth. Returns how many live sessions ended, itself included (one ended before is
/// marked again, not counted).
pub async fn revoke_with_descendants(
    store: &dyn Store,
    user_id: &str,
    sid: &str,
    expires_at: u64,
) -> Result<u64, StoreError> {
    let live = live_records(store, user_id).await?;
    revoke_trees(store, user_id, &live, vec![(sid.to_owned(), expires_at)]).await
}

/// Ends `roots` (sessions of `user_id`, each with its end) and every session derived from them, at
/// any depth; returns how many live sessions ended. What derives from the roots in `live` (a reading
/// of the user's sessions, see [`live_records`]) is ended first and the roots last, so a walk stopped before a root's mark (a store error, a dropped request) leaves
/// that root's token valid to ask again with. After the roots' marks it reads the user's
/// sessions again, and ends the live ones derived from a marked session (by this walk or another),
/// until a reading finds none: a session derived from a root while the walk ran has seen no mark
/// itself (see the module's first lines).
async fn revoke_trees(
    store: &dyn Store,
    user_id: &str,
    live: &[(String, SessionRecord)],
    roots: Vec<(String, u64)>,
) -> Result<u64, StoreError> {
    if roots.is_empty() {
        return Ok(0);
    }
    let root_ids: HashSet<String> = roots.iter().map(|(sid, _)| sid.clone()).collect();
    let below = derived_from(live, &root_ids);
    let mut marked = HashSet::new();
    let mut ended = end_each(store, user_id, below, &mut marked).await?;
    ended += end_each(store, user_id, roots, &mut marked).await?;
    loop {
        let live = live_records(store, user_id).await?;
        let mut revoked = ended_elsewhere(store, user_id, &live, &marked).await?;
        revoked.extend(marked.iter().cloned());
        let found = derived_from(&live, &revoked);
        if found.is_empty() {
            return Ok(ended);
        }
        ended += end_each(store, user_id, found, &mut marked).await?;
    }
}

/// Marks the session `sid` of `user_id`, valid until `expires_at`, ended, and nothing more: a
/// caller that must make an ending stick before the walk of [`revoke_with_descendants`] (which
/// reads first, and may fail there) marks it first.
pub async fn mark_ended(
    store: &dyn Store,
    user_id: &str,
    sid: &str,
    expires_at: u64,
) -> Result<(), StoreError> {
    let mark = store_keys::revoked_session(user_id, sid);
    let mark_lifetime = Lifetime::Until(expires_at.saturating_add(MARK_OUTLIVES_END));
    let ended_at = unix_now().to_string();
    store.put(&mark, ended_at.as_bytes(), mark_lifetime).await
}

/// Marks each of `sessions` (of `user_id`, each with its end) revoked and takes its record;
/// returns how many had a record (one ended before is marked again, not counted).
async fn end_each(
    store: &dyn Store,
    user_id: &str,
    sessions: Vec<(String, u64)>,
    marked: &mut HashSet<String>,
) -> Result<u64, StoreError> {
    let mut ended = 0;
    for (sid, expires_at) in sessions {
        // The walk reads the user's sessions again after every mark: see the module's first lines.
        mark_ended(store, user_id, &sid, expires_at).await?;
        if store
            .take(&store_keys::session(user_id, &sid))
            .await?
            .is_some()
        {
            ended += 1;
        }
        marked.insert(sid);
    }
    Ok(ended)
}

/// When the session whose revocation mark holds `mark` ended (Unix seconds): marks hold it since
/// this build; one from before (`1`), or one that is not a time, reads as long ago.
pub fn ended_at(mark: &[u8]) -> u64 {
    std::str::from_utf8(mark)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(0)
}

/// The `live` sessions, not in `revoked`, derived at any depth from one that is, each with its end.
fn derived_from(live: &[(String, SessionRecord)], revoked: &HashSet<String>) -> Vec<(String, u64)> {
    let mut reached: HashSet<&str> = HashSet::new();
    let mut found = Vec::new();
    loop {
        let reached_before = reached.len();
        for (sid, record) in live {
            let Some(parent) = record.parent.as_deref() else {
                continue;
            };
            let below_revoked = revoked.contains(parent) || reached.contains(parent);
            if below_revoked && !revoked.contains(sid) && reached.insert(sid) {
                found.push((sid.clone(), record.expires_at));
            }
        }
        if reached.len() == reached_before {
            return found;
        }
    }
}

/// The parents of `live` sessions that carry a revocation mark though this walk did not mark
/// them: ended by another walk, which may have stopped before it reached their children (a store
/// error, a dropped request) or not reached them yet. Their children end in this walk: a session
/// never outlives its parent's end, whichever walk finds it.
async fn ended_elsewhere(
    store: &dyn Store,
    user_id: &str,
    live: &[(String, SessionRecord)],
    marked: &HashSet<String>,
) -> Result<HashSet<String>, StoreError> {
    let parents: HashSet<&str> = live
        .iter()
        .filter_map(|(_, record)| record.parent.as_deref())
        .filter(|parent| !marked.contains(*parent))
        .collect();
    let parents: Vec<&str> = parents.into_iter().collect();
    let marks = parents
        .iter()
        .map(|parent| store_keys::revoked_session(user_id, parent));
    let marks = reads(store, &marks.collect::<Vec<_>>()).await?;
    let ended = parents
        .into_iter()
        .zip(marks)
        .filter(|(_, mark)| mark.is_some());
    Ok(ended.map(|(parent, _)| parent.to_owned()).collect())
}

/// The live sessions in `user_id`'s index, each with its record, in the index's order: the index,
/// then every record it lists in one batch (one round trip; on a Cluster the records share the
/// user's slot).
async fn live_records(
    store: &dyn Store,
    user_id: &str,
) -> Result<Vec<(String, SessionRecord)>, StoreError> {
    let now = unix_now();
    // Every listed session is read, its line's end not trusted: it can be a second short of the
    // record's (see [`MARK_OUTLIVES_END`]), and the record says whether it is live.
    let entries = index::read(store, &store_keys::user_sessions(user_id)).await?;
    let sids: Vec<String> = entries.into_iter().map(|entry| entry.sid).collect();
    let keys: Vec<String> = sids
        .iter()
        .map(|sid| store_keys::session(user_id, sid))
        .collect();
    let stored = reads(store, &keys).await?;
    let mut live = Vec::new();
    for ((sid, key), bytes) in sids.into_iter().zip(&keys).zip(stored) {
        let Some(bytes) = bytes else {
            continue;
        };
        let record: SessionRecord = records::decode(key, &bytes)?;
        if record.expires_at > now && record.user_id == user_id {
            live.push((sid, record));
        }
    }
    Ok(live)
}

/// The records at `keys`, in one batch (one round trip), one answer per key.
async fn reads(
    store: &dyn Store,
    keys: &[impl AsRef<str>],
) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
    let steps: Vec<Step> = keys.iter().map(|key| Step::Get(key.as_ref())).collect();
    let outcomes = batch(store, &steps).await?;
    outcomes.into_iter().map(Outcome::into_read).collect()
}

/// `steps` run in one batch, one outcome per step.
async fn batch(store: &dyn Store, steps: &[Step<'_>]) -> Result<Vec<Outcome>, StoreError> {
    let outcomes = store.batch(steps).await?;
    if outcomes.len() != steps.len() {
        return Err(StoreError::Corrupt(format!(
            "a batch of {} steps had {} outcomes",
            steps.len(),
            outcomes.len()
        )));
    }
    Ok(outcomes)
}

/// Ends every live session of `user_id` opened for one of `clients` (and what derives from them):
/// a role taken away takes effect at once. Returns how many sessions ended.
pub async fn end_user_sessions(
    store: &dyn Store,
    user_id: &str,
    clients: &[Audience],
) -> Result<u64, StoreError> {
    end_sessions_where(store, user_id, |record| clients.contains(&record.client)).await
}

/// Ends every live session of `user_id` that a login by `method` opened (an `amr` value, `wechat`
/// say), and what derives from them. Returns how many sessions ended.
pub async fn end_sessions_opened_by(
    store: &dyn Store,
    user_id: &str,
    method: &str,
) -> Result<u64, StoreError> {
    end_sessions_where(store, user_id, |record| {
        record.methods.iter().any(|opened_by| opened_by == method)
    })
    .await
}

/// Ends the live sessions of `user_id` that `ending` picks, and what derives from them.
async fn end_sessions_where(
    store: &dyn Store,
    user_id: &str,
    ending: impl Fn(&SessionRecord) -> bool,
) -> Result<u64, StoreError> {
    let live = live_records(store, user_id).await?;
    let roots = live.iter().filter(|(_, record)| ending(record));
    let roots = roots.map(|(sid, record)| (sid.clone(), record.expires_at));
    revoke_trees(store, user_id, &live, roots.collect()).await
}

/// Every kind of client, for ending all of a user's sessions.
pub const EVERY_CLIENT: [Audience; 3] = [Audience::Console, Audience::H5, Audience::Miniprogram];

/// The live sessions of `user_id`, newest first, `current_sid` marked: three round trips however
/// many there are (the index, the records, their revocation marks).
pub async fn list(
    store: &dyn Store,
    user_id: &str,
    current_sid: &str,
) -> Result<Vec<Session>, StoreError> {
    let live = live_records(store, user_id).await?;
    // A revoked session's record is taken with it; one written back meanwhile (see [`open`]) is
    // known by its mark.
    let marks = live
        .iter()
        .map(|(sid, _)| store_keys::revoked_session(user_id, sid));
    let revoked = reads(store, &marks.collect::<Vec<_>>()).await?;
    let mut sessions = Vec::new();
    // The index is in the order sessions were opened: that order breaks ties within a second.
    for ((opened, (sid, record)), mark) in live.into_iter().enumerate().zip(revoked) {
        if mark.is_some() {
            continue;
        }
        let session = Session {
            current: sid == current_sid,
            id: sid,
            client: record.client,
            device_name: record.device_name,
            ip: record.ip,
            created_at: record.created_at,
            last_seen_at: record.last_seen_at,
            methods: record.methods,
        };
        sessions.push((opened, session));
    }
    sessions.sort_by(|(a_opened, a), (b_opened, b)| {
        (b.created_at, b_opened).cmp(&(a.created_at, a_opened))
    });
    Ok(sessions.into_iter().map(|(_, session)| session).collect())
}

/// Ends every session of `caller`'s user but the caller's own; returns how many ended. The
/// sessions the caller's was derived from are kept: ending them would end it too.
pub async fn end_others(store: &dyn Store, caller: &Claims) -> Result<u64, StoreError> {
    let live = live_records(store, &caller.sub).await?;
    let own = live.iter().find(|(sid, _)| *sid == caller.sid);
    let parent = own.and_then(|(_, record)| record.parent.as_deref());
    let ancestors = parent.map(|parent| chain_from(&live, parent));
    let keep: HashSet<String> = (ancestors.into_iter().flatten())
        .chain([caller.sid.clone()])
        .collect();
    let others = live.iter().filter(|(sid, _)| !keep.contains(sid));
    let roots = others.map(|(sid, record)| (sid.clone(), record.expires_at));
    revoke_trees(store, &caller.sub, &live, roots.collect()).await
}

/// `parent` and the sessions it was derived from, nearest first, as the `live` sessions of its
/// user (see [`live_records`]) name them: the chain ends at a session that is not live or has no
/// parent, and at a session met twice.
fn chain_from(live: &[(String, SessionRecord)], parent: &str) -> Vec<String> {
    let mut chain: Vec<String> = Vec::new();
    let mut next = Some(parent);
    while let Some(sid) = next {
        if chain.iter().any(|in_chain| in_chain == sid) {
            break;
        }
        let record = live.iter().find(|(live_sid, _)| live_sid == sid);
        next = record.and_then(|(_, record)| record.parent.as_deref());
        chain.push(sid.to_owned());
    }
    chain
}

/// Whether `sid` is revoked, and its record as stored, in one round trip (one read transaction on
/// the embedded store): what a verification reads when it may owe the session a `last_seen_at`
/// move, which [`touch_from`] then makes from that record.
pub async fn revoked_and_record(
    store: &dyn Store,
    user_id: &str,
    sid: &str,
) -> Result<(bool, Option<Vec<u8>>), StoreError> {
    let mark = store_keys::revoked_session(user_id, sid);
    let record = store_keys::session(user_id, sid);
    let steps = [Step::Get(&mark), Step::Get(&record)];
    let [mark, record] = outcomes(store.batch(&steps).await?)?;
    Ok((mark.into_read()?.is_some(), record.into_read()?))
}

/// Moves `last_seen_at` to now when it is older than [`LAST_SEEN_PRECISION`]: at most one write per
/// session per period, however many requests and instances see it. Starts from the record as
/// `stored`, read by the caller (see [`revoked_and_record`]). Returns the session's
/// `last_seen_at` as stored afterwards (none once the session is gone), from which the next write
/// is due.
pub async fn touch_from(
    store: &dyn Store,
    user_id: &str,
    sid: &str,
    stored: Option<Vec<u8>>,
) -> Result<Option<u64>, AuthError> {
    let now = unix_now();
    records::update_from(
        store,
        &store_keys::session(user_id, sid),
        stored,
        |current: Option<&SessionRecord>| {
            Ok(match current {
                Some(record)
                    if record
                        .last_seen_at
                        .saturating_add(LAST_SEEN_PRECISION.as_secs())
                        <= now
                        && record.expires_at > now =>
                {
                    let seen = SessionRecord {
                        last_seen_at: now,
                        ..record.clone()
                    };
                    Transition::Write(seen, Lifetime::Until(record.expires_at), Some(now))
                }
                Some(record) if record.expires_at > now => {
                    Transition::Keep(Some(record.last_seen_at))
                }
                // Gone (revoked, expired, or from before sessions were kept).
                Some(_) | None => Transition::Keep(None),
            })
        },
    )
    .await
}

impl super::AuthService {
    /// `GET /auth/sessions`: the caller's live sessions, newest first.
    pub async fn sessions(&self, caller: &Claims) -> Result<Vec<Session>, AuthError> {
        Ok(list(self.store.as_ref(), &caller.sub, &caller.sid).await?)
    }

    /// `DELETE /auth/sessions/{id}`: ends one of the caller's sessions (and what derives from it).
    pub async fn end_session(&self, caller: &Claims, id: &str) -> Result<(), AuthError> {
        let record = get(self.store.as_ref(), &caller.sub, id)
            .await?
            .filter(|record| record.user_id == caller.sub)
            .ok_or(AuthError::SessionNotFound)?;
        revoke_with_descendants(self.store.as_ref(), &caller.sub, id, record.expires_at).await?;
        Ok(())
    }

    /// `POST /auth/sessions/revoke-others`: ends every session of the caller's but this one.
    pub async fn end_other_sessions(&self, caller: &Claims) -> Result<u64, AuthError> {
        Ok(end_others(self.store.as_ref(), caller).await?)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::service::{NewSession, OpenedSession, SessionUser};
    use super::super::test_support::{
        Calls, Fault, FaultyStore, TestService, console_password_login, organizer, service_on,
        settings,
    };
    use super::super::tokens;
    use super::*;

    #[test]
    fn a_mark_says_when_its_session_ended_and_an_older_one_reads_as_long_ago() {
        assert_eq!(ended_at(b"1764500000"), 1_764_500_000);
        assert_eq!(ended_at(b"1"), 1, "a mark from before this build");
        assert_eq!(ended_at(b"not a time"), 0);
    }

    #[tokio::test]
    async fn last_seen_costs_no_write_while_it_is_within_a_minute() {
        let store = FaultyStore::new();
        let service = service_on(store.clone() as Arc<dyn Store>, settings(|_| {})).await;
        let user = organizer(store.as_ref(), "jade").await;
        let opened = service
            .open_session(SessionUser::Known(&user), console_password_login())
            .await
            .unwrap();
        assert_eq!(
            store.writes_to("session:"),
            1,
            "opening writes the record once"
        );
        for _ in 0..30 {
            service.verify(&opened.response.access_token).await.unwrap();
        }
        assert_eq!(
            store.writes_to("session:"),
            1,
            "30 verifications within the minute wrote nothing more"
        );
    }

    /// One round trip per verification on a backend that batches: an instance's first one of a
    /// token over a minute old reads the session's revocation mark and its record (for the
    /// `last_seen_at` it may owe) together, a later one within the minute only the mark.
    #[tokio::test]
    async fn a_first_verification_reads_the_mark_and_the_record_in_one_round_trip() {
        let store = FaultyStore::new();
        let seen_at = unix_now() - 120;
        let (service, opened) = session_last_seen_at(&store, seen_at, seen_at).await;
        let token = &opened.response.access_token;
        let owner = &opened.response.user.id;
        let mark = store_keys::revoked_session(owner, &opened.session.sid);

        let before = store.lone_reads().len();
        service.verify(token).await.unwrap();
        let first = store.lone_reads().split_off(before);
        assert!(first.is_empty(), "read on their own: {first:?}");
        assert_eq!(
            store.writes_to("session:"),
            3,
            "read, then moved: two minutes old"
        );
        service.verify(token).await.unwrap();
        let later = store.lone_reads().split_off(before);
        assert_eq!(later, [mark], "a later verification reads the mark alone");
    }

    /// A session is recorded seen as its token is made: a token made within the minute owes no
    /// move, so its first verification, on whichever instance, reads the revocation mark alone.
    #[tokio::test]
    async fn a_token_made_within_the_minute_is_verified_on_its_mark_alone() {
        let store = FaultyStore::new();
        let opener = service_on(store.clone() as Arc<dyn Store>, settings(|_| {})).await;
        let user = organizer(store.as_ref(), "jade").await;
        let opened = opener.open_session(SessionUser::Known(&user), console_password_login());
        let opened = opened.await.unwrap();
        let mark = store_keys::revoked_session(&user.id, &opened.session.sid);
        let elsewhere = service_on(store.clone() as Arc<dyn Store>, settings(|_| {})).await;

        for instance in [&opener, &elsewhere] {
            let before = store.lone_reads().len();
            instance
                .verify(&opened.response.access_token)
                .await
                .unwrap();
            let first = store.lone_reads().split_off(before);
            assert_eq!(
                first,
                [mark.as_str()],
                "the first verification reads the mark alone"
            );
        }
    }

    /// A service on `store`, and a console session of jade's that another instance opened, with
    /// a token of it made at `issued_at`, and whose record says it was last seen at `seen_at`.
    async fn session_last_seen_at(
        store: &Arc<FaultyStore>,
        issued_at: u64,
        seen_at: u64,
    ) -> (TestService, OpenedSession) {
        let opener = service_on(store.clone() as Arc<dyn Store>, settings(|_| {})).await;
        let user = organizer(store.as_ref(), "jade").await;
        let mut opened = opener
            .open_session(SessionUser::Known(&user), console_password_login())
            .await
            .unwrap();
        let ring = opener.keys.ring();
        let token = &mut opened.response.access_token;
        let mut claims = tokens::check_signed(&ring, opener.issuer(), token)
            .unwrap()
            .claims;
        claims.iat = issued_at;
        *token = tokens::sign(&ring, &claims).unwrap();
        let key = store_keys::session(&user.id, &opened.session.sid);
        let record = records::load::<SessionRecord>(store.as_ref(), &key).await;
        let record = SessionRecord {
            created_at: issued_at,
            last_seen_at: seen_at,
            ..record.unwrap().unwrap()
        };
        let bytes = serde_json::to_vec(&record).unwrap();
        let lifetime = Lifetime::Until(record.expires_at);
        store.put(&key, &bytes, lifetime).await.unwrap();
        let service = service_on(store.clone() as Arc<dyn Store>, settings(|_| {})).await;
        (service, opened)
    }

    /// The record of the session `opened`, which must be there.
    async fn record_of(store: &dyn Store, opened: &OpenedSession) -> SessionRecord {
        let owner = &opened.response.user.id;
        let record = get(store, owner, &opened.session.sid).await.unwrap();
        record.expect("the session's record")
    }

    /// The next move is due a minute after the stored `last_seen_at`, not a minute after this
    /// instance last looked: a session last seen 58 s ago (by another instance, say) is moved as
    /// soon as that minute is over.
    #[tokio::test]
    async fn last_seen_moves_a_minute_after_the_stored_time() {
        let store = FaultyStore::new();
        let looked_at = unix_now();
        // 58 s: a second may pass before `verify` looks, and the time must still be fresh then.
        // The token is older: a first verification elsewhere moved the time since.
        let (service, opened) = session_last_seen_at(&store, looked_at - 120, looked_at - 58).await;
        let token = &opened.response.access_token;
        service.verify(token).await.unwrap();
        assert_eq!(
            store.writes_to("session:"),
            2,
            "seen 58 s ago: not moved yet"
        );
        // The condition, not a pause: two seconds on, the stored time is a minute old.
        while unix_now() < looked_at + 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        service.verify(token).await.unwrap();
        assert_eq!(store.writes_to("session:"), 3, "a minute old: moved");
        let moved = record_of(store.as_ref(), &opened).await;
        assert!(moved.last_seen_at > looked_at, "{moved:?}");
    }

    /// Moving `last_seen_at` is bookkeeping: when the store cannot make the move (or, on Redis,
    /// its replicas do not confirm it), the token still verifies.
    #[tokio::test]
    async fn a_last_seen_move_the_store_fails_fails_no_verification() {
        let store = FaultyStore::new();
        let seen_at = unix_now() - 120;
        let (service, opened) = session_last_seen_at(&store, seen_at, seen_at).await;
        let key = store_keys::session(&opened.response.user.id, &opened.session.sid);
        store.fail_next(Calls::Write, &key, Fault::FailBefore);
        let verified = service.verify(&opened.response.access_token).await;
        assert!(verified.is_ok(), "{verified:?}");
        assert!(store.all_faults_hit(), "the move was tried");
        let kept = record_of(store.as_ref(), &opened).await;
        assert_eq!(kept.last_seen_at, seen_at, "the move failed");
    }

    /// A ticket's session lives from the ticket's minting, so every exchange of one ticket gives
    /// it one end; once that has passed, opening it writes nothing.
    #[tokio::test]
    async fn a_session_started_earlier_ends_a_lifetime_after_its_start() {
        let store = FaultyStore::new();
        let service = service_on(store.clone() as Arc<dyn Store>, settings(|_| {})).await;
        let user = organizer(store.as_ref(), "jade").await;
        let lifetime = service.settings().lifetimes.console_token.as_secs();
        let started_at = unix_now() - 100;
        let opened = service
            .open_session(
                SessionUser::Known(&user),
                NewSession {
                    started_at: Some(started_at),
                    ..console_password_login()
                },
            )
            .await
            .unwrap();
        assert_eq!(opened.session.expires_at, started_at + lifetime);
        let writes = store.written_keys().len();
        let ended = service
            .open_session(
                SessionUser::Known(&user),
                NewSession {
                    started_at: Some(unix_now() - lifetime),
                    ..console_password_login()
                },
            )
            .await;
        assert!(matches!(ended, Err(AuthError::TicketExpired)));
        assert_eq!(store.written_keys().len(), writes, "nothing written");
    }

    #[tokio::test]
    async fn a_console_session_for_a_member_removed_meanwhile_is_refused_and_ended() {
        let store = FaultyStore::new();
        let service = service_on(store.clone() as Arc<dyn Store>, settings(|_| {})).await;
        let user = organizer(store.as_ref(), "jade").await;
        // The login read the user just before their removal from the team reached the store.
        let mut removed = user.clone();
        removed.roles.clear();
        super::super::users::save(store.as_ref(), &removed)
            .await
            .unwrap();
        let refused = service
            .open_session(SessionUser::Known(&user), console_password_login())
            .await;
        match refused {
            Err(AuthError::NotOrganizer) => {}
            Err(other) => panic!("refused as {other:?}"),
            Ok(_) => panic!("a console session for a member no longer on the team"),
        }
        assert_eq!(
            store.writes_to("session:"),
            2,
            "the batch wrote the session, and its ending took it"
        );
        let listed = list(store.as_ref(), &user.id, "").await.unwrap();
        assert!(listed.is_empty(), "and it was ended: {listed:?}");
    }

    #[tokio::test]
    async fn a_revocation_mark_outlives_the_end_it_was_given() {
        let store = FaultyStore::new();
        // An end a little short of the token's (a racing writer's, another instance's clock).
        let short_end = unix_now() - 10;
        revoke_with_descendants(store.as_ref(), "u", &sid(1), short_end)
            .await
            .unwrap();
        assert!(is_revoked(store.as_ref(), "u", &sid(1)).await.unwrap());
    }

    #[tokio::test]
    async fn a_stale_last_seen_is_moved_once() {
        let store = FaultyStore::new();
        let sid = "s".repeat(43);
        let now = unix_now();
        let record = SessionRecord {
            user_id: "u".into(),
            client: Audience::H5,
            device_name: None,
            ip: "192.0.2.1".into(),
            created_at: now - 600,
            last_seen_at: now - 120,
            methods: vec!["ticket".into()],
            parent: None,
            expires_at: now + 600,
        };
        open_any(store.as_ref(), &sid, &record).await;
        let before = store.writes_to("session:");
        for _verification in 0..2 {
            let (revoked, stored) = revoked_and_record(store.as_ref(), "u", &sid).await.unwrap();
            assert!(!revoked);
            touch_from(store.as_ref(), "u", &sid, stored).await.unwrap();
        }
        assert_eq!(
            store.writes_to("session:"),
            before + 1,
            "one move, then fresh"
        );
        let moved = get(store.as_ref(), "u", &sid).await.unwrap().unwrap();
        assert!(moved.last_seen_at >= now);
    }

    /// Opens a session of its own (nothing claimed), which must succeed.
    async fn open_any(store: &dyn Store, sid: &str, record: &SessionRecord) {
        open(store, sid, record, Claim::Any, &[]).await.unwrap();
    }

    fn session_of(user: &str, parent: Option<&str>) -> SessionRecord {
        let now = unix_now();
        SessionRecord {
            user_id: user.into(),
            client: Audience::H5,
            device_name: None,
            ip: "192.0.2.1".into(),
            created_at: now,
            last_seen_at: now,
            methods: vec!["ticket".into()],
            parent: parent.map(str::to_owned),
            expires_at: now + 600,
        }
    }

    fn sid(n: usize) -> String {
        format!("{n:0>43}")
    }

    #[tokio::test]
    async fn sessions_opened_at_once_all_reach_the_index_and_end_with_their_parent() {
        let store = FaultyStore::new();
        let parent = sid(0);
        open_any(store.as_ref(), &parent, &session_of("u", None)).await;
        // Each appends to the index at once, with no read before: none may lose another's line.
        let children: Vec<String> = (1..=20).map(sid).collect();
        let record = session_of("u", Some(&parent));
        let opened = children
            .iter()
            .map(|child| open(store.as_ref(), child, &record, Claim::Any, &[]));
        for result in futures_util::future::join_all(opened).await {
            result.unwrap();
        }
        let users = index::read(store.as_ref(), &store_keys::user_sessions("u"))
            .await
            .unwrap();
        for child in &children {
            assert!(users.iter().any(|entry| &entry.sid == child), "{child}");
            assert!(!is_revoked(store.as_ref(), "u", child).await.unwrap());
        }
        let ended = revoke_with_descendants(store.as_ref(), "u", &parent, record.expires_at);
        assert_eq!(ended.await.unwrap(), 21, "the parent and its 20 children");
        for child in &children {
            assert!(
                is_revoked(store.as_ref(), "u", child).await.unwrap(),
                "{child}"
            );
        }
    }

    /// Just before `parent`'s mark is written, `child` is derived from it (its exchange sees no
    /// mark yet), and then `then` runs on the store.
    fn derive_before_marking(
        store: &Arc<FaultyStore>,
        parent: &str,
        child: &str,
        then: impl FnOnce(&FaultyStore) + Send + 'static,
    ) {
        let (racing, derived) = (Arc::clone(store), session_of("u", Some(parent)));
        let child = child.to_owned();
        let exchange = async move {
            let opened = open(racing.as_ref(), &child, &derived, Claim::Any, &[]).await;
            assert!(opened.unwrap().made, "its parent is not marked yet");
            then(&racing);
        };
        let mark = store_keys::revoked_session("u", parent);
        store.before_next(Calls::Write, &mark, Box::pin(exchange));
    }

    /// A grandchild's exchange that falls after the revocation read the user's sessions and before
    /// it marked the child sees no mark on the child: the revocation's next reading finds it.
    #[tokio::test]
    async fn a_session_derived_while_its_parent_is_being_ended_ends_too() {
        let store = FaultyStore::new();
        let (root, child, grandchild) = (sid(0), sid(1), sid(2));
        let root_record = console_of("u", None);
        open_any(store.as_ref(), &root, &root_record).await;
        open_any(store.as_ref(), &child, &session_of("u", Some(&root))).await;
        derive_before_marking(&store, &child, &grandchild, |_| {});
        let ended = revoke_with_descendants(store.as_ref(), "u", &root, root_record.expires_at);
        assert_eq!(ended.await.unwrap(), 3);
        assert!(store.all_faults_hit());
        for session in [&root, &child, &grandchild] {
            assert!(
                is_revoked(store.as_ref(), "u", session).await.unwrap(),
                "{session}"
            );
        }
    }

    /// A session derived from one being ended, after the walk read the user's sessions and before
    /// it marked that one, is found by the walk's next reading; should that reading fail (a store
    /// error, a dropped request), the next walk of the user's sessions ends it: its parent has no
    /// record left, but its mark.
    #[tokio::test]
    async fn a_revocation_stopped_half_way_is_finished_by_the_next_one() {
        let store = FaultyStore::new();
        let (root, child, grandchild) = (sid(0), sid(1), sid(2));
        let (root_record, child_record) = (console_of("u", None), session_of("u", Some(&root)));
        open_any(store.as_ref(), &root, &root_record).await;
        open_any(store.as_ref(), &child, &child_record).await;
        derive_before_marking(&store, &child, &grandchild, |store| {
            let index = store_keys::user_sessions("u");
            store.fail_next(Calls::Read, &index, Fault::FailBefore);
        });
        let stopped = revoke_with_descendants(store.as_ref(), "u", &child, child_record.expires_at);
        assert!(stopped.await.is_err());
        assert!(store.all_faults_hit());
        assert!(!is_revoked(store.as_ref(), "u", &grandchild).await.unwrap());
        let ended = revoke_with_descendants(store.as_ref(), "u", &root, root_record.expires_at);
        assert_eq!(ended.await.unwrap(), 2, "the root and the grandchild");
        assert!(is_revoked(store.as_ref(), "u", &grandchild).await.unwrap());
    }

    /// What derives from a session is ended before the session itself: a walk stopped before the
    /// session's own mark leaves its token valid, to ask again with.
    #[tokio::test]
    async fn a_revocation_stopped_before_its_root_can_be_asked_again() {
        let store = FaultyStore::new();
        let (root, child, grandchild) = (sid(0), sid(1), sid(2));
        let root_record = console_of("u", None);
        open_any(store.as_ref(), &root, &root_record).await;
        open_any(store.as_ref(), &child, &session_of("u", Some(&root))).await;
        open_any(store.as_ref(), &grandchild, &session_of("u", Some(&child))).await;
        let root_mark = store_keys::revoked_session("u", &root);
        store.fail_next(Calls::Write, &root_mark, Fault::FailBefore);
        let stopped = revoke_with_descendants(store.as_ref(), "u", &root, root_record.expires_at);
        assert!(stopped.await.is_err());
        assert!(!is_revoked(store.as_ref(), "u", &root).await.unwrap());
        for below in [&child, &grandchild] {
            assert!(
                is_revoked(store.as_ref(), "u", below).await.unwrap(),
                "{below}"
            );
        }
        let again = revoke_with_descendants(store.as_ref(), "u", &root, root_record.expires_at);
        assert_eq!(
            again.await.unwrap(),
            1,
            "the root; the others ended the first time"
        );
        assert!(is_revoked(store.as_ref(), "u", &root).await.unwrap());
    }

    /// Two callers racing on one session claim ends a second apart: the line the index keeps may
    /// end before the record does. The record says the session is live, so it is listed, and it
    /// ends with its parent.
    #[tokio::test]
    async fn a_session_whose_line_ends_first_is_listed_and_ends_with_its_parent() {
        let store = FaultyStore::new();
        let (parent, child) = (sid(0), sid(1));
        let parent_record = console_of("u", None);
        open_any(store.as_ref(), &parent, &parent_record).await;
        let record = session_of("u", Some(&parent));
        let (key, bytes) = (
            store_keys::session("u", &child),
            records::encode(&record).unwrap(),
        );
        let lifetime = Lifetime::Until(record.expires_at);
        assert!(store.insert_new(&key, &bytes, lifetime).await.unwrap());
        let line = IndexEntry {
            sid: child.clone(),
            expires_at: unix_now() - 1,
            client: Some(Audience::H5),
        };
        let index = store_keys::user_sessions("u");
        store
            .append(&index, &line.line().unwrap(), lifetime)
            .await
            .unwrap();
        let listed = list(store.as_ref(), "u", &parent).await.unwrap();
        assert!(
            listed.iter().any(|session| session.id == child),
            "{listed:?}"
        );
        let ended = revoke_with_descendants(store.as_ref(), "u", &parent, parent_record.expires_at);
        assert_eq!(ended.await.unwrap(), 2);
        assert!(is_revoked(store.as_ref(), "u", &child).await.unwrap());
    }

    /// Session `session` of user "u", derived from `parent`, as [`live_records`] reads it.
    fn live_session(session: usize, parent: Option<usize>) -> (String, SessionRecord) {
        let parent = parent.map(sid);
        (sid(session), session_of("u", parent.as_deref()))
    }

    #[test]
    fn what_derives_from_a_revoked_session_is_found_at_any_depth_once() {
        // 0 <- 1 <- 2 <- 3, 1 <- 4, and 5 on its own; listed in no particular order.
        let live = [
            live_session(3, Some(2)),
            live_session(2, Some(1)),
            live_session(1, Some(0)),
            live_session(4, Some(1)),
            live_session(5, None),
        ];
        let found = |revoked: &[usize]| {
            let revoked: HashSet<String> = revoked.iter().copied().map(sid).collect();
            let mut found: Vec<String> = derived_from(&live, &revoked)
                .into_iter()
                .map(|(session, _)| session)
                .collect();
            found.sort();
            found
        };
        assert_eq!(found(&[0]), [1, 2, 3, 4].map(sid));
        assert_eq!(found(&[2, 4]), [sid(3)]);
        assert_eq!(
            found(&[1, 2]),
            [3, 4].map(sid),
            "the revoked are not found again"
        );
        assert!(found(&[5, 3]).is_empty());
    }

    #[test]
    fn a_chain_runs_from_the_parent_up_to_a_session_without_a_live_one() {
        // 3 derives from 2, 2 from 1, 1 from 0, which is not live; 5 and 6 derive from each other.
        let live = [
            live_session(1, Some(0)),
            live_session(2, Some(1)),
            live_session(3, Some(2)),
            live_session(5, Some(6)),
            live_session(6, Some(5)),
        ];
        assert_eq!(chain_from(&live, &sid(3)), [3, 2, 1, 0].map(sid));
        assert_eq!(chain_from(&live, &sid(1)), [1, 0].map(sid));
        assert_eq!(chain_from(&live, &sid(9)), [sid(9)]);
        assert_eq!(chain_from(&live, &sid(5)), [5, 6].map(sid));
    }

    #[tokio::test]
    async fn a_session_minting_tickets_in_a_loop_keeps_a_bounded_index_and_ends_its_oldest() {
        let store = FaultyStore::new();
        let parent = sid(0);
        open_any(store.as_ref(), &parent, &console_of("u", None)).await;
        for n in 1..MAX_SESSIONS_PER_USER + 5 {
            open_any(store.as_ref(), &sid(n), &session_of("u", Some(&parent))).await;
        }
        let users = index::read(store.as_ref(), &store_keys::user_sessions("u"))
            .await
            .unwrap();
        assert_eq!(users.len(), MAX_SESSIONS_PER_USER);
        for n in 1..=5 {
            assert!(
                is_revoked(store.as_ref(), "u", &sid(n)).await.unwrap(),
                "oldest {n} ended"
            );
        }
        assert!(!is_revoked(store.as_ref(), "u", &sid(6)).await.unwrap());
        assert!(
            !is_revoked(store.as_ref(), "u", &parent).await.unwrap(),
            "the parent lives on"
        );
    }

    /// A token minting tickets in a loop ends its own oldest H5 sessions at the user's bound, not
    /// an H5 session of another device's that is older than all of them.
    #[tokio::test]
    async fn a_ticket_loop_at_the_bound_makes_room_from_its_own_sessions() {
        let store = FaultyStore::new();
        let (laptop, laptop_page, parent) = (sid(0), sid(1), sid(2));
        open_any(store.as_ref(), &laptop, &console_of("u", None)).await;
        let page = session_of("u", Some(&laptop));
        open_any(store.as_ref(), &laptop_page, &page).await;
        open_any(store.as_ref(), &parent, &console_of("u", None)).await;
        let looped = 3..MAX_SESSIONS_PER_USER + 10;
        for n in looped.clone() {
            open_any(store.as_ref(), &sid(n), &session_of("u", Some(&parent))).await;
        }
        for kept in [&laptop, &laptop_page, &parent] {
            assert!(
                !is_revoked(store.as_ref(), "u", kept).await.unwrap(),
                "{kept}"
            );
        }
        let mut ended = Vec::new();
        for n in looped {
            if is_revoked(store.as_ref(), "u", &sid(n)).await.unwrap() {
                ended.push(n);
            }
        }
        assert_eq!(ended, (3..13).collect::<Vec<_>>(), "the loop's ten oldest");
    }

    #[tokio::test]
    async fn a_user_past_the_bound_loses_the_oldest_session_but_never_the_parent_in_use() {
        let store = FaultyStore::new();
        let parent = sid(0);
        open_any(store.as_ref(), &parent, &session_of("u", None)).await;
        for n in 1..MAX_SESSIONS_PER_USER {
            open_any(store.as_ref(), &sid(n), &session_of("u", None)).await;
        }
        // The user is at the bound, and the oldest session is the one deriving the next.
        let child = sid(MAX_SESSIONS_PER_USER);
        open_any(store.as_ref(), &child, &session_of("u", Some(&parent))).await;
        assert!(!is_revoked(store.as_ref(), "u", &parent).await.unwrap());
        assert!(!is_revoked(store.as_ref(), "u", &child).await.unwrap());
        assert!(
            is_revoked(store.as_ref(), "u", &sid(1)).await.unwrap(),
            "the oldest other ended"
        );
        let listed = list(store.as_ref(), "u", &child).await.unwrap();
        assert_eq!(listed.len(), MAX_SESSIONS_PER_USER);
    }

    fn console_of(user: &str, parent: Option<&str>) -> SessionRecord {
        SessionRecord {
            client: Audience::Console,
            ..session_of(user, parent)
        }
    }

    #[tokio::test]
    async fn a_session_leaves_its_index_only_once_it_is_ended() {
        use super::super::test_support::{Calls, Fault};
        let store = FaultyStore::new();
        for n in 1..=MAX_SESSIONS_PER_USER {
            open_any(store.as_ref(), &sid(n), &console_of("u", None)).await;
        }
        // Ending the oldest fails: the login past the bound still opens (it is only the index's
        // housekeeping that failed), and the oldest stays listed, so "log out everywhere" still
        // finds it.
        let oldest = sid(1);
        let mark = store_keys::revoked_session("u", &oldest);
        store.fail_next(Calls::Write, &mark, Fault::FailBefore);
        let next = sid(MAX_SESSIONS_PER_USER + 1);
        open_any(store.as_ref(), &next, &console_of("u", None)).await;
        assert!(store.all_faults_hit());
        let listed = index::read(store.as_ref(), &store_keys::user_sessions("u"))
            .await
            .unwrap();
        assert!(listed.iter().any(|entry| entry.sid == oldest));
        assert!(!is_revoked(store.as_ref(), "u", &oldest).await.unwrap());
        // The next login past the bound ends it, and only then drops its line.
        let later = sid(MAX_SESSIONS_PER_USER + 2);
        open_any(store.as_ref(), &later, &console_of("u", None)).await;
        assert!(is_revoked(store.as_ref(), "u", &oldest).await.unwrap());
        let listed = index::read(store.as_ref(), &store_keys::user_sessions("u"))
            .await
            .unwrap();
        assert!(listed.iter().all(|entry| entry.sid != oldest));
        assert_eq!(listed.len(), MAX_SESSIONS_PER_USER);
    }

    #[tokio::test]
    async fn a_user_past_the_bound_never_loses_an_ancestor_of_the_new_session() {
        let store = FaultyStore::new();
        // The oldest console minted a ticket for an H5 page, which minted one for another.
        let (grandparent, parent, child) = (sid(0), sid(1), sid(MAX_SESSIONS_PER_USER));
        open_any(store.as_ref(), &grandparent, &console_of("u", None)).await;
        let derived = session_of("u", Some(&grandparent));
        open_any(store.as_ref(), &parent, &derived).await;
        for n in 2..MAX_SESSIONS_PER_USER {
            open_any(store.as_ref(), &sid(n), &console_of("u", None)).await;
        }
        // Consoles are the most numerous kind, and the grandparent is the oldest of them.
        let grandchild = session_of("u", Some(&parent));
        open_any(store.as_ref(), &child, &grandchild).await;
        for kept in [&grandparent, &parent, &child] {
            assert!(
                !is_revoked(store.as_ref(), "u", kept).await.unwrap(),
                "{kept}"
            );
        }
        assert!(
            is_revoked(store.as_ref(), "u", &sid(2)).await.unwrap(),
            "the oldest console not in the chain ended"
        );
    }

    #[tokio::test]
    async fn a_session_written_again_keeps_its_first_record() {
        let store = FaultyStore::new();
        let first = session_of("u", None);
        let again = SessionRecord {
            ip: "198.51.100.7".into(),
            device_name: Some("another device".into()),
            expires_at: first.expires_at + 60,
            ..first.clone()
        };
        // Two redeems of one ticket name one session: the loser's record must not replace it, and
        // only the first may hand out a token.
        let id = sid(1);
        let redeem = |record| open(store.as_ref(), &id, record, Claim::FirstRecord, &[]);
        assert!(redeem(&first).await.unwrap().made);
        assert!(!redeem(&again).await.unwrap().made);
        let kept = get(store.as_ref(), "u", &sid(1)).await.unwrap().unwrap();
        assert_eq!((kept.ip, kept.device_name), (first.ip, first.device_name));
        assert_eq!(kept.expires_at, first.expires_at);
    }

    #[tokio::test]
    async fn a_phone_confirming_many_console_logins_keeps_its_own_session() {
        let store = FaultyStore::new();
        let phone = sid(0);
        let phone_session = SessionRecord {
            client: Audience::Miniprogram,
            ..session_of("u", None)
        };
        open_any(store.as_ref(), &phone, &phone_session).await;
        for n in 1..=MAX_SESSIONS_PER_USER + 5 {
            let console = SessionRecord {
                client: Audience::Console,
                ..session_of("u", None)
            };
            open_any(store.as_ref(), &sid(n), &console).await;
        }
        assert!(
            !is_revoked(store.as_ref(), "u", &phone).await.unwrap(),
            "the phone stays"
        );
        for n in 1..=6 {
            assert!(
                is_revoked(store.as_ref(), "u", &sid(n)).await.unwrap(),
                "console {n} ended"
            );
        }
    }
}
