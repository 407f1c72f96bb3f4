//! The index of each user's sessions (derived ones included). An index is one record
//! of fixed-width lines, one per session in the order they opened, so a session is added with an
//! append in the batch that writes it, with no read of the index before; the append's answer (the
//! index's length) tells how many lines it holds. Past its bound an index is compacted: expired
//! lines dropped and, if still too many live, the oldest pushed out (see [`evict_oldest`]). A line
//! written twice (a delivery made again) counts once, where it was last written.
//!
//! A line: the session id (43 characters), a space, its end in Unix seconds (20 digits), a space,
//! its client (`c`onsole, `h`5, `m`ini program, `-` unknown) and a newline. An index written as a
//! JSON array (before this format) is read as its first lines, and rewritten at its first
//! compaction.

use std::collections::HashSet;

use meeteasy_protocol::Audience;
use serde::Deserialize;

use crate::store::{Lifetime, Store, StoreError};

use super::super::secrets::is_token_shaped;

/// The length of one line of an index.
pub(super) const LINE_LEN: usize = SID_LEN + 1 + EXPIRY_DIGITS + 1 + 1 + 1;
const SID_LEN: usize = 43;
const EXPIRY_DIGITS: usize = 20;

/// One session in an index.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(super) struct IndexEntry {
    pub sid: String,
    pub expires_at: u64,
    /// Which client the session is; unknown for entries written before it was kept.
    #[serde(default)]
    pub client: Option<Audience>,
}

impl IndexEntry {
    /// The entry as one line of an index.
    pub fn line(&self) -> Result<Vec<u8>, StoreError> {
        if !is_token_shaped(&self.sid) {
            return Err(StoreError::Corrupt(format!(
                "session id {:?} cannot be indexed",
                self.sid
            )));
        }
        let client = match self.client {
            Some(Audience::Console) => 'c',
            Some(Audience::H5) => 'h',
            Some(Audience::Miniprogram) => 'm',
            None => '-',
        };
        let line = format!(
            "{} {:0width$} {client}\n",
            self.sid,
            self.expires_at,
            width = EXPIRY_DIGITS
        );
        Ok(line.into_bytes())
    }

    fn from_line(key: &str, line: &[u8]) -> Result<Self, StoreError> {
        let corrupt = || StoreError::Corrupt(format!("index {key} holds a line it cannot read"));
        let text = std::str::from_utf8(line).map_err(|_| corrupt())?;
        let (sid, rest) = text.split_at_checked(SID_LEN).ok_or_else(corrupt)?;
        let mut fields = rest.strip_suffix('\n').ok_or_else(corrupt)?.split(' ');
        let (Some(""), Some(expires_at), Some(client), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(corrupt());
        };
        // Only what [`Self::line`] writes: a line read here must compact back to itself.
        if !is_token_shaped(sid) || !expires_at.bytes().all(|digit| digit.is_ascii_digit()) {
            return Err(corrupt());
        }
        let client = match client {
            "c" => Some(Audience::Console),
            "h" => Some(Audience::H5),
            "m" => Some(Audience::Miniprogram),
            "-" => None,
            _ => return Err(corrupt()),
        };
        Ok(Self {
            sid: sid.to_owned(),
            expires_at: expires_at.parse().map_err(|_| corrupt())?,
            client,
        })
    }
}

/// The entries of the index at `key` as stored in `bytes`, each session once.
pub(super) fn decode(key: &str, bytes: &[u8]) -> Result<Vec<IndexEntry>, StoreError> {
    let (mut entries, lines) = match bytes.first() {
        Some(b'[') => legacy_prefix(key, bytes)?,
        Some(_) | None => (Vec::new(), bytes),
    };
    if lines.len() % LINE_LEN != 0 {
        return Err(StoreError::Corrupt(format!(
            "index {key} is {} bytes, not whole lines",
            bytes.len()
        )));
    }
    for line in lines.chunks_exact(LINE_LEN) {
        entries.push(IndexEntry::from_line(key, line)?);
    }
    // Where a session is listed twice, its last line holds its place.
    let mut seen = HashSet::new();
    let mut once: Vec<IndexEntry> = entries
        .into_iter()
        .rev()
        .filter(|entry| seen.insert(entry.sid.clone()))
        .collect();
    once.reverse();
    Ok(once)
}

/// The entries of an index's JSON array, and the lines appended after it.
fn legacy_prefix<'a>(
    key: &str,
    bytes: &'a [u8],
) -> Result<(Vec<IndexEntry>, &'a [u8]), StoreError> {
    let mut stream = serde_json::Deserializer::from_slice(bytes).into_iter::<Vec<IndexEntry>>();
    let entries = match stream.next() {
        Some(Ok(entries)) => entries,
        Some(Err(error)) => return Err(StoreError::Corrupt(format!("index {key}: {error}"))),
        None => Vec::new(),
    };
    Ok((entries, &bytes[stream.byte_offset()..]))
}

fn encode(entries: &[IndexEntry]) -> Result<Vec<u8>, StoreError> {
    let mut bytes = Vec::with_capacity(entries.len() * LINE_LEN);
    for entry in entries {
        bytes.extend(entry.line()?);
    }
    Ok(bytes)
}

