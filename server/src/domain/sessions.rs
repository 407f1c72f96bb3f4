//! Sessions: every token's `sid` names one. The store keeps a record per session (who, from where,
//! which client, how, derived from which session), an index of each user's sessions and of each
//! session's derived ones; all of them expire with the sessions they list, so nothing grows for
//! ever and nothing is swept by hand.
//!
//! Where revocation's cost goes: to revoke time. Ending a session marks it revoked and then walks
//! the sessions derived from it, at any depth, marking each; token verification reads one marker,
//! its own, whatever the depth. The race with a session being derived at that moment is closed by
//! order: revoke marks the parent before reading its children, and deriving registers the child
//! before checking the parent's mark, so one of the two always sees the other.

use std::collections::HashSet;
use std::time::Duration;

use meeteasy_protocol::{Audience, Claims, Session};
use serde::{Deserialize, Serialize};

use crate::store::{Lifetime, Outcome, Step, Store, StoreError};

use super::records::{self, Transition};
use super::secrets::is_token_shaped;
use super::users::UserRecord;
use super::{AuthError, store_keys, unix_now};

/// `last_seen_at` is kept to within this; a session is written at most once per this period.
pub const LAST_SEEN_PRECISION: Duration = Duration::from_secs(60);

/// Live sessions one user keeps, and live sessions one session may have derived. Each index is one
/// record rewritten when a session opens, so its size is the cost of every login and exchange: past
/// the bound the most numerous kind of session gives up its oldest (see [`evict_oldest`]), so a
/// token minting tickets in a loop cannot grow it, a run of console logins does not end the phone
/// that confirms them, and an ended session cannot escape "log out everywhere" by having fallen out
/// of its index.
pub const MAX_SESSIONS_PER_USER: usize = 100;
pub const MAX_DERIVED_PER_SESSION: usize = 50;

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

/// One session in an index (a user's sessions, or a session's derived ones).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct IndexEntry {
    sid: String,
    expires_at: u64,
    /// Which client the session is; absent in entries written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client: Option<Audience>,
}

/// The session a new one is derived from: it may not outlive it.
#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// Records a new session and indexes it under its user and its parent, on `condition` (see
/// [`ReadOpening::write`]). A parent revoked meanwhile takes the new session with it: the caller
/// gets [`AuthError::TicketExpired`].
pub async fn open(
    store: &dyn Store,
    sid: &str,
    record: &SessionRecord,
    condition: Option<&Condition>,
) -> Result<bool, AuthError> {
    let opening = Opening::new(&record.user_id, record.parent.as_deref());
    let (_, read) = opening.read_beside(store, &[]).await?;
    read.write(store, sid, record, condition).await
}

/// Opening a session for a user, derived from a parent or not, in two batches (two round trips):
/// the indexes it goes into are read (with the user's record: [`Opening::read_with_user`]),
/// then [`ReadOpening::write`] writes the record, both index entries and the caller's
/// [`Condition`] if any, and reads the parent's mark, in that order. A reader skips an index entry
/// whose record it cannot find, so no order among the writes matters; the parent's mark is read
/// only after this session is in the parent's index (see the module's first lines). An index
/// another login changed between the two batches is updated again on its own.
pub struct Opening {
    /// The user's record, read beside the indexes by [`Opening::read_with_user`].
    user_key: String,
    user_index: String,
    /// The parent's sid and the index of its derived sessions.
    parent: Option<(String, String)>,
}

impl Opening {
    pub fn new(user_id: &str, parent: Option<&str>) -> Self {
        Self {
            user_key: store_keys::user(user_id),
            user_index: store_keys::user_sessions(user_id),
            parent: parent.map(|sid| (sid.to_owned(), store_keys::derived_sessions(sid))),
        }
    }

    /// Reads the indexes, and in the same batch the record of the user the session is for: `None`
    /// when that user was deleted (the caller says what that means for its login).
    pub async fn read_with_user(
        self,
        store: &dyn Store,
    ) -> Result<(Option<UserRecord>, ReadOpening), AuthError> {
        let user_key = self.user_key.clone();
        let (mut beside, read) = self.read_beside(store, &[&user_key]).await?;
        let user = match beside.pop().flatten() {
            Some(bytes) => Some(records::decode(&user_key, &bytes)?),
            None => None,
        };
        Ok((user, read))
    }

