//! Sessions over real HTTP on both stores: the list with `current`, ending one or all the others,
//! derived sessions dying with their root at any depth and never outliving it, the console's role
//! gate on password login, and every one of them across two instances (on one Redis here, on a
//! Cluster in `multi_instance`).

use std::time::Duration;

use futures_util::future::join_all;
use meeteasy_auth::config::Settings;
use meeteasy_protocol::{Audience, CreateSceneResponse, Session, SessionsResponse};
use meeteasy_tests::redis_server::RedisServer;
use meeteasy_tests::server::TestServer;
use serde_json::json;

use crate::both_stores::{Start, untouched};
use crate::flows::{claims_of, create_scene, islogin_path, scene_path};
use crate::multi_instance::two_instances;
use crate::team::console_by_scan;

on_both_stores!(
    a_phone_confirming_more_console_logins_than_a_user_keeps_stays_logged_in,
    the_list_shows_every_kind_of_session_with_current_right,
    ending_one_session_ends_it_and_what_derives_from_it,
    revoke_others_keeps_only_the_callers_session,
    revoke_others_from_a_derived_page_keeps_what_it_derives_from,
    a_three_deep_chain_dies_with_its_root,
    the_mini_programs_logout_ends_the_h5_sessions_its_tickets_opened,
    racing_exchanges_of_one_ticket_open_one_session,
    a_spent_ticket_replayed_after_its_session_ended_brings_nothing_back,
    a_spent_ticket_replayed_after_its_minting_session_ended_is_used,
    racing_polls_of_a_confirmed_scene_open_one_session,
    a_confirm_from_a_phone_logged_out_since_logs_no_console_in,
    a_derived_token_never_outlives_its_parent,
    other_users_and_malformed_session_ids_are_not_found,
    an_ended_sessions_id_is_not_found,
    console_password_login_needs_the_organizer_role,
);

/// Everything a case gets: how to start its server.
async fn sessions_of(server: &TestServer, token: &str) -> Vec<Session> {
    let reply = server.get("/auth/sessions", Some(token)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.json::<SessionsResponse>().sessions
}

/// The live sessions of `token`'s user of one kind.
async fn sessions_of_kind(server: &TestServer, token: &str, kind: Audience) -> Vec<Session> {
    let mut sessions = sessions_of(server, token).await;
    sessions.retain(|session| session.client == kind);
    sessions
}

async fn me_status(server: &TestServer, token: &str) -> (u16, String) {
    let reply = server.get("/auth/me", Some(token)).await;
    (reply.status, reply.code().to_owned())
}

const REVOKED: (u16, &str) = (401, "token_revoked");

/// `POST /auth/sessions/revoke-others` with `token`, answered 200: its `revoked` count.
async fn revoke_others(server: &TestServer, token: &str) -> serde_json::Value {
    let reply = server
        .post_empty("/auth/sessions/revoke-others", Some(token))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.body["revoked"].clone()
}

fn status(pair: &(u16, String)) -> (u16, &str) {
    (pair.0, pair.1.as_str())
}

/// Exchanges `ticket` as an H5 page on `device`, and returns the H5 token.
async fn exchange(server: &TestServer, ticket: &str, device: Option<&str>) -> String {
    let reply = server
        .post(
            "/auth/login-ticket/exchange",
            json!({"login_ticket": ticket, "device_name": device}),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.body["access_token"].as_str().unwrap().to_owned()
}

/// A fresh ticket minted by `token`'s session.
async fn ticket_of(server: &TestServer, token: &str) -> String {
    let reply = server.post_empty("/auth/login-ticket", Some(token)).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    reply.body["login_ticket"].as_str().unwrap().to_owned()
}

async fn the_list_shows_every_kind_of_session_with_current_right(start: impl Start) {
    let backend = start(untouched).await;
    let server = &backend.server;
    let phone = server.dev_login("alice").await;
    let h5 = exchange(server, &phone.login_ticket, Some("Phone browser")).await;
    let console = console_by_scan(server, &phone.access_token).await;

    let listed = sessions_of(server, &console).await;
    let kinds: Vec<_> = listed
        .iter()
        .map(|s| (s.client.as_str(), s.device_name.as_deref(), s.current))
        .collect();
    assert_eq!(
        kinds,
        [
            ("console", Some("Front desk"), true),
            ("h5", Some("Phone browser"), false),
            ("miniprogram", None, false),
        ],
        "newest first: {listed:?}"
    );
    for session in &listed {
        assert_eq!(session.ip, "127.0.0.1");
        assert!(session.last_seen_at >= session.created_at);
    }
    assert_eq!(listed[0].methods, ["wechat", "scan"]);
    assert_eq!(listed[0].id, claims_of(&console)["sid"]);
    // The same list from the H5 page marks the H5 session.
    let from_h5 = sessions_of(server, &h5).await;
    let current: Vec<_> = from_h5
        .iter()
        .filter(|s| s.current)
        .map(|s| s.client)
        .collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].as_str(), "h5");

    // A console that gives no name is shown to the phone under a generic one, but its session
    // keeps none: the console's list words it in its own language.
    let reply = server.post("/auth/scenes", json!({}), None).await;
    let scene: CreateSceneResponse = reply.json();
    let scanned = server
        .post_empty(&scene_path(&scene, "scan"), Some(&phone.access_token))
        .await;
    assert_eq!(scanned.body["console"]["device_name"], "Desktop console");
    let confirmed = server
        .post_empty(&scene_path(&scene, "confirm"), Some(&phone.access_token))
        .await;
    assert_eq!(confirmed.status, 204, "{confirmed:?}");
    let polled = server
        .get(&islogin_path(&scene, 0), Some(&scene.poll_token))
        .await;
    let unnamed = polled.body["access_token"].as_str().unwrap().to_owned();
    let listed = sessions_of(server, &unnamed).await;
    let this = listed.iter().find(|s| s.current).expect("its own session");
    assert_eq!(this.device_name, None, "{listed:?}");
}

