use std::sync::Arc;

use super::super::service::SessionUser;
use super::super::test_support::{
    Calls, Fault, FaultyStore, Interleaved, console_password_login, organizer, service_on, settings,
};
use super::*;
use crate::domain::service::ClientAddr;
use crate::store::Store;
use meeteasy_protocol::{ClientKind, PasswordLoginRequest};

/// Ann, with the password `first` for her login ann@example.org, and a service on `store`
/// whose console sessions of hers are `count` tokens' claims.
async fn ann_with_sessions(
    store: &Arc<FaultyStore>,
    count: usize,
) -> (super::super::test_support::TestService, Vec<Claims>) {
    let service = service_on(store.clone() as Arc<dyn Store>, settings(|_| {})).await;
    let ann = organizer(store.as_ref(), "ann").await;
    let first = passwords::hash(Secret::new("first")).await.unwrap();
    let set = |record: &mut users::UserRecord| record.password_hash = Some(first.clone());
    let ann = users::update(store.as_ref(), &ann.id, set).await.unwrap();
    let mut opened_sessions = Vec::new();
    for _ in 0..count {
        let opened = service.open_session(SessionUser::Known(&ann), console_password_login());
        let token = opened.await.unwrap().response.access_token;
        opened_sessions.push(service.verify(&token).await.unwrap());
    }
    (service, opened_sessions)
}

/// The claims of a console session of `user`, whose password is now `unused`.
async fn console_claims(service: &AuthService, user: &users::UserRecord) -> Claims {
    let hash = passwords::hash(Secret::new("unused")).await.unwrap();
    let set = |record: &mut users::UserRecord| record.password_hash = Some(hash.clone());
    let user = &users::update(service.store.as_ref(), &user.id, set)
        .await
        .unwrap();
    let opened = service.open_session(SessionUser::Known(user), console_password_login());
    let token = opened.await.unwrap().response.access_token;
    service.verify(&token).await.unwrap()
}

/// A console's password login request.
fn password_login(login: &str, password: &str) -> PasswordLoginRequest {
    PasswordLoginRequest {
        login: login.into(),
        password: password.into(),
        client: ClientKind::Console,
        device_name: None,
    }
}

/// Makes the login claim under way in `user_id`'s record `secs` older, as time passing would.
async fn age_claim(store: &dyn Store, user_id: &str, secs: u64) {
    let aged = users::update(store, user_id, |record| {
        if let Some(claim) = &mut record.claiming_login {
            claim.made_at = claim.made_at.map(|at| at - secs);
        }
    });
    aged.await.expect("the claim aged");
}

/// A change of the password login to `login` with `password`, given `current`.
fn change(login: &str, password: &str, current: &str) -> SetPasswordRequest {
    SetPasswordRequest {
        login: login.into(),
        password: password.into(),
        current_password: Some(current.into()),
    }
}

/// `request` of the caller `claims` made on another instance sharing `store`, as work to
/// fall between two steps of a change under test; it must succeed.
async fn changed_elsewhere(
    store: &Arc<FaultyStore>,
    claims: &Claims,
    request: SetPasswordRequest,
) -> Interleaved {
    let instance = service_on(store.clone() as Arc<dyn Store>, settings(|_| {})).await;
    let claims = claims.clone();
    Box::pin(async move {
        let changed = instance.set_password(&claims, request).await;
        changed.expect("the change made elsewhere");
    })
}