    /// Reads the indexes, and the records under `beside` in the same batch (returned in order).
    async fn read_beside(
        self,
        store: &dyn Store,
        beside: &[&str],
    ) -> Result<(Vec<Option<Vec<u8>>>, ReadOpening), StoreError> {
        let reads: Vec<Step<'_>> = beside
            .iter()
            .copied()
            .chain(self.keys())
            .map(Step::Get)
            .collect();
        let outcomes = store.batch(&reads).await?;
        if outcomes.len() != reads.len() {
            return Err(StoreError::Corrupt(format!(
                "a batch of {} reads had {} outcomes",
                reads.len(),
                outcomes.len()
            )));
        }
        let mut read = outcomes
            .into_iter()
            .map(Outcome::into_read)
            .collect::<Result<Vec<_>, _>>()?;
        let indexes = read.split_off(beside.len());
        let opening = ReadOpening {
            opening: self,
            read: indexes,
        };
        Ok((read, opening))
    }

    /// The keys to read, in this order, before [`ReadOpening::write`].
    fn keys(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.user_index.as_str())
            .chain(self.parent.as_ref().map(|(_, derived)| derived.as_str()))
    }

    fn indexes(&self) -> Vec<(&str, IndexBound<'_>)> {
        let user_bound = IndexBound {
            live: MAX_SESSIONS_PER_USER,
            // Ending the parent would end the session being opened with it.
            keep: self.parent.as_ref().map(|(sid, _)| sid.as_str()),
        };
        let derived_bound = IndexBound {
            live: MAX_DERIVED_PER_SESSION,
            keep: None,
        };
        std::iter::once((self.user_index.as_str(), user_bound))
            .chain(
                self.parent
                    .as_ref()
                    .map(|(_, derived)| (derived.as_str(), derived_bound)),
            )
            .collect()
    }
}

/// An [`Opening`] whose indexes were read (perhaps in a caller's batch of its own).
pub struct ReadOpening {
    opening: Opening,
    read: Vec<Option<Vec<u8>>>,
}

/// A compare-and-swap a session is opened on (a ticket's redeem, a scene's delivery), made in the
/// batch that writes the session: one commit on the embedded store, not two in a row. Callers that
/// race on it write the same session (they name it alike); only the one whose swap is made may
/// hand out its token.
pub struct Condition {
    pub key: String,
    pub expected: Vec<u8>,
    pub new: Vec<u8>,
    pub lifetime: Lifetime,
}