async fn ending_one_session_ends_it_and_what_derives_from_it(start: impl Start) {
    let backend = start(untouched).await;
    let server = &backend.server;
    let phone = server.dev_login("bob").await;
    let h5 = exchange(server, &phone.login_ticket, None).await;
    let console = console_by_scan(server, &phone.access_token).await;
    let phone_sid = claims_of(&phone.access_token)["sid"]
        .as_str()
        .unwrap()
        .to_owned();

    let reply = server
        .http()
        .delete(server.url(&format!("/auth/sessions/{phone_sid}")))
        .bearer_auth(&console)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 204);
    assert_eq!(
        status(&me_status(server, &phone.access_token).await),
        REVOKED
    );
    assert_eq!(
        status(&me_status(server, &h5).await),
        REVOKED,
        "derived from it"
    );
    assert_eq!(me_status(server, &console).await.0, 200);
    let left: Vec<_> = sessions_of(server, &console).await;
    assert_eq!(left.len(), 1, "{left:?}");
}

async fn revoke_others_keeps_only_the_callers_session(start: impl Start) {
    let backend = start(untouched).await;
    let server = &backend.server;
    let phone = server.dev_login("cleo").await;
    let console = console_by_scan(server, &phone.access_token).await;
    let other_console = console_by_scan(server, &phone.access_token).await;
    let h5_of_console = exchange(server, &ticket_of(server, &console).await, None).await;

    // The mini program session, the other console, and the H5 page this console opened.
    assert_eq!(revoke_others(server, &console).await, 3);
    assert_eq!(me_status(server, &console).await.0, 200);
    for token in [&phone.access_token, &other_console, &h5_of_console] {
        assert_eq!(status(&me_status(server, token).await), REVOKED);
    }
    assert_eq!(sessions_of(server, &console).await.len(), 1);
}

