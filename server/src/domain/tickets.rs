//! One-time login tickets: a mini program user hands one to an H5 page, which exchanges it for a
//! token exactly once.
//!
//! A ticket carries what its exchange needs (whom it logs in, the session that minted it, when it
//! ends), sealed with a key of its own, derived from its random salt and the signing key
//! ([`KeyRing::ticket_key`]), so minting one writes nothing and redeeming one is the single batch
//! that opens its session: one round trip.
//! A ticket names the session it opens, and the record of that session is its redeem: of the
//! exchanges of one ticket, the one whose insert of the record is made hands out the token. The
//! ticket itself is never stored, nor a mark of its own: the session's record, or the mark of its
//! revocation, tells a page past the ticket's end *why* it failed.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::store::{Step, Store, outcomes};

use super::AuthError;
use super::clock::unix_now;
use super::secrets::{derived_token, fill_random};
use super::sessions::ParentSession;
use super::signing_keys::KeyRing;
use super::store_keys;

/// What [`derived_token`] names the session a ticket opens with: no other identifier is derived so.
const SESSION_OF_TICKET: &str = "the session of login ticket";
/// What a ticket is sealed as: nothing else sealed with its key opens as one.
const SEALED_AS: &str = "meeteasy-auth login ticket v1";
/// Far longer than any ticket minted (about 260 characters): longer input is not opened.
const MAX_TICKET_LEN: usize = 512;
/// A ticket's random salt, from which its key is derived: 128 bits, so no two tickets share a key.
const SALT_LEN: usize = 16;

/// What a ticket holds, sealed. Short names: the ticket is part of a URL.
#[derive(Serialize, Deserialize)]
struct TicketContent {
    /// The user it logs in.
    #[serde(rename = "u")]
    user_id: String,
    /// The session whose token minted it: the one it opens derives from it.
    #[serde(rename = "p")]
    parent: ParentSession,
    /// When it was minted (Unix seconds): the session it opens lives from then.
    #[serde(rename = "i")]
    minted_at: u64,
    /// When it expires (Unix seconds).
    #[serde(rename = "e")]
    expires_at: u64,
}

/// Mints a ticket for `user_id`, minted by the session `parent`, valid for `ttl`:
/// `{hint}.{salt}.{sealed}`, the hint naming the ring's key its own is derived from.
pub fn mint(
    keys: &KeyRing,
    user_id: &str,
    parent: ParentSession,
    ttl: Duration,
) -> Result<String, AuthError> {
    let now = unix_now();
    let content = TicketContent {
        user_id: user_id.to_owned(),
        parent,
        minted_at: now,
        expires_at: now + ttl.as_secs(),
    };
    let plaintext = serde_json::to_vec(&content)
        .map_err(|e| AuthError::Internal(format!("cannot encode a ticket: {e}")))?;
    let mut salt = [0u8; SALT_LEN];
    fill_random(&mut salt)?;
    let (hint, key) = keys.ticket_key(&salt);
    let sealed = key
        .seal(SEALED_AS, &plaintext)
        .map_err(|e| AuthError::Internal(e.to_string()))?;
    let ticket = format!("{hint}.{}.{sealed}", URL_SAFE_NO_PAD.encode(salt));
    if ticket.len() > MAX_TICKET_LEN {
        // No exchange would open it: say so now rather than hand out a ticket that cannot work.
        return Err(AuthError::Internal(format!(
            "a ticket for user {user_id} would be {} characters, over {MAX_TICKET_LEN}",
            ticket.len()
        )));
    }
    Ok(ticket)
}

/// A ticket found sealed by the ring, unexpired and minted by a session that has not ended: whom it
/// logs in, and the session it opens.
pub struct Redeemable {
    pub user_id: String,
    /// The session whose token minted the ticket: the one it opens derives from it.
    pub parent: ParentSession,
    /// The session the ticket opens, named by the ticket itself: callers that race to redeem one
    /// ticket all write the same session, and the one whose insert of its record is made hands out
    /// its token; for the others the ticket is used ([`AuthError::TicketUsed`]).
    pub sid: String,
    /// When the ticket was minted: the session it opens lives from then.
    pub minted_at: u64,
}

/// Opens the ticket and checks it can be redeemed (the insert that does it is left to the caller).
/// Only a ticket past its end, or past its minting session's, costs a store read: whether it was
/// used (its session was opened, and is still there or was ended) is worth telling its page.
pub async fn redeemable(
    store: &dyn Store,
    keys: &KeyRing,
    ticket: &str,
) -> Result<Redeemable, AuthError> {
    let content = opened(keys, ticket).ok_or(AuthError::TicketInvalid)?;
    let sid = derived_token(SESSION_OF_TICKET, ticket);
    let now = unix_now();
    if content.expires_at <= now || content.parent.expires_at <= now {
        let user_id = &content.user_id;
        let (session, revoked) = (
            store_keys::session(user_id, &sid),
            store_keys::revoked_session(user_id, &sid),
        );
        let reads = [Step::Get(&session), Step::Get(&revoked)];
        let [session, revoked] = outcomes(store.batch(&reads).await?)?;
        return Err(match (session.into_read()?, revoked.into_read()?) {
            (None, None) => AuthError::TicketExpired,
            (Some(_), _) | (_, Some(_)) => AuthError::TicketUsed,
        });
    }
    Ok(Redeemable {
        user_id: content.user_id,
        parent: content.parent,
        sid,
        minted_at: content.minted_at,
    })
}

