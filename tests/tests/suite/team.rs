//! The organizer team over real HTTP on both stores: invites from creation to acceptance with every
//! error code, one winner of fifty concurrent accepts (also across two instances on one Redis),
//! removing a member ends their console sessions, the last admin stays, non-admins are refused,
//! adding a password, and linking WeChat to a console account.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use meeteasy_auth::config::Settings;
use meeteasy_auth::domain::{Admin, UserRef};
use meeteasy_protocol::{
    CreateInviteResponse, CreateSceneResponse, InvitesResponse, TeamResponse, User,
};
use meeteasy_tests::redis_server::RedisServer;
use meeteasy_tests::server::TestServer;
use serde_json::json;

use crate::both_stores::{Start, untouched};
use crate::flows::{create_scene, islogin_path, scene_path};
use crate::multi_instance::two_instances;

on_both_stores!(
    an_invite_lives_from_creation_to_acceptance_with_every_error_code,
    of_fifty_concurrent_accepts_exactly_one_wins,
    removing_a_member_ends_their_console_sessions_at_once,
    the_last_admin_stays,
    an_admin_taken_off_the_team_takes_their_open_invites_along,
    team_endpoints_refuse_callers_without_the_role,
    invite_inspections_are_limited_per_address,
    a_password_login_is_added_and_changed,
    linking_wechat_folds_the_empty_account_and_answers_linked,
    linking_a_wechat_whose_account_holds_more_is_identity_in_use,
    the_one_step_login_on_a_link_scene_goes_on_as_the_joined_account,
    a_link_begun_by_a_console_session_ended_since_links_nothing,
);

fn many_tries(settings: &mut Settings) {
    settings.invite_limits.per_ip = 10_000;
}

/// A console logged in by scanning as `mini_program_token`'s user; its token.
pub async fn console_by_scan(server: &TestServer, mini_program_token: &str) -> String {
    let scene = create_scene(server).await;
    for step in ["scan", "confirm"] {
        let reply = server
            .post_empty(&scene_path(&scene, step), Some(mini_program_token))
            .await;
        assert!(reply.status < 300, "{step}: {reply:?}");
    }
    let reply = server
        .get(&islogin_path(&scene, 0), Some(&scene.poll_token))
        .await;
    assert_eq!(reply.body["status"], "confirmed", "{reply:?}");
    reply.body["access_token"].as_str().unwrap().to_owned()
}

/// Dev user `name` logged in on the phone and (as an organizer) on a console.
struct Person {
    user: User,
    phone: String,
    console: String,
}

async fn organizer(server: &TestServer, name: &str) -> Person {
    let login = server.dev_login(name).await;
    let console = console_by_scan(server, &login.access_token).await;
    Person {
        user: login.user,
        phone: login.access_token,
        console,
    }
}

async fn invite(
    server: &TestServer,
    admin: &Person,
    body: serde_json::Value,
) -> CreateInviteResponse {
    let reply = server
        .post("/auth/invites", body, Some(&admin.console))
        .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    reply.json()
}

