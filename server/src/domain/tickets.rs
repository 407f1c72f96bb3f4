//! One-time login tickets: a mini program user hands one to an H5 page, which exchanges it for a
//! token exactly once. The store keeps only the ticket's hash, and remembers a used or expired
//! ticket for a while so the page learns *why* it failed.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::store::{Lifetime, Store};

use super::AuthError;
use super::clock::unix_now;
use super::records;
use super::secrets::{derived_token, is_token_shaped, random_token};
use super::sessions::{Condition, ParentSession};
use super::store_keys;

/// How long a ticket is remembered after it expires, to answer `ticket_used` / `ticket_expired`
/// rather than `ticket_invalid`.
const REMEMBERED_FOR: Duration = Duration::from_secs(3600);
/// What [`derived_token`] names the session a ticket opens with: no other identifier is derived so.
const SESSION_OF_TICKET: &str = "the session of login ticket";

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

/// Kept for [`REMEMBERED_FOR`] past its expiry; marking it used keeps the same end.
fn remembered(expires_at: u64) -> Lifetime {
    Lifetime::Until(expires_at + REMEMBERED_FOR.as_secs())
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

/// A ticket found unused and unexpired: whom it logs in, the session it opens, and the swap that
/// redeems it.
pub struct Redeemable {
    pub user_id: String,
    /// The session whose token minted the ticket: the one it opens derives from it.
    pub parent: Option<ParentSession>,
    /// The session the ticket opens, named by the ticket itself: callers that race to redeem one
    /// ticket all write the same session, and the one whose swap is made hands out its token.
    pub sid: String,
    /// The swap from this unused record to a used one, for the batch that opens the session: when
    /// another redeem's swap came first, the ticket is used ([`AuthError::TicketUsed`]).
    pub redeem: Condition,
}

/// Reads the ticket and checks it can be redeemed (the swap that does it is left to the caller).
pub async fn redeemable(store: &dyn Store, ticket: &str) -> Result<Redeemable, AuthError> {
    if !is_token_shaped(ticket) {
        return Err(AuthError::TicketInvalid);
    }
    let key = store_keys::ticket(ticket);
    let current = store.get(&key).await?.ok_or(AuthError::TicketInvalid)?;
    let record: TicketRecord = records::decode(&key, &current)?;
    if record.used {
        return Err(AuthError::TicketUsed);
    }
    if record.expires_at <= unix_now() {
        return Err(AuthError::TicketExpired);
    }
    let lifetime = remembered(record.expires_at);
    let user_id = record.user_id.clone();
    let parent = record.parent.clone();
    let used = records::encode(&TicketRecord {
        used: true,
        ..record
    })?;
    Ok(Redeemable {
        user_id,
        parent,
        sid: derived_token(SESSION_OF_TICKET, ticket),
        redeem: Condition {
            key,
            expected: current,
            new: used,
            lifetime,
        },
    })
}