/// The index at `key`; empty when there is none.
pub(super) async fn read(store: &dyn Store, key: &str) -> Result<Vec<IndexEntry>, StoreError> {
    match store.get(key).await? {
        Some(bytes) => decode(key, &bytes),
        None => Ok(Vec::new()),
    }
}

/// How many live entries an index keeps, and the sessions it never lets go of to make room.
#[derive(Clone, Copy)]
pub(super) struct IndexBound<'a> {
    pub live: usize,
    /// The ancestors of the session being opened: ending one would end the new session with it.
    pub keep: &'a [String],
    /// Sessions that make room first, oldest first, before any other: the many derived from the
    /// parent of the session being opened (a ticket loop makes room from itself).
    pub first: &'a [String],
}

/// Whether an index `length` bytes long may hold more than `live` lines.
pub(super) fn overflows(live: usize, length: u64) -> bool {
    u64::try_from(live.saturating_mul(LINE_LEN)).is_ok_and(|most| length > most)
}

/// What compacting an index comes to: the sessions it lets go of, and the index without them.
pub(super) struct Compaction {
    pub evicted: Vec<IndexEntry>,
    pub compacted: Vec<u8>,
    /// As long as its longest-lived entry.
    pub lifetime: Lifetime,
}

/// The index at `key`, stored as `current`, compacted at `now`: its expired entries dropped and,
/// past the bound, the oldest (see [`evict_oldest`]; never `opened`, the entry just added).
/// `None` when that changes nothing.
pub(super) fn compaction(
    key: &str,
    current: &[u8],
    opened: &IndexEntry,
    bound: IndexBound<'_>,
    now: u64,
) -> Result<Option<Compaction>, StoreError> {
    let mut entries = decode(key, current)?;
    entries.retain(|entry| entry.expires_at > now);
    let evicted = evict_oldest(&mut entries, opened, bound);
    let compacted = encode(&entries)?;
    if compacted == current {
        return Ok(None);
    }
    let until = entries.iter().map(|entry| entry.expires_at).max();
    Ok(Some(Compaction {
        evicted,
        compacted,
        lifetime: Lifetime::Until(until.unwrap_or(now)),
    }))
}

