//! The floor under a ticket exchange: the Ed25519 signature of the token it hands out, timed alone.
//! Added to what bare axum spends on a request, it bounds the share of the ceiling an exchange can
//! reach on one core, whatever the store and the rest of the server cost.

use std::hint::black_box;
use std::time::Instant;

use ed25519_dalek::{Signer, SigningKey};

use crate::Samples;

/// About the length of a console token's header and claims, base64url-encoded: what is signed.
const SIGNED_BYTES: usize = 350;

/// Microseconds per signature, one sample per round of `per_round` signatures, signed on the
/// caller's thread (and CPU), after a round's worth made untimed so that the first round does not
/// pay for cold caches.
pub fn signature_micros(rounds: usize, per_round: u32) -> Samples {
    let key = SigningKey::from_bytes(&[7; 32]);
    let signed = vec![b'e'; SIGNED_BYTES];
    let sign = |count: u32| {
        for _ in 0..count {
            black_box(key.sign(black_box(&signed)));
        }
    };
    sign(per_round);
    Samples::new((0..rounds).map(|_| {
        let started = Instant::now();
        sign(per_round);
        started.elapsed().as_secs_f64() * 1e6 / f64::from(per_round.max(1))
    }))
}

/// The highest share of bare axum's exchange rate that a server spending `signature_us` more than
/// bare axum per exchange could reach on the same core: `ceiling_per_core` exchanges per
/// CPU-second of bare axum.
pub fn highest_share(ceiling_per_core: f64, signature_us: f64) -> f64 {
    let ceiling_us = 1e6 / ceiling_per_core.max(f64::EPSILON);
    ceiling_us / (ceiling_us + signature_us)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_as_long_as_a_ceiling_request_halves_the_share() {
        assert!((highest_share(100_000.0, 10.0) - 0.5).abs() < 1e-9);
        assert!((highest_share(100_000.0, 0.0) - 1.0).abs() < 1e-9);
        let timed = signature_micros(2, 5);
        assert_eq!(timed.count(), 2);
        assert!(timed.median() > 0.0);
    }
}