impl ReadOpening {
    /// Writes the session `sid` with `record` (of the user and parent the opening was made for),
    /// and makes `condition`'s swap in the same batch: `false` when it was not made (another
    /// caller's came first, and the session is that caller's to hand out).
    pub async fn write(
        self,
        store: &dyn Store,
        sid: &str,
        record: &SessionRecord,
        condition: Option<&Condition>,
    ) -> Result<bool, AuthError> {
        let Self { opening, read } = self;
        let indexes = opening.indexes();
        if read.len() != indexes.len() {
            return Err(StoreError::Corrupt(format!(
                "opening a session read {} of its {} indexes",
                read.len(),
                indexes.len()
            ))
            .into());
        }
        let entry = IndexEntry {
            sid: sid.to_owned(),
            expires_at: record.expires_at,
            client: Some(record.client),
        };
        let mut updated = Vec::with_capacity(indexes.len());
        for ((key, bound), bytes) in indexes.iter().zip(&read) {
            let listed: Option<Vec<IndexEntry>> = match bytes {
                Some(bytes) => Some(records::decode(key, bytes)?),
                None => None,
            };
            let (entries, lifetime, evicted) = with_entry(listed.as_ref(), &entry, *bound);
            updated.push((records::encode(&entries)?, lifetime, evicted));
        }

        let record_bytes = records::encode(record)?;
        let session_key = store_keys::session(sid);
        let mut writes = vec![Step::Put {
            key: &session_key,
            value: &record_bytes,
            lifetime: Lifetime::Until(record.expires_at),
        }];
        for (((key, _), expected), (new, lifetime, _)) in indexes.iter().zip(&read).zip(&updated) {
            writes.push(records::write_step(
                key,
                expected.as_deref(),
                new,
                *lifetime,
            ));
        }
        if let Some(condition) = condition {
            writes.push(Step::CompareAndSwap {
                key: &condition.key,
                expected: &condition.expected,
                new: &condition.new,
                lifetime: condition.lifetime,
            });
        }
        let parent_mark = opening
            .parent
            .as_ref()
            .map(|(sid, _)| store_keys::revoked_session(sid));
        if let Some(mark) = &parent_mark {
            writes.push(Step::Get(mark));
        }
        let mut outcomes = store.batch(&writes).await?.into_iter().skip(1);
        let too_few = || StoreError::Corrupt("a batch answered too few steps".to_owned());
        let indexes_written = indexes
            .iter()
            .map(|_| outcomes.next().ok_or_else(too_few)?.written())
            .collect::<Result<Vec<_>, _>>()?;
        let preempted = match condition {
            Some(_) => !outcomes.next().ok_or_else(too_few)?.written()?,
            None => false,
        };

        let mut evicted = Vec::new();
        let mut lost_a_race = false;
        for (((key, bound), (_, _, evicted_here)), written) in
            indexes.iter().zip(updated).zip(indexes_written)
        {
            if written {
                evicted.extend(evicted_here);
            } else if !preempted {
                lost_a_race = true;
                evicted.extend(add_to_index(store, key, &entry, *bound).await?);
            }
        }
        // Even a preempted caller's index writes may have pushed entries out: they end all the same.
        for oldest in evicted {
            revoke_with_descendants(store, &oldest.sid, oldest.expires_at).await?;
        }
        if preempted {
            return Ok(false);
        }
        if let Some((parent, _)) = &opening.parent {
            let revoked = match outcomes.next() {
                // An index written again came after the batch's read of the mark: read it again.
                Some(mark) if !lost_a_race => mark.into_read()?.is_some(),
                Some(_) | None => is_revoked(store, parent).await?,
            };
            if revoked {
                revoke_with_descendants(store, sid, record.expires_at).await?;
                // The ticket that would open it ended with the session that minted it.
                return Err(AuthError::TicketExpired);
            }
        }
        Ok(true)
    }
}

/// How many live entries an index keeps, and one it never lets go of to make room.
#[derive(Clone, Copy)]
struct IndexBound<'a> {
    live: usize,
    keep: Option<&'a str>,
}

/// Adds `entry` to the index at `key`, dropping the entries that expired and, past the bound, the
/// oldest ones, which it returns for the caller to end. The index lives as long as its
/// longest-lived entry.
async fn add_to_index(
    store: &dyn Store,
    key: &str,
    entry: &IndexEntry,
    bound: IndexBound<'_>,
) -> Result<Vec<IndexEntry>, AuthError> {
    records::update(store, key, |current: Option<&Vec<IndexEntry>>| {
        let (entries, lifetime, evicted) = with_entry(current, entry, bound);
        Ok(Transition::Write(entries, lifetime, evicted))
    })
    .await
}

/// The index `current` with `entry` added: without the entries that expired and, past the bound,
/// the oldest ones (also returned); with the lifetime of its longest-lived entry.
fn with_entry(
    current: Option<&Vec<IndexEntry>>,
    entry: &IndexEntry,
    bound: IndexBound<'_>,
) -> (Vec<IndexEntry>, Lifetime, Vec<IndexEntry>) {
    let now = unix_now();
    let mut entries: Vec<IndexEntry> = current
        .into_iter()
        .flatten()
        .filter(|listed| listed.expires_at > now && listed.sid != entry.sid)
        .cloned()
        .collect();
    entries.push(entry.clone());
    let evicted = evict_oldest(&mut entries, bound);
    let until = entries.iter().map(|e| e.expires_at).max().unwrap_or(now);
    (entries, Lifetime::Until(until), evicted)
}