/// What `ticket` holds, if one of the ring's keys sealed it as a ticket.
fn opened(keys: &KeyRing, ticket: &str) -> Option<TicketContent> {
    if ticket.len() > MAX_TICKET_LEN {
        return None;
    }
    let (hint, rest) = ticket.split_once('.')?;
    let (salt, sealed) = rest.split_once('.')?;
    let salt = URL_SAFE_NO_PAD.decode(salt).ok()?;
    if salt.len() != SALT_LEN {
        return None;
    }
    let plaintext = keys
        .ticket_key_for(hint, &salt)?
        .open(SEALED_AS, sealed)
        .ok()?;
    serde_json::from_slice(&plaintext).ok()
}

#[cfg(test)]
mod tests {
    use super::super::secrets::random_token;
    use super::super::test_support::FaultyStore;
    use super::*;
    use crate::store::Lifetime;

    /// A ring whose current key is `seed` (URL-safe base64 of 32 bytes).
    fn test_ring(seed: &str) -> KeyRing {
        KeyRing::from_seeds(seed, "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8")
    }
    const SEED: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    const OTHER_SEED: &str = "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8";

    fn parent() -> ParentSession {
        ParentSession {
            sid: random_token().unwrap(),
            expires_at: unix_now() + 3600,
        }
    }

    #[test]
    fn a_ticket_opens_with_the_ring_that_minted_it_and_tells_nothing_in_clear() {
        let ring = test_ring(SEED);
        let parent = parent();
        let ticket = mint(&ring, "u-ann", parent.clone(), Duration::from_secs(120)).unwrap();
        assert!(
            ticket
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
            "URL-safe: {ticket}"
        );
        assert!(ticket.len() <= MAX_TICKET_LEN, "{}", ticket.len());
        assert!(!ticket.contains("u-ann") && !ticket.contains(&parent.sid));
        let content = opened(&ring, &ticket).expect("it opens");
        assert_eq!(content.user_id, "u-ann");
        assert_eq!(content.parent, parent);
        let again = mint(&ring, "u-ann", parent, Duration::from_secs(120)).unwrap();
        assert_ne!(ticket, again, "no two tickets alike");
    }

    #[tokio::test]
    async fn a_ticket_past_its_end_or_its_parents_says_whether_it_was_used() {
        let store = FaultyStore::new();
        let ring = test_ring(SEED);
        let ended_parent = ParentSession {
            expires_at: unix_now() - 1,
            ..parent()
        };
        let tickets = [
            mint(&ring, "u-ann", parent(), Duration::ZERO).unwrap(),
            mint(&ring, "u-ann", ended_parent, Duration::from_secs(120)).unwrap(),
        ];
        let lifetime = Lifetime::For(Duration::from_secs(60));
        for ticket in tickets {
            let refused = redeemable(store.as_ref(), &ring, &ticket).await;
            assert!(matches!(refused, Err(AuthError::TicketExpired)));
            // Used: the session it opened is still there, or was ended since (its mark is).
            let sid = derived_token(SESSION_OF_TICKET, &ticket);
            let traces = [
                store_keys::session("u-ann", &sid),
                store_keys::revoked_session("u-ann", &sid),
            ];
            for trace in traces {
                assert!(store.insert_new(&trace, b"{}", lifetime).await.unwrap());
                let refused = redeemable(store.as_ref(), &ring, &ticket).await;
                assert!(matches!(refused, Err(AuthError::TicketUsed)), "{trace}");
                assert!(store.take(&trace).await.unwrap().is_some());
            }
        }
    }

    #[test]
    fn a_ticket_altered_forged_or_from_another_ring_does_not_open() {
        let ring = test_ring(SEED);
        let ticket = mint(&ring, "u-ann", parent(), Duration::from_secs(120)).unwrap();
        assert!(opened(&test_ring(OTHER_SEED), &ticket).is_none());
        let parts: Vec<&str> = ticket.split('.').collect();
        let [hint, salt, sealed] = parts[..] else {
            panic!("three parts: {ticket}");
        };
        let flipped = |c: char| if c == 'A' { 'B' } else { 'A' };
        let altered = |part: &str, at: usize| -> String {
            let mut chars: Vec<char> = part.chars().collect();
            chars[at] = flipped(chars[at]);
            chars.into_iter().collect()
        };
        for forged in [
            format!("{hint}.{salt}.{}", altered(sealed, 30)),
            format!("{hint}.{}.{sealed}", altered(salt, 3)),
            format!("{}.{salt}.{sealed}", altered(hint, 0)),
            format!("{hint}.{sealed}"),
            format!("{hint}.{}.{sealed}", &salt[..20]),
            String::new(),
            "..".to_owned(),
            "A".repeat(43),
            format!("{ticket}{}", "A".repeat(512)),
        ] {
            assert!(opened(&ring, &forged).is_none(), "{forged}");
        }
    }
}
