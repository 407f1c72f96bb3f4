//! One-time login tickets: a mini program user hands one to an H5 page, which exchanges it for a
//! token exactly once. The store keeps only the ticket's hash, and remembers a used or expired
//! ticket for a while so the page learns *why* it failed.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::store::{Lifetime, Outcome, Step, Store, StoreError};

use super::AuthError;
use super::clock::unix_now;
use super::records;
use super::secrets::{is_token_shaped, random_token};
use super::sessions::ParentSession;
use super::store_keys;

/// How long a ticket is remembered after it expires, to answer `ticket_used` / `ticket_expired`
/// rather than `ticket_invalid`.
const REMEMBERED_FOR: Duration = Duration::from_secs(3600);

#[derive(Serialize, Deserialize)]
struct TicketRecord {
    user_id: String,
    expires_at: u64,
    used: bool,
    /// The session whose token minted the ticket: the one it opens is derived from it. (Absent in
    /// tickets minted before sessions were kept.)
    #[serde(default)]
    parent: Option<ParentSession>,
}

/// Who a redeemed ticket logs in, and the session it derives from.
pub struct Redeemed {
    pub user_id: String,
    pub parent: Option<ParentSession>,
}

fn remembered(expires_at: u64) -> Lifetime {
    let until = expires_at + REMEMBERED_FOR.as_secs();
    Lifetime::For(Duration::from_secs(until.saturating_sub(unix_now()).max(1)))
}

/// Mints a ticket for `user_id`, minted by the session `parent`, valid for `ttl`.
pub async fn mint(
    store: &dyn Store,
    user_id: &str,
    parent: ParentSession,
    ttl: Duration,
) -> Result<String, AuthError> {
    let ticket = random_token()?;
    let expires_at = unix_now() + ttl.as_secs();
    let record = TicketRecord {
        user_id: user_id.to_owned(),
        expires_at,
        used: false,
        parent: Some(parent),
    };
    store
        .put(
            &store_keys::ticket(&ticket),
            &records::encode(&record)?,
            remembered(expires_at),
        )
        .await?;
    Ok(ticket)
}

/// Marks the ticket used and returns whom it logs in, with the records under the keys `reading`
/// names for that login, read in the same batch (one round trip) as the ticket is marked. Of
/// concurrent redeems, exactly one succeeds.
pub async fn redeem_reading(
    store: &dyn Store,
    ticket: &str,
    reading: impl Fn(&Redeemed) -> Vec<String>,
) -> Result<(Redeemed, Vec<Option<Vec<u8>>>), AuthError> {
    if !is_token_shaped(ticket) {
        return Err(AuthError::TicketInvalid);
    }
    let key = store_keys::ticket(ticket);
    loop {
        let current = store.get(&key).await?.ok_or(AuthError::TicketInvalid)?;
        let record: TicketRecord = records::decode(&key, &current)?;
        if record.used {
            return Err(AuthError::TicketUsed);
        }
        if record.expires_at <= unix_now() {
            return Err(AuthError::TicketExpired);
        }
        let expires_at = record.expires_at;
        let redeemed = Redeemed {
            user_id: record.user_id.clone(),
            parent: record.parent.clone(),
        };
        let used = records::encode(&TicketRecord {
            used: true,
            ..record
        })?;
        let keys = reading(&redeemed);
        let mark_used = Step::CompareAndSwap {
            key: &key,
            expected: &current,
            new: &used,
            lifetime: remembered(expires_at),
        };
        let steps: Vec<Step<'_>> = std::iter::once(mark_used)
            .chain(keys.iter().map(|key| Step::Get(key)))
            .collect();
        let mut outcomes = store.batch(&steps).await?.into_iter();
        let marked = outcomes
            .next()
            .ok_or_else(|| StoreError::Corrupt("a batch answered no steps".to_owned()))?;
        if marked.written()? {
            let read = outcomes.map(Outcome::into_read).collect::<Result<_, _>>()?;
            return Ok((redeemed, read));
        }
        // Someone changed the ticket first (redeemed it): decide again on what is there now.
    }
}
