//! The organizer team over real HTTP on both stores: invites from creation to acceptance with every
//! error code, one winner of fifty concurrent accepts (also across two instances on one Redis),
//! removing a member ends their console sessions, the last admin stays, non-admins are refused,
//! adding a password, and linking WeChat to a console account.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use meeteasy_auth::config::Settings;
use meeteasy_protocol::{
    CreateInviteResponse, CreateSceneResponse, InvitesResponse, TeamResponse, User,
};
use meeteasy_tests::redis_server::RedisServer;
use meeteasy_tests::server::{TestServer, redis_store};
use serde_json::json;

use crate::flows::{create_scene, islogin_path, scene_path};
use crate::multi_instance::two_instances;

/// A dev server on the embedded store, or on a fresh redis-server.
struct Backend {
    server: TestServer,
    _redis: Option<RedisServer>,
}

async fn embedded(tweak: fn(&mut Settings)) -> Backend {
    Backend {
        server: TestServer::start_with(tweak).await,
        _redis: None,
    }
}

async fn redis(tweak: fn(&mut Settings)) -> Backend {
    let redis = RedisServer::start();
    let url = redis.url();
    let server = TestServer::start_with(|settings| {
        settings.store = redis_store(&url);
        tweak(settings);
    })
    .await;
    Backend {
        server,
        _redis: Some(redis),
    }
}

/// Generates `embedded::<case>` and `redis::<case>` from each case below.
macro_rules! on_both_stores {
    ($($case:ident),+ $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::embedded).await;
                }
            )+
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::redis).await;
                }
            )+
        }
    };
}

on_both_stores!(
    an_invite_lives_from_creation_to_acceptance_with_every_error_code,
    of_fifty_concurrent_accepts_exactly_one_wins,
    removing_a_member_ends_their_console_sessions_at_once,
    the_last_admin_stays,
    team_endpoints_refuse_callers_without_the_role,
    invite_inspections_are_limited_per_address,
);

trait Start: FnOnce(fn(&mut Settings)) -> Self::Started {
    type Started: std::future::Future<Output = Backend>;
}

impl<F, Fut> Start for F
where
    F: FnOnce(fn(&mut Settings)) -> Fut,
    Fut: std::future::Future<Output = Backend>,
{
    type Started = Fut;
}

fn untouched(_: &mut Settings) {}

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
                || (reply.status, reply.code()) == (401, "token_revoked"),
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