/// A password login checked against the old password while the password changes (the check
/// takes tens of milliseconds) opens no session: the change ended the sessions it found, and the
/// login's session, written after that, finds the new password and is ended with it; the team
/// list's last login stays the one before.
#[tokio::test]
async fn a_login_with_the_password_changed_while_it_was_checked_is_refused() {
    let store = FaultyStore::new();
    let (service, ann_sessions) = ann_with_sessions(&store, 1).await;
    let ann = ann_sessions[0].sub.clone();
    let note = store_keys::last_login(&ann);
    let noted_before = b"1700000000";
    let forever = crate::store::Lifetime::Forever;
    store.put(&note, noted_before, forever).await.unwrap();
    // Just before the login's session is listed in Ann's index, after its record is written.
    let changing = change("ann@example.org", "second", "first");
    let changed = changed_elsewhere(&store, &ann_sessions[0], changing).await;
    store.before_next(Calls::Write, &store_keys::user_sessions(&ann), changed);
    let login = |password: &str| password_login("ann@example.org", password);
    let from = ClientAddr("192.0.2.9".into());

    let with_the_old = service.password_login(login("first"), &from).await;
    assert!(store.all_faults_hit(), "the change ran in between");
    assert!(
        matches!(with_the_old, Err(AuthError::InvalidCredentials)),
        "{with_the_old:?}"
    );
    // The change's own session stays, as always; no other is left open.
    let listed = sessions::list(store.as_ref(), &ann, "").await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|session| session.id.as_str()).collect();
    assert_eq!(ids, [ann_sessions[0].sid.as_str()], "{listed:?}");
    let noted = store.get(&note).await.unwrap();
    assert_eq!(
        noted.as_deref(),
        Some(&noted_before[..]),
        "the refused login's note"
    );
    let with_the_new = service.password_login(login("second"), &from).await;
    assert_eq!(with_the_new.expect("the new password logs in").user.id, ann);
}

/// A wrong current password whose failure cannot be counted answers the store's error, as a
/// right one's change would on that store: the two must not be told apart uncounted.
#[tokio::test]
async fn a_wrong_current_password_that_cannot_be_counted_answers_the_store_s_error() {
    let store = FaultyStore::new();
    let (service, ann_sessions) = ann_with_sessions(&store, 1).await;
    let failures = store_keys::password_failures_for("ann@example.org");
    store.fail_next(Calls::Write, &failures, Fault::FailBefore);

    let guess = || change("ann@example.org", "second", "wrong");
    let uncounted = service.set_password(&ann_sessions[0], guess()).await;
    assert!(
        matches!(uncounted, Err(AuthError::Store(_))),
        "{uncounted:?}"
    );
    assert!(store.all_faults_hit(), "the count failed");
    let counted = service.set_password(&ann_sessions[0], guess()).await;
    assert!(
        matches!(counted, Err(AuthError::InvalidCredentials)),
        "{counted:?}"
    );
    let ann = service.user(&ann_sessions[0].sub).await.unwrap();
    let unchanged = passwords::verify(Secret::new("first"), ann.password_hash).await;
    assert!(unchanged.unwrap(), "the password is unchanged");
}

/// Letting go of the old login fails after the password and the login changed. The change
/// stands whole: the other sessions have ended, the old login logs in to nothing, and
/// another account may claim it.
#[tokio::test]
async fn an_old_login_that_cannot_be_let_go_is_left_behind_harmless() {
    let store = FaultyStore::new();
    let (service, ann_sessions) = ann_with_sessions(&store, 2).await;
    let old_login = store_keys::login("ann@example.org");
    store.fail_next(Calls::Write, &old_login, Fault::FailBefore);

    let moves = change("ann@example.com", "second", "first");
    service
        .set_password(&ann_sessions[0], moves)
        .await
        .expect("the change stands");
    assert!(store.all_faults_hit(), "the old login's release failed");
    let [caller, other] = [&ann_sessions[0], &ann_sessions[1]];
    let other_ended = sessions::is_revoked(store.as_ref(), &other.sub, &other.sid).await;
    assert!(other_ended.unwrap(), "the other session ended");
    let caller_ended = sessions::is_revoked(store.as_ref(), &caller.sub, &caller.sid).await;
    assert!(!caller_ended.unwrap(), "the caller's stays");

    let left_behind = store.get(&old_login).await.unwrap().expect("left behind");
    assert_eq!(login_claims::holder_id(&left_behind), caller.sub);
    let from = ClientAddr("192.0.2.9".into());
    let old = service.password_login(password_login("ann@example.org", "second"), &from);
    assert!(matches!(old.await, Err(AuthError::InvalidCredentials)));
    let new = service.password_login(password_login("ann@example.com", "second"), &from);
    assert_eq!(new.await.expect("the new login").user.id, caller.sub);

    let bob = organizer(store.as_ref(), "bob").await;
    let bob_claims = console_claims(&service, &bob).await;
    let takes_ann_s_old = change("ann@example.org", "bob's", "unused");
    service
        .set_password(&bob_claims, takes_ann_s_old)
        .await
        .expect("bob takes the login left behind");
    let taken = store.get(&old_login).await.unwrap().expect("taken over");
    assert_eq!(login_claims::holder_id(&taken), bob.id);
    let bob_now = service.password_login(password_login("ann@example.org", "bob's"), &from);
    assert_eq!(bob_now.await.expect("bob's login").user.id, bob.id);
}