/// Removes the entries past `bound.live` and returns them, one at a time from the kind (console,
/// H5, mini program) holding the most sessions, its oldest first (the index is in the order
/// sessions opened): a flood of one kind — console after console confirmed by one phone, a ticket
/// loop's H5 sessions — makes room from itself, never from a user's one phone. On a tie the kind
/// of the newest entry gives way. Never the newest entry (the one being opened) nor `bound.keep`.
fn evict_oldest(entries: &mut Vec<IndexEntry>, bound: IndexBound<'_>) -> Vec<IndexEntry> {
    let mut evicted = Vec::new();
    while entries.len() > bound.live {
        let Some((newest, older)) = entries.split_last() else {
            break;
        };
        let evictable = || {
            older
                .iter()
                .enumerate()
                .filter(|(_, entry)| Some(entry.sid.as_str()) != bound.keep)
        };
        let mut counts: Vec<(Option<Audience>, usize)> = Vec::new();
        for (_, entry) in evictable() {
            match counts.iter_mut().find(|(kind, _)| *kind == entry.client) {
                Some((_, count)) => *count += 1,
                None => counts.push((entry.client, 1)),
            }
        }
        let Some(&(giving_way, _)) = counts
            .iter()
            .max_by_key(|(kind, count)| (*count, *kind == newest.client))
        else {
            break;
        };
        let Some(at) = evictable()
            .find(|(_, entry)| entry.client == giving_way)
            .map(|(at, _)| at)
        else {
            break;
        };
        evicted.push(entries.remove(at));
    }
    evicted
}

async fn index(store: &dyn Store, key: &str) -> Result<Vec<IndexEntry>, StoreError> {
    Ok(records::load::<Vec<IndexEntry>>(store, key)
        .await?
        .unwrap_or_default())
}

pub async fn is_revoked(store: &dyn Store, sid: &str) -> Result<bool, StoreError> {
    Ok(store
        .get(&store_keys::revoked_session(sid))
        .await?
        .is_some())
}

pub async fn get(store: &dyn Store, sid: &str) -> Result<Option<SessionRecord>, StoreError> {
    if !is_token_shaped(sid) {
        return Ok(None);
    }
    Ok(
        records::load::<SessionRecord>(store, &store_keys::session(sid))
            .await?
            .filter(|record| record.expires_at > unix_now()),
    )
}

/// Ends `sid` (valid until `expires_at`) and every session derived from it, at any depth. Returns
/// how many live sessions ended, itself included (one ended before is marked again, not counted).
pub async fn revoke_with_descendants(
    store: &dyn Store,
    sid: &str,
    expires_at: u64,
) -> Result<u64, StoreError> {
    let mut pending = vec![IndexEntry {
        sid: sid.to_owned(),
        expires_at,
        client: None,
    }];
    let mut visited = HashSet::new();
    let mut ended = 0;
    while let Some(session) = pending.pop() {
        if !visited.insert(session.sid.clone()) {
            continue;
        }
        // Marked before its children are read: see the module's first lines.
        store
            .put(
                &store_keys::revoked_session(&session.sid),
                b"1",
                Lifetime::Until(session.expires_at),
            )
            .await?;
        if store
            .take(&store_keys::session(&session.sid))
            .await?
            .is_some()
        {
            ended += 1;
        }
        let now = unix_now();
        pending.extend(
            index(store, &store_keys::derived_sessions(&session.sid))
                .await?
                .into_iter()
                .filter(|child| child.expires_at > now),
        );
    }
    Ok(ended)
}

/// Ends every live session of `user_id` opened for one of `clients` (and what derives from them):
/// a role taken away takes effect at once. Returns how many sessions ended.
pub async fn end_user_sessions(
    store: &dyn Store,
    user_id: &str,
    clients: &[Audience],
) -> Result<u64, StoreError> {
    let mut ended = 0;
    for entry in index(store, &store_keys::user_sessions(user_id)).await? {
        let Some(record) = get(store, &entry.sid).await? else {
            continue;
        };
        if record.user_id == user_id && clients.contains(&record.client) {
            ended += revoke_with_descendants(store, &entry.sid, record.expires_at).await?;
        }
    }
    Ok(ended)
}