/// Ending the sessions a page derives from would end the page too: revoke-others keeps them.
async fn revoke_others_from_a_derived_page_keeps_what_it_derives_from(start: impl Start) {
    let backend = start(untouched).await;
    let server = &backend.server;
    let phone = server.dev_login("cora").await;
    let console = console_by_scan(server, &phone.access_token).await;
    let first_h5 = exchange(server, &ticket_of(server, &phone.access_token).await, None).await;
    let second_h5 = exchange(server, &ticket_of(server, &first_h5).await, None).await;
    let sibling_h5 = exchange(server, &ticket_of(server, &first_h5).await, None).await;

    // The console and the other page of the first one; not the phone nor the first page.
    assert_eq!(revoke_others(server, &second_h5).await, 2);
    for token in [&phone.access_token, &first_h5, &second_h5] {
        assert_eq!(me_status(server, token).await.0, 200);
    }
    for token in [&console, &sibling_h5] {
        assert_eq!(status(&me_status(server, token).await), REVOKED);
    }
    assert_eq!(sessions_of(server, &second_h5).await.len(), 3);
}

async fn a_three_deep_chain_dies_with_its_root(start: impl Start) {
    let backend = start(untouched).await;
    let server = &backend.server;
    let phone = server.dev_login("dina").await;
    let console = console_by_scan(server, &phone.access_token).await;
    let first_h5 = exchange(server, &ticket_of(server, &console).await, None).await;
    let second_h5 = exchange(server, &ticket_of(server, &first_h5).await, None).await;
    let unused_ticket = ticket_of(server, &second_h5).await;

    assert_eq!(
        server
            .post_empty("/auth/logout", Some(&console))
            .await
            .status,
        204
    );
    for token in [&console, &first_h5, &second_h5] {
        assert_eq!(status(&me_status(server, token).await), REVOKED);
    }
    // A ticket minted inside the chain opens nothing once the chain is gone.
    let late = server
        .post(
            "/auth/login-ticket/exchange",
            json!({"login_ticket": unused_ticket}),
            None,
        )
        .await;
    late.assert_error(401, "ticket_expired");
    assert_eq!(
        me_status(server, &phone.access_token).await.0,
        200,
        "not in the chain"
    );
}

async fn the_mini_programs_logout_ends_the_h5_sessions_its_tickets_opened(start: impl Start) {
    let backend = start(untouched).await;
    let server = &backend.server;
    let phone = server.dev_login("emil").await;
    let from_login = exchange(server, &phone.login_ticket, None).await;
    let from_mint = exchange(server, &ticket_of(server, &phone.access_token).await, None).await;
    assert_eq!(
        server
            .post_empty("/auth/logout", Some(&phone.access_token))
            .await
            .status,
        204
    );
    for token in [&from_login, &from_mint] {
        assert_eq!(status(&me_status(server, token).await), REVOKED);
    }
}

async fn racing_exchanges_of_one_ticket_open_one_session(start: impl Start) {
    let backend = start(untouched).await;
    let server = &backend.server;
    let phone = server.dev_login("gus").await;
    let body = json!({"login_ticket": phone.login_ticket, "device_name": "Kiosk"});
    let replies =
        join_all((0..20).map(|_| server.post("/auth/login-ticket/exchange", body.clone(), None)))
            .await;
    let winners: Vec<_> = replies.iter().filter(|reply| reply.status == 200).collect();
    let used = replies.iter().filter(|r| r.code() == "ticket_used").count();
    assert_eq!((winners.len(), used), (1, 19), "{replies:?}");
    let token = winners[0].body["access_token"].as_str().unwrap();
    assert_eq!(me_status(server, token).await.0, 200);
    // The losers wrote the winner's session, not sessions of their own.
    let h5 = sessions_of_kind(server, &phone.access_token, Audience::H5).await;
    assert_eq!(h5.len(), 1, "{h5:?}");
    assert_eq!(json!(h5[0].id), claims_of(token)["sid"]);
    assert_eq!(h5[0].device_name.as_deref(), Some("Kiosk"));
}