async fn team_of(server: &TestServer, token: &str) -> TeamResponse {
    let reply = server.get("/auth/team", Some(token)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.json()
}

async fn accept(server: &TestServer, code: &str, phone: &str) -> meeteasy_tests::api::Reply {
    server
        .post("/auth/invites/accept", json!({"code": code}), Some(phone))
        .await
}

async fn inspect(server: &TestServer, code: &str) -> meeteasy_tests::api::Reply {
    server
        .post("/auth/invites/inspect", json!({"code": code}), None)
        .await
}

async fn an_invite_lives_from_creation_to_acceptance_with_every_error_code(start: impl Start) {
    let backend = start(untouched).await;
    let server = &backend.server;
    let ann = organizer(server, "admin-ann").await;
    assert!(
        ann.user.roles.contains(&"admin".to_owned()),
        "{:?}",
        ann.user
    );

    let created = invite(server, &ann, json!({"role": "organizer"})).await;
    assert_eq!(created.code.len(), 32);
    assert!(created.code.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(
        created.qr.content.as_deref(),
        Some(format!("{}/m/invite/{}", server.settings().public_url, created.code).as_str())
    );
    assert_eq!(
        created.qr.png_url,
        format!("/auth/invites/{}/qr.png", created.invite.id)
    );
    assert_eq!(created.invite.created_by.id, ann.user.id);
    assert_eq!(
        created.invite.expires_at - created.invite.created_at,
        86_400
    );
    assert_eq!(created.invite.accepted_by, None);
    let png = server.get(&created.qr.png_url, Some(&ann.console)).await;
    assert_eq!(png.status, 200);
    assert_eq!(png.header("content-type"), Some("image/png"));

    let listed: InvitesResponse = server.get("/auth/invites", Some(&ann.console)).await.json();
    assert_eq!(listed.invites, vec![created.invite.clone()]);

    let shown = inspect(server, &created.code).await;
    assert_eq!(shown.status, 200, "{shown:?}");
    assert_eq!(shown.body["role"], "organizer");
    assert_eq!(shown.body["invited_by"]["display_name"], "admin-ann");
    assert_eq!(shown.body["expires_at"], created.invite.expires_at);

    let gus = server.dev_login("guest-gus").await;
    let accepted = accept(server, &created.code, &gus.access_token).await;
    assert_eq!(accepted.status, 200, "{accepted:?}");
    assert_eq!(accepted.body["user"]["id"], gus.user.id.as_str());
    assert_eq!(accepted.body["user"]["roles"], json!(["organizer"]));
    accept(server, &created.code, &gus.access_token)
        .await
        .assert_error(409, "invite_used");
    inspect(server, &created.code)
        .await
        .assert_error(409, "invite_used");

    let listed: InvitesResponse = server.get("/auth/invites", Some(&ann.console)).await.json();
    assert_eq!(listed.invites.len(), 1);
    assert_eq!(
        listed.invites[0]
            .accepted_by
            .as_ref()
            .map(|u| u.id.as_str()),
        Some(gus.user.id.as_str())
    );
    assert!(listed.invites[0].accepted_at.is_some());
    let team = team_of(server, &ann.console).await;
    let gus_member = team
        .members
        .iter()
        .find(|m| m.user.id == gus.user.id)
        .expect("the new member is listed");
    assert_eq!(
        gus_member.methods,
        vec![meeteasy_protocol::LoginMethod::Wechat]
    );
    assert!(gus_member.last_login_at.is_some());
    // The new organizer logs a console in.
    console_by_scan(server, &gus.access_token).await;

    // Revoked: expired to whoever holds the code; unknown ids are invalid.
    let revoked = invite(server, &ann, json!({"role": "admin"})).await;
    let reply = server
        .delete(
            &format!("/auth/invites/{}", revoked.invite.id),
            Some(&ann.console),
        )
        .await;
    assert_eq!(reply.status, 204, "{reply:?}");
    inspect(server, &revoked.code)
        .await
        .assert_error(410, "invite_expired");
    accept(server, &revoked.code, &gus.access_token)
        .await
        .assert_error(410, "invite_expired");
    assert_eq!(
        server
            .get(&revoked.qr.png_url, Some(&ann.console))
            .await
            .status,
        410
    );
    server
        .delete("/auth/invites/nosuchinvite", Some(&ann.console))
        .await
        .assert_error(404, "invite_invalid");
    let listed: InvitesResponse = server.get("/auth/invites", Some(&ann.console)).await.json();
    assert!(listed.invites.iter().all(|i| i.id != revoked.invite.id));

    // Unknown and malformed codes.
    inspect(server, "0123456789abcdefghijABCDEFGHIJxy")
        .await
        .assert_error(404, "invite_invalid");
    for malformed in ["short", "0123456789abcdefghijABCDEFGHIJx-", ""] {
        accept(server, malformed, &gus.access_token)
            .await
            .assert_error(404, "invite_invalid");
    }

    // Past expires_at.
    let brief = invite(server, &ann, json!({"role": "organizer", "expires_in": 1})).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let reply = inspect(server, &brief.code).await;
        if reply.status == 410 {
            reply.assert_error(410, "invite_expired");
            break;
        }
        assert_eq!(reply.status, 200, "{reply:?}");
        assert!(Instant::now() < deadline, "the invite never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    accept(server, &brief.code, &gus.access_token)
        .await
        .assert_error(410, "invite_expired");

    // Bad requests, and who may accept.
    for body in [
        json!({"role": "organizer", "expires_in": 604_801}),
        json!({"role": "organizer", "expires_in": 0}),
        json!({"role": "owner"}),
    ] {
        server
            .post("/auth/invites", body, Some(&ann.console))
            .await
            .assert_error(400, "invalid_request");
    }
    let fresh = invite(
        server,
        &ann,
        json!({"role": "organizer", "expires_in": 604_800}),
    )
    .await;
    accept(server, &fresh.code, &ann.console)
        .await
        .assert_error(401, "invalid_token");
    server
        .post("/auth/invites/accept", json!({"code": fresh.code}), None)
        .await
        .assert_error(401, "invalid_token");
}

async fn of_fifty_concurrent_accepts_exactly_one_wins(start: impl Start) {
    let backend = start(many_tries).await;
    let server = &backend.server;
    let ann = organizer(server, "admin-ann").await;
    let created = invite(server, &ann, json!({"role": "admin"})).await;
    let phones: Vec<String> =
        join_all((0..50).map(|n| async move { server.dev_login(&format!("guest-{n}")).await }))
            .await
            .into_iter()
            .map(|login| login.access_token)
            .collect();
    let replies = join_all(
        phones
            .iter()
            .map(|phone| accept(server, &created.code, phone)),
    )
    .await;
    assert_one_winner(&replies);
    let winner = replies.iter().find(|r| r.status == 200).unwrap();
    assert_eq!(winner.body["user"]["roles"], json!(["organizer", "admin"]));
}

fn assert_one_winner(replies: &[meeteasy_tests::api::Reply]) {
    let winners = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(winners, 1, "{replies:?}");
    for reply in replies.iter().filter(|r| r.status != 200) {
        reply.assert_error(409, "invite_used");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_fifty_concurrent_accepts_on_two_instances_exactly_one_wins() {
    let redis = RedisServer::start();
    let (a, b) = two_instances(&redis).await;
    let ann = organizer(&a, "admin-ann").await;
    let created = invite(&a, &ann, json!({"role": "organizer"})).await;
    let phones: Vec<String> = join_all((0..50).map(|n| {
        let a = &a;
        async move { a.dev_login(&format!("guest-{n}")).await }
    }))
    .await
    .into_iter()
    .map(|login| login.access_token)
    .collect();
    let replies = join_all(phones.iter().enumerate().map(|(n, phone)| {
        let server = if n % 2 == 0 { &a } else { &b };
        accept(server, &created.code, phone)
    }))
    .await;
    assert_one_winner(&replies);
}

/// The team's flows with their steps spread over two instances of one deployment: an invite made
/// on one is inspected and accepted on the other, and used there; the new member is on the team
/// either side; removing them on one ends their console on the other.
pub async fn across_two_instances(a: &TestServer, b: &TestServer) {
    let ada = organizer(a, "admin-ada").await;
    let created = invite(a, &ada, json!({"role": "organizer"})).await;
    let inspected = inspect(b, &created.code).await;
    assert_eq!(inspected.status, 200, "{inspected:?}");
    let gil = b.dev_login("guest-gil").await;
    let accepted = accept(b, &created.code, &gil.access_token).await;
    assert_eq!(accepted.status, 200, "{accepted:?}");
    let late = a.dev_login("guest-lee").await;
    accept(a, &created.code, &late.access_token)
        .await
        .assert_error(409, "invite_used");
    let gil_console = console_by_scan(a, &gil.access_token).await;
    let on_the_team = async |server: &TestServer| {
        let team = team_of(server, &ada.console).await;
        team.members.iter().any(|m| m.user.id == gil.user.id)
    };
    assert!(on_the_team(b).await && on_the_team(a).await);
    let removed = b
        .delete(&format!("/auth/team/{}", gil.user.id), Some(&ada.console))
        .await;
    assert_eq!(removed.status, 204, "{removed:?}");
    a.get("/auth/me", Some(&gil_console))
        .await
        .assert_error(401, "token_revoked");
    assert!(!on_the_team(a).await);
}

async fn removing_a_member_ends_their_console_sessions_at_once(start: impl Start) {
    let backend = start(untouched).await;
    let server = &backend.server;
    let ann = organizer(server, "admin-ann").await;
    let pat = organizer(server, "pat").await;
    let names = |team: &TeamResponse| -> Vec<String> {
        team.members
            .iter()
            .map(|m| m.user.display_name.clone())
            .collect()
    };
    assert_eq!(
        names(&team_of(server, &ann.console).await),
        ["admin-ann", "pat"]
    );

    let reply = server
        .delete(&format!("/auth/team/{}", pat.user.id), Some(&ann.console))
        .await;
    assert_eq!(reply.status, 204, "{reply:?}");
    server
        .get("/auth/me", Some(&pat.console))
        .await
        .assert_error(401, "token_revoked");
    // Only the console sessions end: the phone keeps its login, without the role.
    let me = server.get("/auth/me", Some(&pat.phone)).await;
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(me.body["roles"], json!([]));
    assert_eq!(names(&team_of(server, &ann.console).await), ["admin-ann"]);
    // And the phone can no longer log a console in.
    let scene: CreateSceneResponse = create_scene(server).await;
    server
        .post_empty(&scene_path(&scene, "confirm"), Some(&pat.phone))
        .await
        .assert_error(403, "not_organizer");
}

async fn the_last_admin_stays(start: impl Start) {
    let backend = start(untouched).await;
    let server = &backend.server;
    let ann = organizer(server, "admin-ann").await;
    server
        .delete(&format!("/auth/team/{}", ann.user.id), Some(&ann.console))
        .await
        .assert_error(409, "last_admin");
    let bob = organizer(server, "admin-bob").await;
    // Two admins removing each other at once: at most one goes.
    let (bob_path, ann_path) = (
        format!("/auth/team/{}", bob.user.id),
        format!("/auth/team/{}", ann.user.id),
    );
    let (ann_removes_bob, bob_removes_ann) = tokio::join!(
        server.delete(&bob_path, Some(&ann.console)),
        server.delete(&ann_path, Some(&bob.console)),
    );
    let removed = [&ann_removes_bob, &bob_removes_ann]
        .iter()
        .filter(|r| r.status == 204)
        .count();
    assert_eq!(removed, 1, "{ann_removes_bob:?} {bob_removes_ann:?}");
    for reply in [&ann_removes_bob, &bob_removes_ann] {
        assert!(
            reply.status == 204
                || (reply.status, reply.code()) == (409, "last_admin")
                // The loser was removed first: as its request was checked, its token was already
                // ended, or its role already gone.
                || (reply.status, reply.code()) == (401, "token_revoked")
                || (reply.status, reply.code()) == (403, "forbidden"),
            "{reply:?}"
        );
    }
    let survivor = if ann_removes_bob.status == 204 {
        &ann
    } else {
        &bob
    };
    let team = team_of(server, &survivor.console).await;
    assert_eq!(team.members.len(), 1);
    assert!(team.members[0].user.roles.contains(&"admin".to_owned()));
}

async fn an_admin_taken_off_the_team_takes_their_open_invites_along(start: impl Start) {
    let backend = start(many_tries).await;
    let server = &backend.server;
    let ann = organizer(server, "admin-ann").await;
    let bob = organizer(server, "admin-bob").await;
    let bobs = invite(server, &bob, json!({"role": "admin"})).await;
    let removed = server
        .delete(&format!("/auth/team/{}", bob.user.id), Some(&ann.console))
        .await;
    assert_eq!(removed.status, 204, "{removed:?}");
    // Bob still holds the code, but it no longer lets him (or anyone) back in.
    inspect(server, &bobs.code)
        .await
        .assert_error(410, "invite_expired");
    accept(server, &bobs.code, &bob.phone)
        .await
        .assert_error(410, "invite_expired");
    let team = team_of(server, &ann.console).await;
    assert_eq!(team.members.len(), 1, "{team:?}");
    // Nor is it listed as open any more.
    let listed: InvitesResponse = server.get("/auth/invites", Some(&ann.console)).await.json();
    assert!(
        listed.invites.iter().all(|i| i.id != bobs.invite.id),
        "{listed:?}"
    );
    // Made admin again, Bob brings none of them back: they were revoked with his removal.
    Admin::new(server.store().clone())
        .grant(&UserRef::Id(bob.user.id.clone()), "admin")
        .await
        .expect("admin again");
    inspect(server, &bobs.code)
        .await
        .assert_error(410, "invite_expired");
    // The invites of an admin who stays are untouched.
    let anns = invite(server, &ann, json!({"role": "organizer"})).await;
    let carl = server.dev_login("carl").await;
    let joined = accept(server, &anns.code, &carl.access_token).await;
    assert_eq!(joined.status, 200, "{joined:?}");
}

async fn team_endpoints_refuse_callers_without_the_role(start: impl Start) {
    let backend = start(untouched).await;
    let server = &backend.server;
    let ann = organizer(server, "admin-ann").await;
    let pat = organizer(server, "pat").await;
    let created = invite(server, &ann, json!({"role": "organizer"})).await;
    let admin_only = [
        ("POST", "/auth/invites".to_owned()),
        ("GET", "/auth/invites".to_owned()),
        ("GET", created.qr.png_url.clone()),
        ("DELETE", format!("/auth/invites/{}", created.invite.id)),
        ("DELETE", format!("/auth/team/{}", ann.user.id)),
    ];
    for (method, path) in &admin_only {
        let reply = match *method {
            "POST" => {
                server
                    .post(path, json!({"role": "organizer"}), Some(&pat.console))
                    .await
            }
            "GET" => server.get(path, Some(&pat.console)).await,
            _ => server.delete(path, Some(&pat.console)).await,
        };
        reply.assert_error(403, "forbidden");
        let unauthenticated = match *method {
            "POST" => server.post(path, json!({"role": "organizer"}), None).await,
            "GET" => server.get(path, None).await,
            _ => server.delete(path, None).await,
        };
        unauthenticated.assert_error(401, "invalid_token");
    }
    assert_eq!(team_of(server, &pat.console).await.members.len(), 2);
    server
        .get("/auth/team", None)
        .await
        .assert_error(401, "invalid_token");
    // A mini program token is not a console token, whatever its user's roles.
    server
        .get("/auth/team", Some(&ann.phone))
        .await
        .assert_error(401, "invalid_token");
}

fn few_tries(settings: &mut Settings) {
    settings.invite_limits.per_ip = 3;
}

async fn invite_inspections_are_limited_per_address(start: impl Start) {
    let backend = start(few_tries).await;
    let server = &backend.server;
    for _ in 0..3 {
        inspect(server, "0123456789abcdefghijABCDEFGHIJxy")
            .await
            .assert_error(404, "invite_invalid");
    }
    let refused = inspect(server, "0123456789abcdefghijABCDEFGHIJxy").await;
    refused.assert_error(429, "too_many_requests");
    assert!(refused.header("retry-after").is_some());
}

async fn password_login(
    server: &TestServer,
    login: &str,
    password: &str,
) -> meeteasy_tests::api::Reply {
    server
        .post(
            "/auth/login",
            json!({"login": login, "password": password, "client": "console"}),
            None,
        )
        .await
}

async fn a_password_login_is_added_and_changed(start: impl Start) {
    let backend = start(untouched).await;
    let server = &backend.server;
    let ann = organizer(server, "admin-ann").await;
    let set = |body: serde_json::Value, token: String| async move {
        server.post("/auth/me/password", body, Some(&token)).await
    };
    let reply = set(
        json!({"login": "Ann@Example.org", "password": "first secret"}),
        ann.console.clone(),
    )
    .await;
    assert_eq!(reply.status, 204, "{reply:?}");
    let logged_in = password_login(server, "ann@example.org", "first secret").await;
    assert_eq!(logged_in.status, 200, "{logged_in:?}");
    assert_eq!(logged_in.body["user"]["id"], ann.user.id.as_str());
    let team = team_of(server, &ann.console).await;
    assert_eq!(
        team.members[0].methods,
        vec![
            meeteasy_protocol::LoginMethod::Wechat,
            meeteasy_protocol::LoginMethod::Password
        ]
    );

    // Changing it needs the current one.
    set(
        json!({"login": "ann@example.org", "password": "second"}),
        ann.console.clone(),
    )
    .await
    .assert_error(400, "invalid_request");
    set(
        json!({"login": "ann@example.org", "password": "second", "current_password": "wrong"}),
        ann.console.clone(),
    )
    .await
    .assert_error(401, "invalid_credentials");
    // Moving the login to another email with the same password keeps every session.
    let reply = set(
        json!({"login": "ann@example.com", "password": "first secret", "current_password": "first secret"}),
        ann.console.clone(),
    )
    .await;
    assert_eq!(reply.status, 204, "{reply:?}");
    let password_console = logged_in.body["access_token"].as_str().unwrap();
    for token in [password_console, &ann.phone] {
        let me = server.get("/auth/me", Some(token)).await;
        assert_eq!(me.status, 200, "a login moved, a session kept: {me:?}");
    }

    // A changed password ends every other session: the console the old password opened, and the
    // phone's; the caller's own stays.
    let reply = set(
        json!({"login": "ann@example.org", "password": "second", "current_password": "first secret"}),
        ann.console.clone(),
    )
    .await;
    assert_eq!(reply.status, 204, "{reply:?}");
    for token in [password_console, &ann.phone] {
        server
            .get("/auth/me", Some(token))
            .await
            .assert_error(401, "token_revoked");
    }
    let me = server.get("/auth/me", Some(&ann.console)).await;
    assert_eq!(me.status, 200, "the caller's own session stays: {me:?}");
    assert_eq!(
        password_login(server, "ann@example.org", "second")
            .await
            .status,
        200
    );
    password_login(server, "ann@example.org", "first secret")
        .await
        .assert_error(401, "invalid_credentials");

    // Someone else's login, and tokens that are not a console's.
    let pat = organizer(server, "pat").await;
    set(
        json!({"login": "ann@example.org", "password": "mine now"}),
        pat.console.clone(),
    )
    .await
    .assert_error(409, "identity_in_use");
    set(
        json!({"login": "ann@example.org", "password": "x"}),
        pat.phone.clone(),
    )
    .await
    .assert_error(401, "invalid_token");
    set(
        json!({"login": "not a login", "password": "x"}),
        pat.console.clone(),
    )
    .await
    .assert_error(400, "invalid_request");
}

/// A console of password user Pat, and a link scene it made.
async fn pat_with_link_scene(server: &TestServer) -> (User, String, CreateSceneResponse) {
    let pat = server
        .add_password_user("pat@example.org", "Pat", "pat's secret", &["organizer"])
        .await;
    let console = password_login(server, "pat@example.org", "pat's secret").await;
    assert_eq!(console.status, 200, "{console:?}");
    let console = console.body["access_token"].as_str().unwrap().to_owned();
    server
        .post("/auth/scenes", json!({"purpose": "link"}), None)
        .await
        .assert_error(401, "invalid_token");
    let reply = server
        .post("/auth/scenes", json!({"purpose": "link"}), Some(&console))
        .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    (pat, console, reply.json())
}

async fn linking_wechat_folds_the_empty_account_and_answers_linked(start: impl Start) {
    let backend = start(untouched).await;
    let server = &backend.server;
    let (pat, console, scene) = pat_with_link_scene(server).await;
    // The mini program's own login made an account for this WeChat: it holds nothing else.
    let phone = server.dev_login("guest-pat").await;
    assert_ne!(phone.user.id, pat.id);

    let scanned = server
        .post_empty(&scene_path(&scene, "scan"), Some(&phone.access_token))
        .await;
    assert_eq!(scanned.status, 200, "{scanned:?}");
    assert_eq!(scanned.body["purpose"], "link");
    assert_eq!(scanned.body["account"]["display_name"], "Pat");
    let polled = server
        .get(&islogin_path(&scene, 0), Some(&scene.poll_token))
        .await;
    assert_eq!(polled.body["status"], "scanned", "{polled:?}");

    // The console waits; the confirm wakes it with `linked`.
    let long_poll = islogin_path(&scene, 30);
    let waiting = server.get(&long_poll, Some(&scene.poll_token));
    let confirm = async {
        crate::flows::wait_for_waiters(server, 1).await;
        server
            .post_empty(&scene_path(&scene, "confirm"), Some(&phone.access_token))
            .await
    };
    let (linked, confirmed) = tokio::join!(waiting, confirm);
    assert_eq!(confirmed.status, 204, "{confirmed:?}");
    assert_eq!(linked.status, 200, "{linked:?}");
    assert_eq!(linked.body, json!({"status": "linked"}));
    // An answer lost on its way is collected again (by a waiting poll: the `wait=0` one above
    // holds this interval's turn), at once.
    let asked = Instant::now();
    let again = server
        .get(&islogin_path(&scene, 30), Some(&scene.poll_token))
        .await;
    assert_eq!(again.body, json!({"status": "linked"}), "{again:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );

    // The folded account is gone with its sessions; the WeChat now leads to Pat.
    let me = server.get("/auth/me", Some(&phone.access_token)).await;
    assert_eq!(me.status, 401, "{me:?}");
    let again = server.dev_login("guest-pat").await;
    assert_eq!(again.user.id, pat.id);
    assert_eq!(again.user.roles, vec!["organizer".to_owned()]);
    // The phone's confirm sent again (its answer lost), from its new login, is told it was made.
    let resent = server
        .post_empty(&scene_path(&scene, "confirm"), Some(&again.access_token))
        .await;
    assert_eq!(resent.status, 204, "{resent:?}");
    let team = team_of(server, &console).await;
    let member = team.members.iter().find(|m| m.user.id == pat.id).unwrap();
    assert_eq!(
        member.methods,
        vec![
            meeteasy_protocol::LoginMethod::Wechat,
            meeteasy_protocol::LoginMethod::Password
        ]
    );
    // A v1 login scene still reads as before.
    let login_scene = create_scene(server).await;
    let scanned = server
        .post_empty(&scene_path(&login_scene, "scan"), Some(&again.access_token))
        .await;
    assert_eq!(scanned.body["purpose"], "login");
    assert!(scanned.body.get("account").is_none(), "{scanned:?}");
}

async fn linking_a_wechat_whose_account_holds_more_is_identity_in_use(start: impl Start) {
    let backend = start(untouched).await;
    let server = &backend.server;
    let (pat, _console, scene) = pat_with_link_scene(server).await;
    // A dev organizer: this WeChat's account holds a role.
    let phone = server.dev_login("olga").await;
    server
        .post_empty(&scene_path(&scene, "confirm"), Some(&phone.access_token))
        .await
        .assert_error(409, "identity_in_use");
    server
        .get(&islogin_path(&scene, 0), Some(&scene.poll_token))
        .await
        .assert_error(409, "identity_in_use");
    // Nothing changed: both accounts stand apart.
    let me = server.get("/auth/me", Some(&phone.access_token)).await;
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(server.dev_login("olga").await.user.id, phone.user.id);
    assert_ne!(phone.user.id, pat.id);
}

/// Dev mode serves the invite page with the phone simulator, whose script is there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_dev_mode_the_invite_page_carries_the_phone_simulator() {
    let server = TestServer::start_dev().await;
    let ann = organizer(&server, "admin-ann").await;
    let created = invite(&server, &ann, json!({"role": "organizer"})).await;
    let page = server
        .http()
        .get(server.url(&format!("/m/invite/{}", created.code)))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("id=\"simulator\""), "{page}");
    assert!(page.contains("src=\"/m/invite.js\""), "{page}");
    for script in ["/m/invite.js", "/m/invite-simulator.js"] {
        let reply = server.http().get(server.url(script)).send().await.unwrap();
        assert_eq!(reply.status(), 200, "{script}");
    }
}

/// In `wxacode` mode the invite's QR is a mini program code of the app's invite page, scene = code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_wxacode_mode_the_invite_qr_is_a_mini_program_code() {
    let server = TestServer::start_with(|settings| {
        settings.apps[0].qr_mode = meeteasy_auth::config::QrMode::Wxacode;
    })
    .await;
    let ann = organizer(&server, "admin-ann").await;
    let created = invite(&server, &ann, json!({"role": "organizer"})).await;
    assert_eq!(created.qr.content, None);
    let png = server.get(&created.qr.png_url, Some(&ann.console)).await;
    assert_eq!(png.status, 200, "{png:?}");
    assert_eq!(png.header("content-type"), Some("image/png"));
}

const PAGE_TIMEOUT: Duration = Duration::from_secs(15);

/// Waits until `script` returns something other than null; that value.
async fn wait_in(browser: &meeteasy_tests::browser::Browser, what: &str, script: &str) -> String {
    browser
        .wait_for(what, script, PAGE_TIMEOUT)
        .await
        .unwrap_or_else(|error| panic!("{what}: {error:?}"))
        .as_str()
        .map(str::to_owned)
        .unwrap_or_default()
}

async fn click_in(browser: &meeteasy_tests::browser::Browser, css: &str) {
    browser
        .client()
        .find(fantoccini::Locator::Css(css))
        .await
        .unwrap_or_else(|error| panic!("no {css}: {error}"))
        .click()
        .await
        .expect("clicked");
}

async fn fill_in(browser: &meeteasy_tests::browser::Browser, css: &str, text: &str) {
    let field = browser
        .client()
        .find(fantoccini::Locator::Css(css))
        .await
        .expect("the field");
    field.clear().await.expect("cleared");
    field.send_keys(text).await.expect("typed");
}

/// In a real browser: the dev invite page shows who invites to which role, and its phone simulator
/// accepts as a dev user, who is then on the team.
#[tokio::test]
async fn the_dev_invite_page_accepts_as_a_dev_user_in_a_browser() {
    let server = TestServer::start_dev().await;
    let ann = organizer(&server, "admin-ann").await;
    let created = invite(&server, &ann, json!({"role": "organizer"})).await;
    let browser = meeteasy_tests::browser::Browser::start()
        .await
        .expect("Chromium starts");
    browser
        .client()
        .goto(created.qr.content.as_deref().expect("a url-mode link"))
        .await
        .expect("opens");
    let inviter = wait_in(
        &browser,
        "the invite shows",
        "const invite = document.getElementById('invite'); \
         return invite.hidden ? null : document.getElementById('inviter').textContent;",
    )
    .await;
    assert_eq!(inviter, "admin-ann");
    let role = wait_in(
        &browser,
        "the role",
        "return document.getElementById('role').textContent;",
    )
    .await;
    assert!(role == "an organizer" || role == "组织者", "{role}");
    fill_in(&browser, "#dev-name", "carol").await;
    click_in(&browser, "#accept-invite").await;
    let state = wait_in(
        &browser,
        "the outcome",
        "const s = document.getElementById('simulator').dataset.state; return s === 'name' ? null : s;",
    )
    .await;
    assert_eq!(state, "accepted");
    let team = team_of(&server, &ann.console).await;
    assert!(
        team.members.iter().any(|m| m.user.display_name == "carol"),
        "{team:?}"
    );
    browser.shutdown().await.expect("Chromium stops");
}

/// In a real browser: the dev scan page asks to link, not to log in, on a link scene.
#[tokio::test]
async fn the_dev_scan_page_links_a_wechat_in_a_browser() {
    let server = TestServer::start_dev().await;
    let (pat, _console, scene) = pat_with_link_scene(&server).await;
    let browser = meeteasy_tests::browser::Browser::start()
        .await
        .expect("Chromium starts");
    browser
        .client()
        .goto(&server.url(&format!("/m/scan/{}", scene.scene)))
        .await
        .expect("opens");
    fill_in(&browser, "#dev-name", "guest-pat").await;
    click_in(&browser, "#scan").await;
    let account = wait_in(
        &browser,
        "the link question",
        "return document.getElementById('link-question').hidden ? null : \
         document.getElementById('account-name').textContent;",
    )
    .await;
    assert_eq!(account, "Pat");
    click_in(&browser, "#confirm-login").await;
    let outcome = wait_in(
        &browser,
        "the outcome",
        "const o = document.getElementById('outcome'); return o.hidden ? null : o.dataset.outcome;",
    )
    .await;
    assert_eq!(outcome, "linked");
    let polled = server
        .get(&islogin_path(&scene, 0), Some(&scene.poll_token))
        .await;
    assert_eq!(polled.body, json!({"status": "linked"}));
    assert_eq!(server.dev_login("guest-pat").await.user.id, pat.id);
    browser.shutdown().await.expect("Chromium stops");
}

/// A link scene made by a console session that has ended since (a stolen token, logged out by its
/// owner) links nothing: the phone's confirm is refused, and its WeChat keeps its own account.
async fn a_link_begun_by_a_console_session_ended_since_links_nothing(start: impl Start) {
    let backend = start(untouched).await;
    let server = &backend.server;
    let (pat, console, scene) = pat_with_link_scene(server).await;
    let phone = server.dev_login("guest-eve").await;
    let scanned = server
        .post_empty(&scene_path(&scene, "scan"), Some(&phone.access_token))
        .await;
    assert_eq!(scanned.status, 200, "{scanned:?}");
    let unscanned = server
        .post("/auth/scenes", json!({"purpose": "link"}), Some(&console))
        .await;
    assert_eq!(unscanned.status, 201, "{unscanned:?}");
    let unscanned: CreateSceneResponse = unscanned.json();
    let logged_out = server.post_empty("/auth/logout", Some(&console)).await;
    assert_eq!(logged_out.status, 204, "{logged_out:?}");

    server
        .post_empty(&scene_path(&scene, "confirm"), Some(&phone.access_token))
        .await
        .assert_error(410, "scene_expired");
    // Nor is a scene it made scanned: the phone is not shown an account it cannot join.
    server
        .post_empty(&scene_path(&unscanned, "scan"), Some(&phone.access_token))
        .await
        .assert_error(410, "scene_expired");
    let again = server.dev_login("guest-eve").await;
    assert_eq!(again.user.id, phone.user.id, "still eve's own account");
    assert_ne!(again.user.id, pat.id);
}

async fn the_one_step_login_on_a_link_scene_goes_on_as_the_joined_account(start: impl Start) {
    let backend = start(untouched).await;
    let server = &backend.server;
    let (pat, _console, scene) = pat_with_link_scene(server).await;
    // The first login of this WeChat, naming the scene: its new account is folded at once.
    let login = server
        .post(
            "/auth/wechat/login",
            json!({"code": "dev:guest-lin", "scene": scene.scene}),
            None,
        )
        .await;
    assert_eq!(login.status, 200, "{login:?}");
    assert!(login.body.get("scene_error").is_none(), "{login:?}");
    assert_eq!(login.body["user"]["id"], pat.id.as_str());
    let token = login.body["access_token"].as_str().unwrap();
    let me = server.get("/auth/me", Some(token)).await;
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(me.body["id"], pat.id.as_str());
    let polled = server
        .get(&islogin_path(&scene, 0), Some(&scene.poll_token))
        .await;
    assert_eq!(polled.body, json!({"status": "linked"}));
}