/// Ann claims back the login she left behind while Bob is taking it over: Bob read her record
/// before her claim began. Her claim writes the key a value of its own, so Bob's swap of the
/// value he read fails, and he then finds her holding it: one claim wins, not both.
#[tokio::test]
async fn an_account_claiming_back_its_own_left_behind_login_is_not_overtaken() {
    let store = FaultyStore::new();
    let (service, ann_sessions) = ann_with_sessions(&store, 1).await;
    let ann_claims = ann_sessions[0].clone();
    let old_login = store_keys::login("ann@example.org");
    store.fail_next(Calls::Write, &old_login, Fault::FailBefore);
    let moved = service.set_password(&ann_claims, change("ann@example.com", "second", "first"));
    moved
        .await
        .expect("ann moves, leaving her old login behind");
    let bob = organizer(store.as_ref(), "bob").await;
    let bob_claims = console_claims(&service, &bob).await;
    // Once Bob has read Ann's record (before his swap), Ann claims her old login back.
    let back = change("ann@example.org", "third", "second");
    let ann_claims_it_back = changed_elsewhere(&store, &ann_claims, back).await;
    let before_bob_s_swap = {
        let (store, key) = (store.clone(), old_login.clone());
        async move { store.before_next(Calls::Write, &key, ann_claims_it_back) }
    };
    store.before_next(Calls::Write, &old_login, Box::pin(before_bob_s_swap));

    let bob_s = service.set_password(&bob_claims, change("ann@example.org", "bob's", "unused"));
    let refused = bob_s.await;
    assert!(
        store.all_faults_hit(),
        "ann claimed it back during bob's claim"
    );
    assert!(
        matches!(refused, Err(AuthError::IdentityInUse(_))),
        "{refused:?}"
    );
    let owner = users::by_login(store.as_ref(), "ann@example.org")
        .await
        .unwrap();
    assert_eq!(owner.map(|user| user.id), Some(ann_claims.sub.clone()));
    let bob_now = users::get(store.as_ref(), &bob.id).await.unwrap().unwrap();
    assert_eq!(bob_now.login.as_deref(), Some("bob@example.org"));
    assert_eq!(
        bob_now.claiming_login, None,
        "bob's refused claim is forgotten"
    );
}

/// Ann's change `second` in one console window, with `first`, made in another, written while it
/// runs (just before its first write of her record): `second` must answer `server_busy`. The
/// store and Ann's claims, for what the test checks next.
async fn loses_to_another_window(
    first: SetPasswordRequest,
    second: SetPasswordRequest,
) -> (Arc<FaultyStore>, Claims) {
    let store = FaultyStore::new();
    let (service, ann_sessions) = ann_with_sessions(&store, 1).await;
    let ann_claims = ann_sessions[0].clone();
    let written_first = changed_elsewhere(&store, &ann_claims, first).await;
    let ann_record = store_keys::user(&ann_claims.sub);
    store.before_next(Calls::Write, &ann_record, written_first);

    let refused = service.set_password(&ann_claims, second).await;
    assert!(
        store.all_faults_hit(),
        "the first change ran inside the second"
    );
    let busy = matches!(refused, Err(AuthError::Busy { .. }));
    assert!(busy, "{refused:?}");
    (store, ann_claims)
}