/// Every kind of client, for ending all of a user's sessions.
pub const EVERY_CLIENT: [Audience; 3] = [Audience::Console, Audience::H5, Audience::Miniprogram];

/// The live sessions of `user_id`, newest first, `current_sid` marked.
pub async fn list(
    store: &dyn Store,
    user_id: &str,
    current_sid: &str,
) -> Result<Vec<Session>, StoreError> {
    let mut sessions = Vec::new();
    // The index is in the order sessions were opened: that order breaks ties within a second.
    let mut opened_order = Vec::new();
    for (order, entry) in index(store, &store_keys::user_sessions(user_id))
        .await?
        .into_iter()
        .enumerate()
    {
        let Some(record) = get(store, &entry.sid).await? else {
            continue;
        };
        if record.user_id != user_id || is_revoked(store, &entry.sid).await? {
            continue;
        }
        opened_order.push(order);
        sessions.push(Session {
            current: entry.sid == current_sid,
            id: entry.sid,
            client: record.client,
            device_name: record.device_name,
            ip: record.ip,
            created_at: record.created_at,
            last_seen_at: record.last_seen_at,
            methods: record.methods,
        });
    }
    let mut ordered: Vec<(usize, Session)> = opened_order.into_iter().zip(sessions).collect();
    ordered.sort_by(|(a_order, a), (b_order, b)| {
        (b.created_at, b_order).cmp(&(a.created_at, a_order))
    });
    Ok(ordered.into_iter().map(|(_, session)| session).collect())
}

/// The sessions `sid` was derived from, nearest first.
pub async fn ancestors(store: &dyn Store, sid: &str) -> Result<Vec<String>, StoreError> {
    let mut chain = Vec::new();
    let mut next = get(store, sid).await?.and_then(|record| record.parent);
    while let Some(parent) = next {
        if chain.contains(&parent) {
            break;
        }
        next = get(store, &parent).await?.and_then(|record| record.parent);
        chain.push(parent);
    }
    Ok(chain)
}