/// A replay of a spent ticket writes its session's record again in the exchange's one batch (only
/// the ticket's mark decides who gets a token): after that session was logged out, the replay gets
/// no token and the ended session does not come back to the list.
async fn a_spent_ticket_replayed_after_its_session_ended_brings_nothing_back(start: impl Start) {
    let backend = start(untouched).await;
    let server = &backend.server;
    let phone = server.dev_login("hana").await;
    let h5 = exchange(server, &phone.login_ticket, Some("Kiosk")).await;
    let reply = server.post_empty("/auth/logout", Some(&h5)).await;
    assert_eq!(reply.status, 204, "{reply:?}");
    let body = json!({"login_ticket": phone.login_ticket, "device_name": "Kiosk"});
    server
        .post("/auth/login-ticket/exchange", body, None)
        .await
        .assert_error(401, "ticket_used");
    assert_eq!(status(&me_status(server, &h5).await), REVOKED);
    let h5_sessions = sessions_of_kind(server, &phone.access_token, Audience::H5).await;
    assert!(h5_sessions.is_empty(), "{h5_sessions:?}");
    // Nor is there anything left to end.
    let h5_sid = claims_of(&h5)["sid"].as_str().unwrap().to_owned();
    server
        .delete(
            &format!("/auth/sessions/{h5_sid}"),
            Some(&phone.access_token),
        )
        .await
        .assert_error(404, "session_not_found");
}

/// The session that minted a ticket logs out after the ticket was exchanged, ending the page's
/// session with it: a replay is told the ticket was used (the contract's second exchange), not
/// that it expired, and ends nothing more.
async fn a_spent_ticket_replayed_after_its_minting_session_ended_is_used(start: impl Start) {
    let backend = start(untouched).await;
    let server = &backend.server;
    let phone = server.dev_login("hana").await;
    let h5 = exchange(server, &phone.login_ticket, Some("Kiosk")).await;
    let reply = server
        .post_empty("/auth/logout", Some(&phone.access_token))
        .await;
    assert_eq!(reply.status, 204, "{reply:?}");
    assert_eq!(status(&me_status(server, &h5).await), REVOKED);
    let body = json!({"login_ticket": phone.login_ticket, "device_name": "Kiosk"});
    for _replay in 0..2 {
        server
            .post("/auth/login-ticket/exchange", body.clone(), None)
            .await
            .assert_error(401, "ticket_used");
    }
    let again = server.dev_login("hana").await;
    let h5_sessions = sessions_of_kind(server, &again.access_token, Audience::H5).await;
    assert!(h5_sessions.is_empty(), "{h5_sessions:?}");
}

/// The phone logs out between its confirm and the console's next poll: the confirm went with its
/// session, so the console is told the scene expired (and shows a fresh code), and no console
/// session is opened.
async fn a_confirm_from_a_phone_logged_out_since_logs_no_console_in(start: impl Start) {
    let backend = start(untouched).await;
    let server = &backend.server;
    let phone = server.dev_login("ivy").await;
    let scene = create_scene(server).await;
    let confirmed = server
        .post_empty(&scene_path(&scene, "confirm"), Some(&phone.access_token))
        .await;
    assert_eq!(confirmed.status, 204, "{confirmed:?}");
    let logout = server
        .post_empty("/auth/logout", Some(&phone.access_token))
        .await;
    assert_eq!(logout.status, 204, "{logout:?}");

    server
        .get(&islogin_path(&scene, 0), Some(&scene.poll_token))
        .await
        .assert_error(410, "scene_expired");
    let again = server.dev_login("ivy").await;
    let consoles = sessions_of_kind(server, &again.access_token, Audience::Console).await;
    assert!(consoles.is_empty(), "{consoles:?}");
}

async fn racing_polls_of_a_confirmed_scene_open_one_session(start: impl Start) {
    let backend = start(untouched).await;
    let server = &backend.server;
    let phone = server.dev_login("hal").await;
    let scene = create_scene(server).await;
    let confirmed = server
        .post_empty(&scene_path(&scene, "confirm"), Some(&phone.access_token))
        .await;
    assert_eq!(confirmed.status, 204, "{confirmed:?}");
    let path = islogin_path(&scene, 5);
    let polls = join_all((0..8).map(|_| server.get(&path, Some(&scene.poll_token)))).await;
    assert!(
        polls.iter().all(|poll| poll.body["status"] == "confirmed"),
        "{polls:?}"
    );
    let tokens: Vec<&str> = polls
        .iter()
        .map(|poll| poll.body["access_token"].as_str().unwrap_or_default())
        .collect();
    assert!(tokens.iter().all(|token| *token == tokens[0]), "{polls:?}");
    // The polls that lost the delivery wrote its session, not sessions of their own.
    let consoles = sessions_of_kind(server, &phone.access_token, Audience::Console).await;
    assert_eq!(consoles.len(), 1, "{consoles:?}");
    assert_eq!(json!(consoles[0].id), claims_of(tokens[0])["sid"]);
    assert_eq!(me_status(server, tokens[0]).await.0, 200);
}