/// Two changes of one account at once (two console windows): one moves the login, the other
/// keeps it while changing the password, and the move writes first. The second must not put
/// back a login whose key the first let go of.
#[tokio::test]
async fn a_second_change_of_the_same_account_does_not_undo_the_first() {
    let moves = change("ann@example.com", "first", "first");
    let keeps = change("ann@example.org", "second", "first");
    let (store, ann_claims) = loses_to_another_window(moves, keeps).await;
    let by_new = users::by_login(store.as_ref(), "ann@example.com")
        .await
        .unwrap();
    assert_eq!(by_new.map(|user| user.id), Some(ann_claims.sub.clone()));
    let old_key = store
        .get(&store_keys::login("ann@example.org"))
        .await
        .unwrap();
    assert_eq!(old_key, None, "the first change let the old login go");
}

/// One window moves Ann's login to .com; a second, reading her account after that write,
/// moves it back to .org before the first has let .org go. The first lets go only of a value
/// Ann held .org by before and does not hold it by now, so the second's claim stands: also
/// when her record names no claim (an older instance wrote it again) and so held .org by any
/// value with her id.
#[tokio::test]
async fn letting_go_of_an_old_login_spares_a_claim_made_since_by_the_same_account() {
    for record_names_its_claim in [true, false] {
        let store = FaultyStore::new();
        let (service, ann_sessions) = ann_with_sessions(&store, 1).await;
        let ann_claims = ann_sessions[0].clone();
        if !record_names_its_claim {
            let forget = |record: &mut users::UserRecord| record.login_claim = None;
            let forgot = users::update(store.as_ref(), &ann_claims.sub, forget).await;
            forgot.unwrap();
        }
        let moves_to = |login: &str| change(login, "first", "first");
        let back = moves_to("ann@example.org");
        let moves_back = changed_elsewhere(&store, &ann_claims, back).await;
        // Just before the first window reads .org's key to let it go.
        let org = store_keys::login("ann@example.org");
        store.before_next(Calls::Read, &org, moves_back);

        let case = format!("record names its claim: {record_names_its_claim}");
        let first = service.set_password(&ann_claims, moves_to("ann@example.com"));
        first.await.expect("the first window's move");
        assert!(
            store.all_faults_hit(),
            "{case}: the second window ran inside"
        );
        let by_org = users::by_login(store.as_ref(), "ann@example.org").await;
        let by_org = by_org.unwrap().map(|user| user.id);
        assert_eq!(by_org, Some(ann_claims.sub.clone()), "{case}");
        let com = store.get(&store_keys::login("ann@example.com")).await;
        assert_eq!(com.unwrap(), None, "{case}: the second window let .com go");
    }
}

/// A move that loses to another change of the same account answers `server_busy` and lets
/// go of the login it claimed, so no one is kept from it.
#[tokio::test]
async fn a_move_that_loses_to_another_change_lets_its_claim_go() {
    let moves_to = |login: &str| change(login, "first", "first");
    let (store, ann_claims) =
        loses_to_another_window(moves_to("ann@example.com"), moves_to("ann@example.net")).await;
    let net = store
        .get(&store_keys::login("ann@example.net"))
        .await
        .unwrap();
    assert_eq!(net, None, "the claimed login is let go");
    let ann = users::get(store.as_ref(), &ann_claims.sub)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ann.login.as_deref(), Some("ann@example.com"));
    assert_eq!(ann.claiming_login, None);
}

/// Two windows of Ann's change at once, the other written first while this one runs: two
/// password changes (the later must not bring back a password changed since), or two moves
/// to one login (this one must not be told the login is another account's). This one answers
/// `server_busy`, and what the other wrote stands.
#[tokio::test]
async fn of_two_changes_of_one_account_at_once_the_first_written_stands() {
    let cases = [
        ("ann@example.org", "second", "ann@example.org", "third"),
        ("ann@example.com", "first", "ann@example.com", "first"),
    ];
    for (first_login, first_password, login, password) in cases {
        let case = format!("{first_login} then {login}");
        let first = change(first_login, first_password, "first");
        let second = change(login, password, "first");
        let (store, ann_claims) = loses_to_another_window(first, second).await;
        let ann = users::get(store.as_ref(), &ann_claims.sub)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ann.login.as_deref(), Some(first_login), "{case}");
        let first = Secret::new(first_password);
        let stands = passwords::verify(first, ann.password_hash).await.unwrap();
        assert!(stands, "{case}: the first window's password stands");
        let by_login = users::by_login(store.as_ref(), first_login).await.unwrap();
        assert_eq!(by_login.map(|user| user.id), Some(ann.id), "{case}");
    }
}