/// Moves `last_seen_at` to now when it is older than [`LAST_SEEN_PRECISION`]: at most one write per
/// session per period, however many requests and instances see it.
pub async fn touch(store: &dyn Store, sid: &str) -> Result<(), AuthError> {
    let now = unix_now();
    records::update(
        store,
        &store_keys::session(sid),
        |current: Option<&SessionRecord>| {
            Ok(match current {
                Some(record)
                    if record.last_seen_at + LAST_SEEN_PRECISION.as_secs() <= now
                        && record.expires_at > now =>
                {
                    let seen = SessionRecord {
                        last_seen_at: now,
                        ..record.clone()
                    };
                    Transition::Write(seen, Lifetime::Until(record.expires_at), ())
                }
                // Gone (revoked, expired, or from before sessions were kept) or seen recently.
                Some(_) | None => Transition::Keep(()),
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
        let record = get(self.store.as_ref(), id)
            .await?
            .filter(|record| record.user_id == caller.sub)
            .ok_or(AuthError::SessionNotFound)?;
        revoke_with_descendants(self.store.as_ref(), id, record.expires_at).await?;
        Ok(())
    }

    /// `POST /auth/sessions/revoke-others`: ends every session of the caller's but this one. The
    /// sessions this one was derived from are kept: ending them would end this one too.
    pub async fn end_other_sessions(&self, caller: &Claims) -> Result<u64, AuthError> {
        let store = self.store.as_ref();
        let keep: HashSet<String> = ancestors(store, &caller.sid)
            .await?
            .into_iter()
            .chain([caller.sid.clone()])
            .collect();
        let mut ended = 0;
        for session in list(store, &caller.sub, &caller.sid).await? {
            if keep.contains(&session.id) {
                continue;
            }
            // A session already ended as another's descendant is not counted twice.
            if let Some(record) = get(store, &session.id).await? {
                ended += revoke_with_descendants(store, &session.id, record.expires_at).await?;
            }
        }
        Ok(ended)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::service::NewSession;
    use super::super::test_support::{FaultyStore, organizer, service_on, settings};
    use super::*;

    #[tokio::test]
    async fn last_seen_costs_no_write_while_it_is_within_a_minute() {
        let store = FaultyStore::new();
        let service = service_on(store.clone() as Arc<dyn Store>, settings(|_| {})).await;
        let user = organizer(store.as_ref(), "jade").await;
        let opened = service
            .open_session(
                &user,
                NewSession {
                    audience: Audience::Console,
                    methods: &["pwd"],
                    device_name: None,
                    ip: "192.0.2.1".into(),
                    parent: None,
                    sid: None,
                    opening: None,
                    redeem: None,
                },
            )
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
        open(store.as_ref(), &sid, &record, None).await.unwrap();
        let before = store.writes_to("session:");
        touch(store.as_ref(), &sid).await.unwrap();
        touch(store.as_ref(), &sid).await.unwrap();
        assert_eq!(
            store.writes_to("session:"),
            before + 1,
            "one move, then fresh"
        );
        let moved = get(store.as_ref(), &sid).await.unwrap().unwrap();
        assert!(moved.last_seen_at >= now);
    }

    fn entries(sids: &[&str]) -> Vec<IndexEntry> {
        sids.iter()
            .map(|sid| IndexEntry {
                sid: (*sid).to_owned(),
                expires_at: u64::MAX,
                // `m…` a mini program's session, anything else a console's.
                client: Some(if sid.starts_with('m') {
                    Audience::Miniprogram
                } else {
                    Audience::Console
                }),
            })
            .collect()
    }

    fn sids(entries: &[IndexEntry]) -> Vec<&str> {
        entries.iter().map(|entry| entry.sid.as_str()).collect()
    }

    #[test]
    fn eviction_takes_the_oldest_past_the_bound_and_spares_the_kept_one() {
        let mut index = entries(&["a", "b", "c", "d", "e"]);
        let evicted = evict_oldest(
            &mut index,
            IndexBound {
                live: 3,
                keep: None,
            },
        );
        assert_eq!(sids(&evicted), ["a", "b"]);
        assert_eq!(sids(&index), ["c", "d", "e"]);

        let mut index = entries(&["a", "b", "c", "d", "e"]);
        let evicted = evict_oldest(
            &mut index,
            IndexBound {
                live: 3,
                keep: Some("a"),
            },
        );
        assert_eq!(sids(&evicted), ["b", "c"]);
        assert_eq!(sids(&index), ["a", "d", "e"]);

        let mut index = entries(&["a", "b"]);
        assert!(
            evict_oldest(
                &mut index,
                IndexBound {
                    live: 3,
                    keep: None
                }
            )
            .is_empty()
        );
        assert_eq!(sids(&index), ["a", "b"]);
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
    async fn sessions_opened_at_once_all_reach_both_indexes() {
        let store = FaultyStore::new();
        let parent = sid(0);
        open(store.as_ref(), &parent, &session_of("u", None), None)
            .await
            .unwrap();
        // Each reads the indexes, then writes them: most find them changed by another meanwhile.
        let children: Vec<String> = (1..=20).map(sid).collect();
        let record = session_of("u", Some(&parent));
        let opened = children
            .iter()
            .map(|child| open(store.as_ref(), child, &record, None));
        for result in futures_util::future::join_all(opened).await {
            result.unwrap();
        }
        let derived = index(store.as_ref(), &store_keys::derived_sessions(&parent))
            .await
            .unwrap();
        let users = index(store.as_ref(), &store_keys::user_sessions("u"))
            .await
            .unwrap();
        for child in &children {
            assert!(derived.iter().any(|entry| &entry.sid == child), "{child}");
            assert!(users.iter().any(|entry| &entry.sid == child), "{child}");
            assert!(!is_revoked(store.as_ref(), child).await.unwrap());
        }
    }

    #[tokio::test]
    async fn a_session_minting_tickets_in_a_loop_keeps_a_bounded_index_and_ends_its_oldest() {
        let store = FaultyStore::new();
        let parent = sid(0);
        open(store.as_ref(), &parent, &session_of("u", None), None)
            .await
            .unwrap();
        for n in 1..=MAX_DERIVED_PER_SESSION + 5 {
            open(
                store.as_ref(),
                &sid(n),
                &session_of("u", Some(&parent)),
                None,
            )
            .await
            .unwrap();
        }
        let derived = index(store.as_ref(), &store_keys::derived_sessions(&parent))
            .await
            .unwrap();
        assert_eq!(derived.len(), MAX_DERIVED_PER_SESSION);
        for n in 1..=5 {
            assert!(
                is_revoked(store.as_ref(), &sid(n)).await.unwrap(),
                "oldest {n} ended"
            );
        }
        assert!(!is_revoked(store.as_ref(), &sid(6)).await.unwrap());
        assert!(
            !is_revoked(store.as_ref(), &parent).await.unwrap(),
            "the parent lives on"
        );
    }

    #[tokio::test]
    async fn a_user_past_the_bound_loses_the_oldest_session_but_never_the_parent_in_use() {
        let store = FaultyStore::new();
        let parent = sid(0);
        open(store.as_ref(), &parent, &session_of("u", None), None)
            .await
            .unwrap();
        for n in 1..MAX_SESSIONS_PER_USER {
            open(store.as_ref(), &sid(n), &session_of("u", None), None)
                .await
                .unwrap();
        }
        // The user is at the bound, and the oldest session is the one deriving the next.
        let child = sid(MAX_SESSIONS_PER_USER);
        open(
            store.as_ref(),
            &child,
            &session_of("u", Some(&parent)),
            None,
        )
        .await
        .unwrap();
        assert!(!is_revoked(store.as_ref(), &parent).await.unwrap());
        assert!(!is_revoked(store.as_ref(), &child).await.unwrap());
        assert!(
            is_revoked(store.as_ref(), &sid(1)).await.unwrap(),
            "the oldest other ended"
        );
        let listed = list(store.as_ref(), "u", &child).await.unwrap();
        assert_eq!(listed.len(), MAX_SESSIONS_PER_USER);
    }

    #[test]
    fn eviction_takes_the_oldest_of_the_most_numerous_kind() {
        let bound = |live| IndexBound { live, keep: None };
        // A phone's session, then console logins it confirmed: the consoles make room, not the phone.
        let mut index = entries(&["m1", "c1", "c2", "c3"]);
        assert_eq!(sids(&evict_oldest(&mut index, bound(3))), ["c1"]);
        assert_eq!(sids(&index), ["m1", "c2", "c3"]);

        // A second phone logs in to a full index: a console goes, not the first phone.
        let mut index = entries(&["m1", "c1", "c2", "m2"]);
        assert_eq!(sids(&evict_oldest(&mut index, bound(3))), ["c1"]);
        assert_eq!(sids(&index), ["m1", "c2", "m2"]);

        // Equal counts: the new session's kind gives way; the new one itself never does.
        let mut index = entries(&["a", "m1", "m2", "m3"]);
        assert_eq!(sids(&evict_oldest(&mut index, bound(1))), ["m1", "m2", "a"]);
        assert_eq!(sids(&index), ["m3"]);
    }

    #[tokio::test]
    async fn a_phone_confirming_many_console_logins_keeps_its_own_session() {
        let store = FaultyStore::new();
        let phone = sid(0);
        let phone_session = SessionRecord {
            client: Audience::Miniprogram,
            ..session_of("u", None)
        };
        open(store.as_ref(), &phone, &phone_session, None)
            .await
            .unwrap();
        for n in 1..=MAX_SESSIONS_PER_USER + 5 {
            let console = SessionRecord {
                client: Audience::Console,
                ..session_of("u", None)
            };
            open(store.as_ref(), &sid(n), &console, None).await.unwrap();
        }
        assert!(
            !is_revoked(store.as_ref(), &phone).await.unwrap(),
            "the phone stays"
        );
        for n in 1..=6 {
            assert!(
                is_revoked(store.as_ref(), &sid(n)).await.unwrap(),
                "console {n} ended"
            );
        }
    }
}
