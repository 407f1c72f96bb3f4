//! A confirmed login survives its delivery going wrong: store faults injected around the moment
//! the console's token is handed over, and a poll dropped mid-delivery.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use meeteasy_protocol::{Claims, CreateSceneRequest, CreateSceneResponse, IsLoginResponse};

use crate::domain::scenes::record::SceneRecord;
use crate::domain::test_support::{
    Calls, Fault, FaultyStore, TestService, organizer, service_on, settings,
};
use crate::domain::{AuthError, ClientAddr, records, sessions, store_keys, unix_now, users};
use crate::store::{Lifetime, Store};

const WAIT: Duration = Duration::from_secs(1);
/// The phone session the organizer confirms from.
const PHONE_SESSION: &str = "ann-phone-session";

/// A scene just created, as its console holds it.
async fn new_scene(service: &TestService) -> CreateSceneResponse {
    let from = ClientAddr("127.0.0.1".into());
    let created = service.create_scene(CreateSceneRequest::default(), &from);
    created.await.expect("a scene")
}

/// A scene confirmed by an organizer, ready for its console to collect: (scene, poll token, user id).
async fn confirmed_scene(service: &TestService, store: &dyn Store) -> (String, String, String) {
    let created = new_scene(service).await;
    let user = organizer(store, "ann").await;
    service
        .confirm_as(&created.scene, &user, PHONE_SESSION)
        .await
        .expect("confirmed");
    (created.scene, created.poll_token, user.id)
}

/// The session a poll delivered, checked to be a live console token of `user_id`.
async fn delivered(
    service: &TestService,
    answer: Result<IsLoginResponse, AuthError>,
    user_id: &str,
) -> Claims {
    let Ok(IsLoginResponse::Confirmed { access_token, .. }) = answer else {
        panic!("expected the token, got {answer:?}");
    };
    let claims = service.verify(&access_token).await.expect("a valid token");
    assert_eq!(claims.sub, user_id);
    assert_eq!(claims.aud, meeteasy_protocol::Audience::Console);
    claims
}

async fn scan_logins(service: &TestService) -> usize {
    service
        .metrics()
        .render()
        .lines()
        .find_map(|line| line.strip_prefix("meeteasy_logins_total{method=\"scan\"} "))
        .map_or(0, |count| count.parse().expect("a count"))
}

#[tokio::test]
async fn a_delivery_whose_store_reply_was_lost_is_collected_again_by_the_same_poll_token() {
    let store = FaultyStore::new();
    let service = service_on(store.clone(), settings(|_| {})).await;
    let (scene, poll_token, user_id) = confirmed_scene(&service, store.as_ref()).await;
    // The store does the delivery's write, but the answer never comes back.
    store.fail_next(Calls::Write, &store_keys::scene(&scene), Fault::FailAfter);

    let lost = service.poll_scene(&scene, &poll_token, WAIT).await;
    assert!(matches!(lost, Err(AuthError::Store(_))), "{lost:?}");
    assert!(store.all_faults_hit());

    let again = service.poll_scene(&scene, &poll_token, WAIT).await;
    let first = delivered(&service, again, &user_id).await;
    // Once more: the same session, not a second one, and the same login in the team list.
    let twice = service.poll_scene(&scene, &poll_token, WAIT).await;
    assert_eq!(delivered(&service, twice, &user_id).await, first);
    assert_eq!(store.writes_to("last-login:"), 1, "one login, noted once");
}