/// Removes the entries past `bound.live` and returns them, one at a time: the oldest of
/// `bound.first` while one is listed, else from the kind (console, H5, mini program) holding the
/// most sessions, its oldest first (the index is in the order sessions opened): a flood of one kind
/// — console after console confirmed by one phone, a ticket loop's H5 sessions — makes room from
/// itself, never from a user's one phone. On a tie the kind of `opened` gives way. Never `opened`
/// itself (the session being opened) nor one in `bound.keep`.
pub(super) fn evict_oldest(
    entries: &mut Vec<IndexEntry>,
    opened: &IndexEntry,
    bound: IndexBound<'_>,
) -> Vec<IndexEntry> {
    let mut evicted = Vec::new();
    while entries.len() > bound.live {
        let candidates: Vec<(usize, Option<Audience>)> = entries
            .iter()
            .enumerate()
            .filter(|(_, entry)| entry.sid != opened.sid && !bound.keep.contains(&entry.sid))
            .map(|(at, entry)| (at, entry.client))
            .collect();
        let first = candidates
            .iter()
            .find(|(at, _)| bound.first.contains(&entries[*at].sid));
        if let Some(&(at, _)) = first {
            evicted.push(entries.remove(at));
            continue;
        }
        let mut counts: Vec<(Option<Audience>, usize)> = Vec::new();
        for (_, client) in &candidates {
            match counts.iter_mut().find(|(kind, _)| kind == client) {
                Some((_, count)) => *count += 1,
                None => counts.push((*client, 1)),
            }
        }
        let Some(&(giving_way, _)) = counts
            .iter()
            .max_by_key(|(kind, count)| (*count, *kind == opened.client))
        else {
            break;
        };
        let Some(&(at, _)) = candidates.iter().find(|(_, client)| *client == giving_way) else {
            break;
        };
        evicted.push(entries.remove(at));
    }
    evicted
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn entry(sid: &str, expires_at: u64, client: Option<Audience>) -> IndexEntry {
        IndexEntry {
            sid: format!("{sid:->43}"),
            expires_at,
            client,
        }
    }

    #[test]
    fn lines_read_back_as_written_each_session_once_where_last_written() {
        let written = [
            entry("a", 1_790_000_000, Some(Audience::Console)),
            entry("b", u64::MAX, Some(Audience::H5)),
            entry("a", 1_790_000_000, Some(Audience::Console)),
            entry("c", 0, None),
            entry("d", 7, Some(Audience::Miniprogram)),
        ];
        let bytes = encode(&written).unwrap();
        assert_eq!(bytes.len(), written.len() * LINE_LEN);
        let read = decode("index", &bytes).unwrap();
        assert_eq!(
            read,
            [&written[1], &written[2], &written[3], &written[4]].map(Clone::clone)
        );
    }

    #[test]
    fn an_index_written_as_json_reads_with_the_lines_appended_to_it() {
        let (a, b) = (entry("a", 9, None).sid, entry("b", 8, None).sid);
        let mut bytes = format!(
            r#"[{{"sid":"{a}","expires_at":9}},{{"sid":"{b}","expires_at":8,"client":"h5"}}]"#
        )
        .into_bytes();
        let appended = entry("c", 10, Some(Audience::Console));
        bytes.extend(appended.line().unwrap());
        let read = decode("index", &bytes).unwrap();
        assert_eq!(
            read,
            [
                entry("a", 9, None),
                entry("b", 8, Some(Audience::H5)),
                appended
            ]
        );
    }

    #[test]
    fn a_torn_or_foreign_index_is_corrupt_not_misread() {
        let line = entry("a", 9, Some(Audience::Console)).line().unwrap();
        let torn = &line[..LINE_LEN - 1];
        let mut foreign_client = line.clone();
        foreign_client[LINE_LEN - 2] = b'x';
        let mut not_digits = line.clone();
        not_digits[SID_LEN + 1] = b'-';
        // Lines `line()` would never write, though a lenient parse would take them.
        let mut signed = line.clone();
        signed[SID_LEN + 1] = b'+';
        let mut foreign_sid = line.clone();
        foreign_sid[0] = b'/';
        let kinds = [torn, &foreign_client, &not_digits, &signed, &foreign_sid];
        for bytes in kinds.into_iter().chain([&b"[1]"[..], b"[{"]) {
            assert!(
                matches!(decode("index", bytes), Err(StoreError::Corrupt(_))),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        // Only session ids of the indexed form make a line.
        assert!(entry("a", 9, None).line().is_ok());
        let odd = IndexEntry {
            sid: "short".to_owned(),
            expires_at: 9,
            client: None,
        };
        assert!(odd.line().is_err());
    }

    #[test]
    fn a_bound_overflows_past_its_lines() {
        assert!(!overflows(2, 2 * LINE_LEN as u64));
        assert!(overflows(2, 2 * LINE_LEN as u64 + 1));
    }

    /// `live` entries at most, `keep` kept, none making room first.
    fn bound(live: usize, keep: &[String]) -> IndexBound<'_> {
        IndexBound {
            live,
            keep,
            first: &[],
        }
    }

    /// [`evict_oldest`] with the last entry as the one just opened.
    fn evict(entries: &mut Vec<IndexEntry>, bound: IndexBound<'_>) -> Vec<IndexEntry> {
        let opened = entries.last().expect("an entry").clone();
        evict_oldest(entries, &opened, bound)
    }

    fn sids(entries: &[IndexEntry]) -> Vec<&str> {
        entries.iter().map(|entry| entry.sid.as_str()).collect()
    }

    #[test]
    fn eviction_takes_the_oldest_past_the_bound_and_spares_the_kept_one() {
        let mut index = entries(&["a", "b", "c", "d", "e"]);
        let evicted = evict(&mut index, bound(3, &[]));
        assert_eq!(sids(&evicted), ["a", "b"]);
        assert_eq!(sids(&index), ["c", "d", "e"]);

        let mut index = entries(&["a", "b", "c", "d", "e"]);
        let evicted = evict(&mut index, bound(3, &["a".to_owned()]));
        assert_eq!(sids(&evicted), ["b", "c"]);
        assert_eq!(sids(&index), ["a", "d", "e"]);

        // Every ancestor of the new session stays: ending a grandparent would end it too.
        let mut index = entries(&["a", "b", "c", "d", "e"]);
        let evicted = evict(&mut index, bound(3, &["b".to_owned(), "a".to_owned()]));
        assert_eq!(sids(&evicted), ["c", "d"]);
        assert_eq!(sids(&index), ["a", "b", "e"]);

        let mut index = entries(&["a", "b"]);
        assert!(evict(&mut index, bound(3, &[])).is_empty());
        assert_eq!(sids(&index), ["a", "b"]);
    }

    #[test]
    fn eviction_takes_the_oldest_of_the_most_numerous_kind() {
        let bound = |live| bound(live, &[]);
        // A phone's session, then console logins it confirmed: the consoles make room, not the phone.
        let mut index = entries(&["m1", "c1", "c2", "c3"]);
        assert_eq!(sids(&evict(&mut index, bound(3))), ["c1"]);
        assert_eq!(sids(&index), ["m1", "c2", "c3"]);

        // A second phone logs in to a full index: a console goes, not the first phone.
        let mut index = entries(&["m1", "c1", "c2", "m2"]);
        assert_eq!(sids(&evict(&mut index, bound(3))), ["c1"]);
        assert_eq!(sids(&index), ["m1", "c2", "m2"]);

        // Equal counts: the new session's kind gives way; the new one itself never does.
        let mut index = entries(&["a", "m1", "m2", "m3"]);
        assert_eq!(sids(&evict(&mut index, bound(1))), ["m1", "m2", "a"]);
        assert_eq!(sids(&index), ["m3"]);
    }
}