/// An older instance wrote Ann's record again, dropping the claim it does not know: she still
/// holds her login by her id, logs in with it, and lets it go when she moves.
#[tokio::test]
async fn a_record_that_lost_its_claim_keeps_and_lets_go_of_its_login() {
    let store = FaultyStore::new();
    let (service, ann_sessions) = ann_with_sessions(&store, 1).await;
    let ann_claims = ann_sessions[0].clone();
    let drop_claim = |record: &mut users::UserRecord| record.login_claim = None;
    users::update(store.as_ref(), &ann_claims.sub, drop_claim)
        .await
        .unwrap();
    let ann = users::by_login(store.as_ref(), "ann@example.org")
        .await
        .unwrap();
    assert_eq!(ann.map(|user| user.id), Some(ann_claims.sub.clone()));

    let moves = change("ann@example.com", "first", "first");
    service
        .set_password(&ann_claims, moves)
        .await
        .expect("moved");
    let org = store.get(&store_keys::login("ann@example.org")).await;
    assert_eq!(org.unwrap(), None, "the old login is let go");
}

/// Ann with a service, and Bob, whose change to shared@example.org stopped once he had taken
/// its key, before his record named the login: his claims, and his id.
async fn bob_stopped_claiming(
    store: &Arc<FaultyStore>,
) -> (
    super::super::test_support::TestService,
    Claims,
    Claims,
    String,
) {
    let (service, ann_sessions) = ann_with_sessions(store, 1).await;
    let bob = organizer(store.as_ref(), "bob").await;
    let bob_claims = console_claims(&service, &bob).await;
    let wanted = store_keys::login("shared@example.org");
    let bob_record = store_keys::user(&bob.id);
    let stop_bob_after_the_key = {
        let (store, bob_record) = (store.clone(), bob_record.clone());
        async move { store.fail_next(Calls::Write, &bob_record, Fault::FailBefore) }
    };
    store.before_next(Calls::Write, &wanted, Box::pin(stop_bob_after_the_key));
    let stopped = service.set_password(&bob_claims, shared("bob's", "unused"));
    assert!(matches!(stopped.await, Err(AuthError::Store(_))));
    assert!(store.all_faults_hit(), "bob's change stopped after the key");
    let ann_claims = ann_sessions[0].clone();
    (service, ann_claims, bob_claims, bob.id)
}

/// A change to shared@example.org with `password`, given `current`.
fn shared(password: &str, current: &str) -> SetPasswordRequest {
    change("shared@example.org", password, current)
}

/// A login another account is claiming (its key taken, its change not yet written, or
/// stopped there by a store failure) is held, not left behind: another claim is refused, it
/// logs in to nothing meanwhile, and the claimant's retry finishes the change.
#[tokio::test]
async fn a_login_being_claimed_is_not_taken_over() {
    let store = FaultyStore::new();
    let (service, ann_claims, bob_claims, bob) = bob_stopped_claiming(&store).await;

    let refused = service
        .set_password(&ann_claims, shared("ann's", "first"))
        .await;
    assert!(
        matches!(refused, Err(AuthError::IdentityInUse(_))),
        "{refused:?}"
    );
    let held = users::by_login(store.as_ref(), "shared@example.org").await;
    assert!(
        held.unwrap().is_none(),
        "a login being claimed logs in to nothing"
    );

    let retried = service.set_password(&bob_claims, shared("bob's", "unused"));
    retried.await.expect("bob's retry finishes his change");
    let bob_now = users::by_login(store.as_ref(), "shared@example.org").await;
    assert_eq!(bob_now.unwrap().map(|user| user.id), Some(bob));
}