async fn a_derived_token_never_outlives_its_parent(start: impl Start) {
    let backend = start(|settings| {
        settings.lifetimes.console_token = Duration::from_secs(120);
    })
    .await;
    let server = &backend.server;
    let phone = server.dev_login("fay").await;
    let console = console_by_scan(server, &phone.access_token).await;
    let h5 = exchange(server, &ticket_of(server, &console).await, None).await;
    let exp = |token: &str| claims_of(token)["exp"].as_u64().expect("an integer exp");
    let (parent, child) = (exp(&console), exp(&h5));
    assert!(
        child <= parent,
        "H5 exp {child} past its console's {parent}"
    );
    // An H5 token minting its own successor cannot push past the root either.
    let next = exchange(server, &ticket_of(server, &h5).await, None).await;
    assert!(exp(&next) <= parent);
}

async fn other_users_and_malformed_session_ids_are_not_found(start: impl Start) {
    let backend = start(untouched).await;
    let server = &backend.server;
    let ann = server.dev_login("gail").await;
    let bob = server.dev_login("hugo").await;
    let bobs_sid = claims_of(&bob.access_token)["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    // `revoke-others` is the path of another request, but as an id it is one more that is not hers.
    let ids = [
        bobs_sid.as_str(),
        "nope",
        "%FF%FE",
        &"a".repeat(43),
        "revoke-others",
    ];
    for id in ids {
        let reply = meeteasy_tests::api::send(
            server
                .http()
                .delete(server.url(&format!("/auth/sessions/{id}")))
                .bearer_auth(&ann.access_token),
        )
        .await;
        reply.assert_error(404, "session_not_found");
    }
    assert_eq!(me_status(server, &bob.access_token).await.0, 200);
    let unauthenticated = server.get("/auth/sessions", None).await;
    unauthenticated.assert_error(401, "invalid_token");
}

fn one_second_browser_tokens(settings: &mut Settings) {
    settings.lifetimes.access_token = Duration::from_secs(1);
}

/// A session past its end is no longer the caller's: not listed, and its id is not found, as any
/// other id that is not theirs.
async fn an_ended_sessions_id_is_not_found(start: impl Start) {
    let backend = start(one_second_browser_tokens).await;
    let server = &backend.server;
    let (login, password) = ("eve@example.org", "eve's long password");
    server
        .add_password_user(login, "Eve", password, &["organizer"])
        .await;
    let log_in = |client: &'static str| {
        let body = json!({"login": login, "password": password, "client": client});
        server.post("/auth/login", body, None)
    };
    let console = log_in("console").await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let browser = log_in("h5").await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let browser_sid = claims_of(&browser)["sid"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while me_status(server, &browser).await.0 == 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the browser token never ended"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        status(&me_status(server, &browser).await),
        (401, "token_expired")
    );
    let listed = sessions_of(server, &console).await;
    assert!(listed.iter().all(|s| s.id != browser_sid), "{listed:?}");
    server
        .delete(&format!("/auth/sessions/{browser_sid}"), Some(&console))
        .await
        .assert_error(404, "session_not_found");
}