/// A poll of `scene` whose batch writes the session's record, then fails at its swap of the scene
/// (which never reaches the store); answers once the clock has moved a second past it, so that
/// a later poll's token is made later than that record says.
async fn poll_failing_at_its_swap(
    service: &TestService,
    store: &FaultyStore,
    scene: &str,
    poll_token: &str,
) -> u64 {
    store.fail_next(Calls::Write, &store_keys::scene(scene), Fault::FailBefore);
    let failed = service.poll_scene(scene, poll_token, WAIT).await;
    assert!(matches!(failed, Err(AuthError::Store(_))), "{failed:?}");
    assert!(store.all_faults_hit());
    // The condition, not a pause.
    let failed_at = unix_now();
    while unix_now() <= failed_at {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    failed_at
}

/// The record of the session `claims` name matches them: it ends, and was last seen, as they say.
async fn assert_record_of(store: &FaultyStore, user_id: &str, claims: &Claims) {
    let record = sessions::get(store, user_id, &claims.sid).await;
    let record = record.unwrap().expect("the session's record");
    assert_eq!(record.expires_at, claims.exp, "{record:?}");
    assert_eq!(record.last_seen_at, claims.iat, "{record:?}");
}

/// A poll's batch wrote the session's record, then failed at its swap. The poll that delivers
/// later hands out a token of its own times, and the record becomes that token's.
#[tokio::test]
async fn a_delivery_after_one_that_failed_at_its_swap_keeps_the_record_of_its_own_token() {
    let store = FaultyStore::new();
    let service = service_on(store.clone(), settings(|_| {})).await;
    let (scene, poll_token, user_id) = confirmed_scene(&service, store.as_ref()).await;
    poll_failing_at_its_swap(&service, &store, &scene, &poll_token).await;

    let answer = service.poll_scene(&scene, &poll_token, WAIT).await;
    let claims = delivered(&service, answer, &user_id).await;
    assert_record_of(&store, &user_id, &claims).await;
}

/// As above, but the delivering poll's reply is lost after its swap, before it could take the
/// record over: the poll that collects the delivery again takes it over instead.
#[tokio::test]
async fn a_delivery_collected_again_takes_over_the_record_a_failed_poll_left() {
    let store = FaultyStore::new();
    let service = service_on(store.clone(), settings(|_| {})).await;
    let (scene, poll_token, user_id) = confirmed_scene(&service, store.as_ref()).await;
    let failed_at = poll_failing_at_its_swap(&service, &store, &scene, &poll_token).await;
    store.fail_next(Calls::Write, &store_keys::scene(&scene), Fault::FailAfter);
    let lost = service.poll_scene(&scene, &poll_token, WAIT).await;
    assert!(matches!(lost, Err(AuthError::Store(_))), "{lost:?}");
    assert!(store.all_faults_hit());

    let answer = service.poll_scene(&scene, &poll_token, WAIT).await;
    let claims = delivered(&service, answer, &user_id).await;
    assert!(
        claims.iat > failed_at,
        "the second poll's token: {claims:?}"
    );
    assert_record_of(&store, &user_id, &claims).await;
}

#[tokio::test]
async fn a_store_failure_reading_the_user_in_the_delivery_batch_is_collected_on_the_next_poll() {
    let store = FaultyStore::new();
    let service = service_on(store.clone(), settings(|_| {})).await;
    let (scene, poll_token, user_id) = confirmed_scene(&service, store.as_ref()).await;
    // The batch that writes the session and moves the scene reads the user last: that read fails.
    store.fail_next(Calls::Read, &store_keys::user(&user_id), Fault::FailBefore);

    let failed = service.poll_scene(&scene, &poll_token, WAIT).await;
    assert!(matches!(failed, Err(AuthError::Store(_))), "{failed:?}");
    assert!(store.all_faults_hit());

    let retried = service.poll_scene(&scene, &poll_token, WAIT).await;
    delivered(&service, retried, &user_id).await;
}

#[tokio::test]
async fn a_poll_dropped_after_the_delivery_leaves_the_login_to_the_next_poll() {
    let store = FaultyStore::new();
    let service = service_on(store.clone(), settings(|_| {})).await;
    let (scene, poll_token, user_id) = confirmed_scene(&service, store.as_ref()).await;
    // The delivery is written, then the console hangs up before the answer is sent.
    store.fail_next(Calls::Write, &store_keys::scene(&scene), Fault::HangAfter);

    let abandoned = tokio::time::timeout(
        Duration::from_millis(500),
        service.poll_scene(&scene, &poll_token, WAIT),
    )
    .await;
    assert!(abandoned.is_err(), "the poll hangs: {abandoned:?}");
    assert!(store.all_faults_hit());

    let next = service.poll_scene(&scene, &poll_token, WAIT).await;
    delivered(&service, next, &user_id).await;
}

#[tokio::test]
async fn concurrent_polls_of_a_confirmed_scene_get_one_session() {
    let store = FaultyStore::new();
    let service = Arc::new(service_on(store.clone(), settings(|_| {})).await);
    let (scene, poll_token, user_id) = confirmed_scene(&service, store.as_ref()).await;

    let polls = join_all((0..8).map(|_| service.poll_scene(&scene, &poll_token, WAIT))).await;
    let mut sessions = Vec::new();
    for answer in polls {
        sessions.push(delivered(&service, answer, &user_id).await.sid);
    }
    sessions.dedup();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(scan_logins(&service).await, 1);
}

#[tokio::test]
async fn a_delivered_scene_is_gone_after_its_grace_and_to_other_tokens_at_once() {
    let store = FaultyStore::new();
    let grace = Duration::from_secs(1);
    let service = service_on(
        store.clone(),
        settings(|s| s.lifetimes.delivered_scene = grace),
    )
    .await;
    let (scene, poll_token, user_id) = confirmed_scene(&service, store.as_ref()).await;
    let answer = service.poll_scene(&scene, &poll_token, WAIT).await;
    delivered(&service, answer, &user_id).await;

    let stranger = "A".repeat(43);
    let refused = service.poll_scene(&scene, &stranger, WAIT).await;
    assert!(
        matches!(refused, Err(AuthError::InvalidPollToken)),
        "{refused:?}"
    );
    // Past the grace (whole seconds, so up to one more).
    tokio::time::sleep(grace * 2 + Duration::from_millis(100)).await;
    let gone = service.poll_scene(&scene, &poll_token, WAIT).await;
    assert!(matches!(gone, Err(AuthError::SceneExpired)), "{gone:?}");
}

/// A fresh pending scene on a service over a [`FaultyStore`].
async fn pending_scene() -> (Arc<FaultyStore>, TestService, CreateSceneResponse) {
    let store = FaultyStore::new();
    let service = service_on(store.clone() as Arc<dyn Store>, settings(|_| {})).await;
    let created = new_scene(&service).await;
    (store, service, created)
}

/// A confirm whose write a Redis Cluster client sent twice (its first reply lost: the second finds
/// the write made and answers as if another caller had made it) still wakes the console waiting
/// on the scene, at once rather than at the end of its wait.
#[tokio::test]
async fn a_confirm_whose_write_was_resent_still_wakes_the_waiting_console() {
    let (store, service, created) = pending_scene().await;
    let user = organizer(store.as_ref(), "ann").await;
    let (scene, poll_token) = (&created.scene, &created.poll_token);
    // The first poll is told `pending`; the next one waits.
    let first = service.poll_scene(scene, poll_token, Duration::ZERO).await;
    assert!(matches!(first, Ok(IsLoginResponse::Pending)), "{first:?}");
    let waiting = service.poll_scene(scene, poll_token, Duration::from_secs(30));
    let confirm = async {
        let waiters = || {
            service
                .metrics()
                .render()
                .contains("meeteasy_islogin_waiters 1")
        };
        while !waiters() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        store.fail_next(Calls::Write, &store_keys::scene(scene), Fault::Resent);
        let confirmed = service.confirm_as(scene, &user, PHONE_SESSION).await;
        confirmed.expect("confirmed");
    };
    let (answer, ()) = tokio::time::timeout(Duration::from_secs(5), async {
        tokio::join!(waiting, confirm)
    })
    .await
    .expect("the waiting console was woken");
    delivered(&service, answer, &user.id).await;
}

#[tokio::test]
async fn a_poll_with_nothing_new_writes_nothing() {
    let (store, service, created) = pending_scene().await;
    let first = service
        .poll_scene(&created.scene, &created.poll_token, Duration::ZERO)
        .await;
    assert!(matches!(first, Ok(IsLoginResponse::Pending)), "{first:?}");
    let writes = store.writes_to("");
    let second = service
        .poll_scene(&created.scene, &created.poll_token, Duration::ZERO)
        .await;
    assert!(
        matches!(second, Err(AuthError::SlowDown { .. })),
        "polled within the interval: {second:?}"
    );
    assert_eq!(
        store.writes_to(""),
        writes,
        "the poll gate is a slot, not a stored record"
    );
}

#[tokio::test]
async fn a_poll_with_a_wrong_token_does_not_slow_the_console_down() {
    let (_store, service, created) = pending_scene().await;
    // The scene is in the QR for anyone to read; its poll token is the console's alone.
    let stranger = service
        .poll_scene(&created.scene, &"x".repeat(43), Duration::ZERO)
        .await;
    assert!(
        matches!(stranger, Err(AuthError::InvalidPollToken)),
        "{stranger:?}"
    );
    let console = service
        .poll_scene(&created.scene, &created.poll_token, Duration::ZERO)
        .await;
    assert!(
        matches!(console, Ok(IsLoginResponse::Pending)),
        "{console:?}"
    );
}

/// One round trip after the read that finds the scene confirmed, on a backend that batches: the
/// user is read in the batch that writes the session, not on its own before it.
#[tokio::test]
async fn a_delivery_reads_its_user_only_in_the_batch_that_writes_its_session() {
    let store = FaultyStore::new();
    let service = service_on(store.clone(), settings(|_| {})).await;
    let (scene, poll_token, user_id) = confirmed_scene(&service, store.as_ref()).await;
    let read_before = store.lone_reads().len();

    let answer = service.poll_scene(&scene, &poll_token, WAIT).await;
    let lone = store.lone_reads().split_off(read_before);
    delivered(&service, answer, &user_id).await;
    let user = store_keys::user(&user_id);
    assert!(!lone.contains(&user), "read on its own: {lone:?}");
}

/// A member taken off the team between the confirm and the delivery: no console token, and the
/// team list's last login stays the one before (the delivery's note, written beside the session
/// before the user was read, is taken back).
#[tokio::test]
async fn a_member_taken_off_the_team_after_confirming_gets_no_console_token() {
    let store = FaultyStore::new();
    let service = service_on(store.clone(), settings(|_| {})).await;
    let (scene, poll_token, user_id) = confirmed_scene(&service, store.as_ref()).await;
    let note = store_keys::last_login(&user_id);
    let before = b"1700000000";
    store.put(&note, before, Lifetime::Forever).await.unwrap();
    let mut user = users::get(store.as_ref(), &user_id)
        .await
        .unwrap()
        .expect("the user");
    user.roles.clear();
    users::save(store.as_ref(), &user).await.unwrap();

    let answer = service.poll_scene(&scene, &poll_token, WAIT).await;
    assert!(
        matches!(answer, Err(AuthError::ConfirmedByNonOrganizer)),
        "{answer:?}"
    );
    // The batch that swapped the scene to delivered wrote the session and read the user; the
    // user it read ended that session at once.
    let live = sessions::list(store.as_ref(), &user_id, "").await.unwrap();
    assert!(live.is_empty(), "no console session left: {live:?}");
    let after = store.get(&note).await.unwrap();
    assert_eq!(
        after.as_deref(),
        Some(&before[..]),
        "the refused login's note"
    );
}

/// An account gone between the confirm and the delivery (folded into another by a link): the
/// console is told the scene expired, the session written beside the read ends, and the team
/// list's last-login note written beside it does not outlive the account.
#[tokio::test]
async fn an_account_gone_after_confirming_gets_no_token_and_leaves_no_note() {
    let store = FaultyStore::new();
    let service = service_on(store.clone(), settings(|_| {})).await;
    let (scene, poll_token, user_id) = confirmed_scene(&service, store.as_ref()).await;
    // As a fold does it: the account's sessions end (the phone's among them), then it goes.
    end_phone_session(store.as_ref(), &user_id).await;
    store.delete(&store_keys::user(&user_id)).await.unwrap();

    let answer = service.poll_scene(&scene, &poll_token, WAIT).await;
    assert!(matches!(answer, Err(AuthError::SceneExpired)), "{answer:?}");
    let live = sessions::list(store.as_ref(), &user_id, "").await.unwrap();
    assert!(live.is_empty(), "no console session left: {live:?}");
    let note = store.get(&store_keys::last_login(&user_id)).await.unwrap();
    assert_eq!(note, None, "a last-login note outlived its account");
}

/// The phone session that confirmed ended before the console collected the login (the phone
/// logged out, was logged out from elsewhere, or its WeChat was unlinked): its confirm goes with
/// it, and no console session is handed out, now or to a poll again.
#[tokio::test]
async fn a_confirm_whose_phone_session_ended_logs_no_console_in() {
    let store = FaultyStore::new();
    let service = service_on(store.clone(), settings(|_| {})).await;
    let (scene, poll_token, user_id) = confirmed_scene(&service, store.as_ref()).await;
    end_phone_session(store.as_ref(), &user_id).await;
    // A user never noted before: the refused login leaves no note behind either.
    let note = store_keys::last_login(&user_id);
    store.delete(&note).await.unwrap();

    for poll in ["first", "again"] {
        let answer = service.poll_scene(&scene, &poll_token, WAIT).await;
        assert!(
            matches!(answer, Err(AuthError::SceneExpired)),
            "{poll}: {answer:?}"
        );
    }
    let live = sessions::list(store.as_ref(), &user_id, "").await.unwrap();
    assert!(live.is_empty(), "no console session left: {live:?}");
    let after = store.get(&note).await.unwrap();
    assert_eq!(after, None, "the refused login's note");
}

/// A delivery refused for its ended phone session, whose logout of the console session failed
/// (the scene had already moved to delivered): collecting it again reads the phone session's mark
/// too, and is refused, rather than handing out the session the first poll refused.
#[tokio::test]
async fn a_refused_delivery_whose_logout_failed_is_not_collected_again() {
    let store = FaultyStore::new();
    let service = service_on(store.clone(), settings(|_| {})).await;
    let (scene, poll_token, user_id) = confirmed_scene(&service, store.as_ref()).await;
    end_phone_session(store.as_ref(), &user_id).await;
    let index = store_keys::user_sessions(&user_id);
    store.fail_next(Calls::Read, &index, Fault::FailBefore);

    let first = service.poll_scene(&scene, &poll_token, WAIT).await;
    assert!(store.all_faults_hit(), "the logout read the index");
    assert!(matches!(first, Err(AuthError::Store(_))), "{first:?}");
    let again = service.poll_scene(&scene, &poll_token, WAIT).await;
    assert!(matches!(again, Err(AuthError::SceneExpired)), "{again:?}");
    let live = sessions::list(store.as_ref(), &user_id, "").await.unwrap();
    assert!(live.is_empty(), "no console session left: {live:?}");
}

/// The phone session ended on an instance whose clock runs ahead, so its mark says it ended after
/// the delivery's own time: the delivery read the mark in the batch that swapped the scene, which
/// proves it ended first, and refuses whatever the clocks say.
#[tokio::test]
async fn a_phone_session_ended_on_a_clock_ahead_still_takes_its_confirm() {
    let store = FaultyStore::new();
    let service = service_on(store.clone(), settings(|_| {})).await;
    let (scene, poll_token, user_id) = confirmed_scene(&service, store.as_ref()).await;
    let mark = store_keys::revoked_session(&user_id, PHONE_SESSION);
    let ahead = (crate::domain::unix_now() + 60).to_string();
    let lifetime = crate::store::Lifetime::For(Duration::from_secs(600));
    store.put(&mark, ahead.as_bytes(), lifetime).await.unwrap();

    let answer = service.poll_scene(&scene, &poll_token, WAIT).await;
    assert!(matches!(answer, Err(AuthError::SceneExpired)), "{answer:?}");
    let live = sessions::list(store.as_ref(), &user_id, "").await.unwrap();
    assert!(live.is_empty(), "no console session left: {live:?}");
}

/// The phone logs out after its login was delivered: the console's answer was lost, and the same
/// poll token collects the login again. The delivery stood when the phone session ended, so it is
/// handed out again, and the console session stays.
#[tokio::test]
async fn a_phone_logged_out_after_the_delivery_leaves_the_delivered_login_standing() {
    let store = FaultyStore::new();
    let service = service_on(store.clone(), settings(|_| {})).await;
    let (scene, poll_token, user_id) = confirmed_scene(&service, store.as_ref()).await;
    let answer = service.poll_scene(&scene, &poll_token, WAIT).await;
    let claims = delivered(&service, answer, &user_id).await;
    // Marked as ended a second after the delivery, as a logout then would mark it.
    let mark = store_keys::revoked_session(&user_id, PHONE_SESSION);
    let later = (claims.iat + 1).to_string();
    let lifetime = crate::store::Lifetime::For(Duration::from_secs(600));
    store.put(&mark, later.as_bytes(), lifetime).await.unwrap();

    let again = service.poll_scene(&scene, &poll_token, WAIT).await;
    let again = delivered(&service, again, &user_id).await;
    assert_eq!(again.sid, claims.sid, "the same session");
}

/// The phone confirms again from a new session just as a poll delivers: the poll's swap is lost
/// to the moved scene, and the session it wrote for the old confirm is ended, not left live for
/// nobody; the poll then delivers the login the new confirm made.
#[tokio::test]
async fn a_delivery_that_lost_its_swap_to_a_confirm_again_leaves_no_session_behind() {
    let store = FaultyStore::new();
    let service = service_on(store.clone(), settings(|_| {})).await;
    let (scene, poll_token, user_id) = confirmed_scene(&service, store.as_ref()).await;
    let racing = Arc::clone(&store);
    let key = store_keys::scene(&scene);
    let moved_key = key.clone();
    // As a confirm from another phone session moves it (see `transitions`).
    let confirm_again = async move {
        let bytes = racing.get(&moved_key).await.unwrap().expect("the scene");
        let record: SceneRecord = records::decode(&moved_key, &bytes).unwrap();
        let state = crate::domain::scenes::record::SceneState::Confirmed {
            user_id: record.owner().expect("its owner").to_owned(),
            by_session: Some("ann-next-phone-session".into()),
        };
        let next = record.moved_to(state, record.expires_at);
        let encoded = records::encode(&next).unwrap();
        let lifetime = next.lifetime();
        let swapped = racing.compare_and_swap(&moved_key, &bytes, &encoded, lifetime);
        assert!(swapped.await.unwrap(), "confirmed again");
    };
    store.before_next(Calls::Write, &key, Box::pin(confirm_again));

    let answer = service.poll_scene(&scene, &poll_token, WAIT).await;
    assert!(store.all_faults_hit(), "the confirm came first");
    let claims = delivered(&service, answer, &user_id).await;
    let live = sessions::list(store.as_ref(), &user_id, "").await.unwrap();
    let live: Vec<&str> = live.iter().map(|session| session.id.as_str()).collect();
    assert_eq!(live, [claims.sid.as_str()], "only the delivered session");
}

/// Ends the phone session the organizer confirmed from ([`PHONE_SESSION`]).
async fn end_phone_session(store: &dyn Store, user_id: &str) {
    let phone_end = crate::domain::unix_now() + 600;
    let ended = sessions::revoke_with_descendants(store, user_id, PHONE_SESSION, phone_end);
    ended.await.unwrap();
}

/// A logout that lands just before a redelivery writes the session's record again: the batch that
/// writes it reads the session's own mark after the write, so the ended session is neither handed
/// out nor brought back. (Read in a step of its own before the write, the mark missed it.)
#[tokio::test]
async fn a_logout_racing_a_delivery_collected_again_is_not_undone() {
    let store = FaultyStore::new();
    let service = service_on(store.clone(), settings(|_| {})).await;
    let (scene, poll_token, user_id) = confirmed_scene(&service, store.as_ref()).await;
    let answer = service.poll_scene(&scene, &poll_token, WAIT).await;
    let claims = delivered(&service, answer, &user_id).await;
    let racing = Arc::clone(&store);
    let (sub, sid, exp) = (claims.sub.clone(), claims.sid.clone(), claims.exp);
    let logout = async move {
        sessions::revoke_with_descendants(racing.as_ref(), &sub, &sid, exp)
            .await
            .expect("logged out");
    };
    let record_key = store_keys::session(&claims.sub, &claims.sid);
    store.before_next(Calls::Write, &record_key, Box::pin(logout));

    let again = service.poll_scene(&scene, &poll_token, WAIT).await;
    assert!(store.all_faults_hit(), "the logout ran");
    assert!(matches!(again, Err(AuthError::SceneExpired)), "{again:?}");
    let record = sessions::get(store.as_ref(), &claims.sub, &claims.sid)
        .await
        .unwrap();
    assert!(record.is_none(), "the ended session was not brought back");
}

#[tokio::test]
async fn a_delivery_collected_again_after_its_session_ended_is_refused_and_stays_ended() {
    let store = FaultyStore::new();
    let service = service_on(store.clone(), settings(|_| {})).await;
    let (scene, poll_token, user_id) = confirmed_scene(&service, store.as_ref()).await;
    let answer = service.poll_scene(&scene, &poll_token, WAIT).await;
    let claims = delivered(&service, answer, &user_id).await;
    service.logout(&claims).await.expect("logged out");

    let again = service.poll_scene(&scene, &poll_token, WAIT).await;
    assert!(matches!(again, Err(AuthError::SceneExpired)), "{again:?}");
    let record = sessions::get(store.as_ref(), &claims.sub, &claims.sid)
        .await
        .unwrap();
    assert!(record.is_none(), "the ended session was not brought back");
}

#[tokio::test]
async fn a_confirm_whose_notice_fails_is_still_made_and_reaches_the_next_poll() {
    let (store, service, created) = pending_scene().await;
    let user = organizer(store.as_ref(), "ann").await;
    let topic = store_keys::scene_changed(&created.scene);
    store.fail_next(Calls::Notify, &topic, Fault::FailBefore);
    service
        .confirm_as(&created.scene, &user, PHONE_SESSION)
        .await
        .expect("the phone is told its confirm was made");
    assert!(store.all_faults_hit());
    let answer = service
        .poll_scene(&created.scene, &created.poll_token, WAIT)
        .await;
    delivered(&service, answer, &user.id).await;
}

/// A record whose expiry is past any clock (damaged, or written by a broken peer) must not make a
/// waiting poll add it to the clock, which panics: the poll waits its own time and answers.
#[tokio::test]
async fn a_scene_stored_with_an_expiry_past_any_clock_is_waited_on_for_the_poll_s_time() {
    let (store, service, created) = pending_scene().await;
    let key = store_keys::scene(&created.scene);
    let bytes = store.get(&key).await.expect("read").expect("the scene");
    let mut record: SceneRecord = records::decode(&key, &bytes).expect("a scene record");
    record.expires_at = u64::MAX;
    let damaged = records::encode(&record).expect("encoded");
    store
        .put(&key, &damaged, record.lifetime())
        .await
        .expect("written");
    let waited = service.poll_scene(
        &created.scene,
        &created.poll_token,
        Duration::from_millis(50),
    );
    let answer = tokio::time::timeout(WAIT, waited)
        .await
        .expect("answered within its wait");
    assert!(matches!(answer, Ok(IsLoginResponse::Pending)), "{answer:?}");
}