/// A claim whose change stopped half way and was not sent again within the hour no longer
/// holds the login: another account takes it over, and the stopped change sent after that
/// finds it in use.
#[tokio::test]
async fn a_claim_stopped_long_ago_is_taken_over() {
    let store = FaultyStore::new();
    let (service, ann_claims, bob_claims, bob) = bob_stopped_claiming(&store).await;
    age_claim(store.as_ref(), &bob, login_claims::CLAIM_ABANDONED_AFTER).await;

    let taken = service.set_password(&ann_claims, shared("ann's", "first"));
    taken.await.expect("ann takes the abandoned login over");
    let ann_now = users::by_login(store.as_ref(), "shared@example.org").await;
    assert_eq!(ann_now.unwrap().map(|user| user.id), Some(ann_claims.sub));
    let late = service
        .set_password(&bob_claims, shared("bob's", "unused"))
        .await;
    assert!(matches!(late, Err(AuthError::IdentityInUse(_))), "{late:?}");
}

/// A change whose claim grew too old before its account was written (an instance paused, a
/// clock apart) does not write the login, which another account may have taken over: it lets
/// its claim go and answers `server_busy`, and sent again it makes a fresh claim.
#[tokio::test]
async fn a_claim_too_old_to_write_lets_go_and_is_made_afresh() {
    let store = FaultyStore::new();
    let (service, ann_sessions) = ann_with_sessions(&store, 1).await;
    let ann = ann_sessions[0].sub.clone();
    let wanted = store_keys::login("ann@example.com");
    let half_an_hour_passes = {
        let (store, ann) = (store.clone(), ann.clone());
        async move {
            age_claim(
                store.as_ref(),
                &ann,
                login_claims::CLAIM_ABANDONED_AFTER / 2,
            )
            .await;
        }
    };
    store.before_next(Calls::Write, &wanted, Box::pin(half_an_hour_passes));

    let moves = || change("ann@example.com", "second", "first");
    let late = service.set_password(&ann_sessions[0], moves()).await;
    assert!(store.all_faults_hit(), "the claim aged while it was made");
    assert!(matches!(late, Err(AuthError::Busy { .. })), "{late:?}");
    assert_eq!(
        store.get(&wanted).await.unwrap(),
        None,
        "its key was let go"
    );
    let ann_now = users::get(store.as_ref(), &ann).await.unwrap().unwrap();
    assert_eq!(ann_now.claiming_login, None, "and its mark");
    assert_eq!(ann_now.login.as_deref(), Some("ann@example.org"));

    let sent_again = service.set_password(&ann_sessions[0], moves()).await;
    sent_again.expect("sent again, it claims afresh");
    let ann_by_new = users::by_login(store.as_ref(), "ann@example.com").await;
    assert_eq!(ann_by_new.unwrap().map(|user| user.id), Some(ann));
}

/// Ending the other sessions fails once the new password is written: the answer says the
/// password changed, and how to end them, rather than leaving the caller to retry with a
/// password that is no longer the current one.
#[tokio::test]
async fn a_change_whose_sessions_cannot_end_says_the_password_changed() {
    let store = FaultyStore::new();
    let (service, ann_sessions) = ann_with_sessions(&store, 1).await;
    let (caller, ann_id) = (&ann_sessions[0], ann_sessions[0].sub.clone());
    let index = store_keys::user_sessions(&ann_id);
    store.fail_next(Calls::Read, &index, Fault::FailBefore);

    let new_password = change("ann@example.org", "second", "first");
    let said = service.set_password(caller, new_password).await;
    let said = said.unwrap_err();
    assert!(store.all_faults_hit(), "the sessions' index was read");
    let said = said.to_string();
    assert!(said.contains("the password was changed"), "{said}");
    let stored = users::get(store.as_ref(), &ann_id).await.unwrap().unwrap();
    let second = Secret::new("second");
    assert!(
        passwords::verify(second, stored.password_hash)
            .await
            .unwrap()
    );
}
