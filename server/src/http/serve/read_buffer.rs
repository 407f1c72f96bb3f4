//! Letting go of the connection's read buffer. hyper parses a request's target and header values
//! as slices of the buffer it read them into, and while any slice lives, its next read of the
//! connection (which it makes while the request is answered) goes to a fresh 8 KiB buffer: the
//! first write to it faults a page in, and freeing the old one gives its page back, since the
//! allocator keeps no freed block that large (see `cli/src/allocator.rs`). Copies of those few
//! hundred bytes cost less: a request that will not wait (any but a long-poll) gives its slices
//! up for them, and the connection reads on in the buffer it has. A body's data cannot be given
//! back so: hyper reads a small body into the body's channel and reads ahead in the same turn,
//! before the handler is first polled (a copy made as the handler reads it gained nothing).
//!
//! A long-poll keeps its slices. While it waits, its connection then holds the fresh buffer, which
//! nobody wrote and which costs no memory, where the old one would hold a written page: about
//! 4 KiB more per waiting console.

use axum::http::request::Parts;
use axum::http::{HeaderValue, Uri};

/// Gives up `parts`' slices of the read buffer unless the request may wait (`wait` above zero).
pub fn let_go(parts: &mut Parts) {
    if may_wait(&parts.uri) {
        return;
    }
    // A target or value the copy refuses keeps its slice: only the saving is lost.
    if let Ok(uri) = parts.uri.to_string().parse::<Uri>() {
        parts.uri = uri;
    }
    for value in parts.headers.values_mut() {
        if let Ok(mut copy) = HeaderValue::from_bytes(value.as_bytes()) {
            copy.set_sensitive(value.is_sensitive());
            *value = copy;
        }
    }
}

/// Whether the request asks to wait: a `wait` parameter that `islogin` reads as above zero (the
/// query decoded as axum's `Query` decodes it; a value it would refuse is answered at once).
fn may_wait(uri: &Uri) -> bool {
    let Some(query) = uri.query() else {
        return false;
    };
    form_urlencoded::parse(query.as_bytes())
        .any(|(name, value)| name == "wait" && value.parse::<u64>().is_ok_and(|wait| wait > 0))
}

#[cfg(test)]
mod tests {
    use std::ops::Range;

    use axum::body::Bytes;
    use axum::http::Request;

    use super::*;

    /// Parts whose target and `authorization` value are slices of `buffer`, as hyper makes them.
    fn parts_in(buffer: &Bytes, target: &str) -> Parts {
        let start = buffer.len() - target.len() - "Bearer abc".len();
        let uri = Uri::from_maybe_shared(buffer.slice(start..start + target.len())).unwrap();
        let value = HeaderValue::from_maybe_shared(buffer.slice(start + target.len()..)).unwrap();
        let (mut parts, ()) = Request::get(uri).body(()).unwrap().into_parts();
        parts.headers.insert("authorization", value);
        parts
    }

    fn within(range: &Range<usize>, bytes: &[u8]) -> bool {
        range.contains(&(bytes.as_ptr() as usize))
    }

    #[test]
    fn a_request_that_will_not_wait_lets_go_of_the_buffer_and_a_long_poll_keeps_it() {
        for (target, keeps) in [
            ("/auth/me", false),
            ("/auth/scenes/s1/islogin?wait=30", true),
        ] {
            let buffer = Bytes::from(format!("GET HTTP/1.1 {target}Bearer abc"));
            let range = buffer.as_ptr() as usize..buffer.as_ptr() as usize + buffer.len();
            let mut parts = parts_in(&buffer, target);
            let_go(&mut parts);
            assert_eq!(parts.uri, target);
            assert_eq!(parts.headers["authorization"], "Bearer abc");
            assert_eq!(
                within(&range, parts.uri.path().as_bytes()),
                keeps,
                "{target}"
            );
            let value = parts.headers["authorization"].as_bytes();
            assert_eq!(within(&range, value), keeps, "{target}");
        }
    }

    fn parts(target: &str) -> Parts {
        let request = Request::get(target)
            .header("host", "auth.example")
            .header("authorization", "Bearer abc")
            .header("x-forwarded-for", "203.0.113.9")
            .header("x-forwarded-for", "198.51.100.2")
            .body(())
            .unwrap();
        let (mut parts, ()) = request.into_parts();
        parts
            .headers
            .get_mut("authorization")
            .unwrap()
            .set_sensitive(true);
        parts
    }

    #[test]
    fn a_request_that_will_not_wait_keeps_its_target_and_headers_as_they_were() {
        let target = "/auth/scenes/s1/islogin?wait=0&x=1";
        let before = parts(target);
        let mut after = parts(target);
        let_go(&mut after);
        assert_eq!(after.uri, before.uri);
        assert_eq!(after.uri.to_string(), target);
        assert_eq!(after.headers, before.headers);
        let forwarded: Vec<_> = after.headers.get_all("x-forwarded-for").iter().collect();
        assert_eq!(forwarded, ["203.0.113.9", "198.51.100.2"]);
        assert!(after.headers["authorization"].is_sensitive());
        assert!(!after.headers["host"].is_sensitive());
    }

    #[test]
    fn only_a_wait_above_zero_asks_to_wait() {
        let waits = [
            ("/auth/scenes/s1/islogin?wait=30", true),
            ("/auth/scenes/s1/islogin?x=1&wait=007", true),
            ("/auth/scenes/s1/islogin?%77ait=3%30", true),
            ("/auth/scenes/s1/islogin?wait=%2B5", true),
            ("/auth/scenes/s1/islogin?wait=0", false),
            ("/auth/scenes/s1/islogin?wait=000", false),
            ("/auth/scenes/s1/islogin?wait=", false),
            ("/auth/scenes/s1/islogin?wait=abc", false),
            ("/auth/scenes/s1/islogin?wait=+5", false),
            ("/auth/scenes/s1/islogin", false),
            ("/auth/scenes/s1/islogin?await=30", false),
            ("/auth/me", false),
        ];
        for (target, expected) in waits {
            assert_eq!(may_wait(&target.parse().unwrap()), expected, "{target}");
        }
    }
}