async fn console_password_login_needs_the_organizer_role(start: impl Start) {
    let backend = start(untouched).await;
    let server = &backend.server;
    server
        .add_password_user("guest@example.org", "Guest", "guest pass 1", &[])
        .await;
    server
        .add_password_user("org@example.org", "Org", "org pass 1", &["organizer"])
        .await;
    let login = |login: &'static str, password: &'static str, client: &'static str| {
        server.post(
            "/auth/login",
            json!({"login": login, "password": password, "client": client, "device_name": "Desk 4"}),
            None,
        )
    };
    login("guest@example.org", "guest pass 1", "console")
        .await
        .assert_error(403, "not_organizer");
    // A wrong password still answers as a wrong password: the role says nothing before it.
    login("guest@example.org", "wrong", "console")
        .await
        .assert_error(401, "invalid_credentials");
    assert_eq!(
        login("guest@example.org", "guest pass 1", "h5")
            .await
            .status,
        200
    );
    let organizer = login("org@example.org", "org pass 1", "console").await;
    assert_eq!(organizer.status, 200, "{organizer:?}");
    let token = organizer.body["access_token"].as_str().unwrap();
    let listed = sessions_of(server, token).await;
    assert_eq!(listed[0].device_name.as_deref(), Some("Desk 4"));
    assert_eq!(listed[0].methods, ["pwd"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_reaches_another_instance_at_once() {
    let redis = RedisServer::start();
    let (first, second) = two_instances(&redis).await;
    across_two_instances(&first, &second).await;
}

/// The sessions' flows with their steps spread over two instances of one deployment (as a load
/// balancer would spread them): a chain three deep, each link opened on the other instance, dies
/// with its root everywhere at once; the list, ending one session and ending the others agree
/// across instances.
pub async fn across_two_instances(a: &TestServer, b: &TestServer) {
    let phone = a.dev_login("ines").await;
    let h5 = exchange(b, &phone.login_ticket, None).await;
    let deeper = exchange(a, &ticket_of(b, &h5).await, None).await;
    let deepest = exchange(b, &ticket_of(a, &deeper).await, None).await;
    assert_eq!(me_status(a, &deepest).await.0, 200);
    let logout = b
        .post_empty("/auth/logout", Some(&phone.access_token))
        .await;
    assert_eq!(logout.status, 204, "{logout:?}");
    for token in [&h5, &deeper, &deepest] {
        for server in [a, b] {
            assert_eq!(status(&me_status(server, token).await), REVOKED);
        }
    }

    let phone = b.dev_login("ines").await;
    let console = console_by_scan(a, &phone.access_token).await;
    let listed = sessions_of(b, &console).await;
    let kinds: Vec<_> = listed.iter().map(|s| (s.client, s.current)).collect();
    assert_eq!(
        kinds,
        [(Audience::Console, true), (Audience::Miniprogram, false)],
        "the ended chain is not listed: {listed:?}"
    );
    let browser = exchange(a, &ticket_of(b, &phone.access_token).await, None).await;
    let browser_sid = claims_of(&browser)["sid"].as_str().unwrap().to_owned();
    let ended = b
        .delete(&format!("/auth/sessions/{browser_sid}"), Some(&console))
        .await;
    assert_eq!(ended.status, 204, "{ended:?}");
    assert_eq!(status(&me_status(a, &browser).await), REVOKED);

    let other_phone = a.dev_login("ines").await;
    assert_eq!(revoke_others(a, &console).await, 2);
    for token in [&phone.access_token, &other_phone.access_token] {
        assert_eq!(status(&me_status(b, token).await), REVOKED);
    }
    assert_eq!(me_status(b, &console).await.0, 200);
}

/// A user keeps 100 live sessions; past that the most numerous kind gives up its oldest, so an
/// organizer's phone confirming console after console is not the one to go, nor when another
/// phone of theirs logs in.
async fn a_phone_confirming_more_console_logins_than_a_user_keeps_stays_logged_in(
    start: impl Start,
) {
    let backend = start(untouched).await;
    let server = &backend.server;
    let phone = server.dev_login("bob").await.access_token;
    let mut consoles = Vec::new();
    for _ in 0..105 {
        consoles.push(console_by_scan(server, &phone).await);
    }
    assert_eq!(server.get("/auth/me", Some(&phone)).await.status, 200);
    // A second phone logging in to the full index ends a console, not the first phone.
    server.dev_login("bob").await;
    assert_eq!(server.get("/auth/me", Some(&phone)).await.status, 200);
    let newest = consoles.last().expect("consoles");
    assert_eq!(server.get("/auth/me", Some(newest)).await.status, 200);
    let oldest = server.get("/auth/me", Some(&consoles[0])).await;
    assert_eq!(oldest.status, 401, "the oldest console made room");
    assert_eq!(sessions_of(server, &phone).await.len(), 100);
}
