//! The scan loop against a scripted fake server, on tokio's paused clock: rotation, decline,
//! refused accounts, network loss and recovery, the QR cache; and the same loop linking WeChat.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meeteasy_protocol::{ErrorCode, ScannerProfile, User};
use tokio::time::{Instant, sleep, timeout};

use super::*;
use crate::api::{ApiError, NewScene, PollAnswer, ScanPurpose};

const SCENE_TTL: Duration = Duration::from_secs(120);
const INTERVAL: Duration = Duration::from_secs(2);

/// One scripted answer to `islogin`; when the script runs out the fake long-polls "pending".
enum Answer {
    Now(Result<PollAnswer, ApiError>),
}

#[derive(Debug, Clone)]
struct Poll {
    scene: String,
    at: Instant,
    wait: Duration,
}

/// The scripted server; a clone shares its state (the loop withdraws scenes in tasks of their own).
#[derive(Clone, Default)]
struct FakeServer(Arc<FakeState>);

impl std::ops::Deref for FakeServer {
    type Target = FakeState;

    fn deref(&self) -> &FakeState {
        &self.0
    }
}

#[derive(Default)]
struct FakeState {
    /// Put before the names of its scenes, to tell one server's from another's.
    scene_prefix: String,
    created: Mutex<Vec<(String, Instant)>>,
    polls: Mutex<Vec<Poll>>,
    script: Mutex<VecDeque<Answer>>,
    /// The next N scene creations fail as if the network were down.
    failing_creates: Mutex<u32>,
    /// The bearer each scene was created with (a link scene's is the console's token).
    create_bearers: Mutex<Vec<Option<String>>>,
    /// Scene creation is refused with this (e.g. the console's session is over).
    refuse_creates: Mutex<Option<ApiError>>,
    /// The scenes withdrawn, in order.
    withdrawn: Mutex<Vec<String>>,
    /// Withdrawals are never answered.
    withdrawals_hang: Mutex<bool>,
    /// How long each scene creation takes (a slow network): long enough for another loop to
    /// start, or to cache its code, while one waits for its new code.
    create_delay: Mutex<Duration>,
}

impl FakeServer {
    fn scripted(answers: impl IntoIterator<Item = Result<PollAnswer, ApiError>>) -> Self {
        let server = Self::default();
        server
            .script
            .lock()
            .unwrap()
            .extend(answers.into_iter().map(Answer::Now));
        server
    }

    /// Another server, whose scenes' names begin with `scene_prefix`.
    fn named(scene_prefix: &str) -> Self {
        Self(Arc::new(FakeState {
            scene_prefix: scene_prefix.to_owned(),
            ..FakeState::default()
        }))
    }
}

impl FakeState {
    fn scenes_created(&self) -> usize {
        self.created.lock().unwrap().len()
    }
}

impl ScanApi for FakeServer {
    fn same_server(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    async fn create_scene(&self, purpose: &ScanPurpose) -> Result<NewScene, ApiError> {
        let delay = *self.create_delay.lock().unwrap();
        if !delay.is_zero() {
            sleep(delay).await;
        }
        self.create_bearers.lock().unwrap().push(match purpose {
            ScanPurpose::Login => None,
            ScanPurpose::Link { console_token } => Some(console_token.expose().to_owned()),
        });
        if let Some(refusal) = self.refuse_creates.lock().unwrap().take() {
            return Err(refusal);
        }
        {
            let mut failing = self.failing_creates.lock().unwrap();
            if *failing > 0 {
                *failing -= 1;
                return Err(ApiError::Unreachable);
            }
        }
        let mut created = self.created.lock().unwrap();
        let scene = format!("{}scene{}", self.scene_prefix, created.len() + 1);
        created.push((scene.clone(), Instant::now()));
        Ok(NewScene {
            poll_token: Secret::new(format!("poll-{scene}")),
            expires_in: SCENE_TTL,
            interval: INTERVAL,
            png_url: format!("/auth/scenes/{scene}/qr.png"),
            scene,
        })
    }

    async fn poll_scene(
        &self,
        scene: &str,
        poll_token: &Secret,
        wait: Duration,
    ) -> Result<PollAnswer, ApiError> {
        assert_eq!(
            poll_token.expose(),
            format!("poll-{scene}"),
            "polled with another scene's token"
        );
        self.polls.lock().unwrap().push(Poll {
            scene: scene.to_owned(),
            at: Instant::now(),
            wait,
        });
        let made_here = self
            .created
            .lock()
            .unwrap()
            .iter()
            .any(|(made, _)| made == scene);
        if !made_here {
            return rejected(ErrorCode::NotFound);
        }
        let next = self.script.lock().unwrap().pop_front();
        match next {
            Some(Answer::Now(answer)) => answer,
            None => {
                sleep(wait).await;
                Ok(PollAnswer::Pending)
            }
        }
    }

    async fn image_data_url(&self, url_or_path: &str) -> Result<String, ApiError> {
        Ok(format!("data:image/png;base64,{url_or_path}"))
    }

    async fn withdraw_scene(&self, scene: &str, poll_token: &Secret) -> Result<(), ApiError> {
        assert_eq!(poll_token.expose(), format!("poll-{scene}"));
        self.withdrawn.lock().unwrap().push(scene.to_owned());
        if *self.withdrawals_hang.lock().unwrap() {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

fn rejected(code: ErrorCode) -> Result<PollAnswer, ApiError> {
    Err(ApiError::Rejected {
        code,
        message: code.to_string(),
        retry_after: None,
    })
}

fn scanned(name: &str) -> Result<PollAnswer, ApiError> {
    Ok(PollAnswer::Scanned {
        user: ScannerProfile {
            display_name: name.to_owned(),
            avatar_url: Some(format!("https://avatars.example/{name}.png")),
        },
    })
}

fn confirmed(name: &str) -> Result<PollAnswer, ApiError> {
    Ok(PollAnswer::Confirmed {
        access_token: Secret::new(format!("jwt-of-{name}")),
        token_type: "Bearer".into(),
        expires_in: 7 * 24 * 3600,
        user: User {
            id: format!("u-{name}"),
            display_name: name.to_owned(),
            avatar_url: None,
            roles: vec!["organizer".into()],
        },
    })
}

/// Runs the loop for at most `limit` of virtual time and returns its grant and every event.
async fn run_for(
    server: &FakeServer,
    cache: &SceneCache<FakeServer>,
    limit: Duration,
) -> (Option<ScanGrant>, Vec<ScanEvent>) {
    let events = Mutex::new(Vec::new());
    let grant = timeout(
        limit,
        run_scan_login(server, cache, ScanTiming::default(), |event| {
            events.lock().unwrap().push(event)
        }),
    )
    .await
    .ok();
    (grant, events.into_inner().unwrap())
}

/// The name of the scene the cache holds.
fn cached_scene(cache: &SceneCache<FakeServer>) -> Option<String> {
    cache
        .lock()
        .as_ref()
        .map(|cached| cached.active.scene.clone())
}

fn qr_images(events: &[ScanEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|event| match event {
            ScanEvent::Qr { image, .. } => Some(image.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn rotates_the_qr_before_the_scene_expires_without_any_click() {
    let server = FakeServer::default();
    let (grant, events) = run_for(&server, &SceneCache::default(), Duration::from_secs(250)).await;

    assert!(grant.is_none());
    // 120 s scenes rotated 10 s early: new codes at 0 s, 110 s and 220 s.
    assert_eq!(server.scenes_created(), 3);
    let images = qr_images(&events);
    assert_eq!(images.len(), 3);
    assert_ne!(images[0], images[1]);
    let created = server.created.lock().unwrap().clone();
    let start = created[0].1;
    assert_eq!(created[1].1 - start, Duration::from_secs(110));
    assert_eq!(created[2].1 - start, Duration::from_secs(220));
    // No long-poll of a scene outlives its rotation point, so nobody scans a dead code.
    let polls = server.polls.lock().unwrap().clone();
    assert!(polls.len() >= 3, "every scene was polled: {polls:?}");
    for poll in &polls {
        let (_, born) = created
            .iter()
            .find(|(scene, _)| *scene == poll.scene)
            .unwrap();
        assert!(
            poll.at + poll.wait <= *born + Duration::from_secs(110),
            "{poll:?}"
        );
        assert!(poll.wait <= Duration::from_secs(30) && poll.wait >= Duration::from_secs(1));
    }
    assert!(
        !events
            .iter()
            .any(|event| matches!(event, ScanEvent::Offline { .. }))
    );
}

/// A code replaced on time, nobody seen scanning it, is withdrawn on the server (a phone that
/// scanned it in its last moments would confirm a login nobody follows), in the background: a
/// server that does not answer the withdrawal does not hold up the next code.
#[tokio::test(start_paused = true)]
async fn a_code_replaced_on_time_is_withdrawn_without_holding_up_the_next() {
    let server = FakeServer::default();
    *server.withdrawals_hang.lock().unwrap() = true;
    let (_, events) = run_for(&server, &SceneCache::default(), Duration::from_secs(250)).await;

    assert_eq!(*server.withdrawn.lock().unwrap(), ["scene1", "scene2"]);
    let created = server.created.lock().unwrap().clone();
    let start = created[0].1;
    assert_eq!(created[1].1 - start, Duration::from_secs(110));
    assert_eq!(created[2].1 - start, Duration::from_secs(220));
    assert_eq!(qr_images(&events).len(), 3);

    // The link loop replaces its codes the same way.
    let server = FakeServer::default();
    let _ = link_for(&server, Duration::from_secs(130)).await;
    assert_eq!(*server.withdrawn.lock().unwrap(), ["scene1"]);
}

/// Checks that the loop did not withdraw the code whose confirm it delivered: the server would
/// answer `scene_claimed`, and what the confirm made is the caller's. A withdrawal is left to a
/// task of its own: on the paused clock, time moves on only once every task waits, so those
/// spawned have run by the end of the second.
async fn confirmed_code_not_withdrawn(server: &FakeServer) {
    sleep(Duration::from_secs(1)).await;
    assert!(server.withdrawn.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn scanned_then_confirmed_returns_the_login_and_clears_the_cache() {
    let server = FakeServer::scripted([Ok(PollAnswer::Pending), scanned("Ann"), confirmed("Ann")]);
    let cache = SceneCache::default();
    let (grant, events) = run_for(&server, &cache, Duration::from_secs(60)).await;

    let grant = grant.expect("the confirmed scan ends the loop");
    assert_eq!(grant.access_token.expose(), "jwt-of-Ann");
    assert_eq!(grant.user.display_name, "Ann");
    assert_eq!(grant.expires_in, Duration::from_secs(7 * 24 * 3600));
    assert!(
        matches!(&events[0], ScanEvent::Qr { image, .. } if image.ends_with("/auth/scenes/scene1/qr.png"))
    );
    assert!(events.contains(&ScanEvent::Scanned {
        display_name: "Ann".into(),
        avatar: Some("data:image/png;base64,https://avatars.example/Ann.png".into()),
    }));
    assert!(matches!(
        cache.reusable(&server, Duration::ZERO),
        Cached::NotReusable
    ));
    confirmed_code_not_withdrawn(&server).await;
    // The poll after an immediate answer waited for the server's interval.
    let polls = server.polls.lock().unwrap().clone();
    for pair in polls.windows(2) {
        assert!(pair[1].at - pair[0].at >= INTERVAL, "{pair:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_decline_shows_a_message_and_a_fresh_qr() {
    let server = FakeServer::scripted([
        scanned("Ann"),
        rejected(ErrorCode::AccessDenied),
        confirmed("Ann"),
    ]);
    let (grant, events) = run_for(&server, &SceneCache::default(), Duration::from_secs(60)).await;

    assert!(grant.is_some());
    assert_eq!(server.scenes_created(), 2);
    let declined = events
        .iter()
        .position(|event| *event == ScanEvent::Declined)
        .expect("declined shown");
    let fresh_qr = events
        .iter()
        .rposition(|event| matches!(event, ScanEvent::Qr { .. }))
        .unwrap();
    assert!(
        fresh_qr > declined,
        "the fresh QR follows the message: {events:?}"
    );
    assert_eq!(qr_images(&events).len(), 2);
    // Declined is final on the server: no confirm can follow, so nothing to withdraw.
    assert!(server.withdrawn.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_account_without_organizer_role_is_told_so_and_gets_a_fresh_qr() {
    let server = FakeServer::scripted([scanned("guest1"), rejected(ErrorCode::NotOrganizer)]);
    let (grant, events) = run_for(&server, &SceneCache::default(), Duration::from_secs(30)).await;

    assert!(grant.is_none());
    assert!(events.contains(&ScanEvent::NotOrganizer));
    assert_eq!(server.scenes_created(), 2);
}

#[tokio::test(start_paused = true)]
async fn an_expired_scene_is_replaced() {
    let server = FakeServer::scripted([
        scanned("Ann"),
        rejected(ErrorCode::SceneExpired),
        rejected(ErrorCode::InvalidPollToken),
    ]);
    let (_, events) = run_for(&server, &SceneCache::default(), Duration::from_secs(30)).await;

    assert!(events.contains(&ScanEvent::Expired));
    assert_eq!(server.scenes_created(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_server_refusing_every_poll_is_not_asked_for_scene_after_scene_at_once() {
    // Two instances that share no store: every poll lands on the one that never saw the scene.
    let server = FakeServer::scripted((0..10_000).map(|_| rejected(ErrorCode::InvalidPollToken)));
    let (_, _) = run_for(&server, &SceneCache::default(), Duration::from_secs(60)).await;
    let created = server.scenes_created();
    // 1 + 2 + 4 + 8 + 16 + 29 s of waiting between them: a handful, not thousands.
    assert!((3..=10).contains(&created), "{created} scenes in a minute");
}

#[tokio::test(start_paused = true)]
async fn a_scanned_scene_is_not_rotated_while_the_phone_confirms() {
    // The phone keeps the scene "scanned" for 3 minutes (past the 110 s rotation point), then confirms.
    let mut answers: Vec<_> = (0..90).map(|_| scanned("Ann")).collect();
    answers.push(confirmed("Ann"));
    let server = FakeServer::scripted(answers);
    let (grant, _) = run_for(&server, &SceneCache::default(), Duration::from_secs(400)).await;

    assert!(grant.is_some());
    assert_eq!(server.scenes_created(), 1);
    assert!(server.withdrawn.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn network_loss_backs_off_then_recovers_on_the_same_scene() {
    let unreachable = || Err(ApiError::Unreachable);
    let server = FakeServer::scripted([
        unreachable(),
        unreachable(),
        unreachable(),
        scanned("Ann"),
        confirmed("Ann"),
    ]);
    let (grant, events) = run_for(&server, &SceneCache::default(), Duration::from_secs(60)).await;

    assert!(grant.is_some(), "recovered: {events:?}");
    let offline: Vec<u64> = events
        .iter()
        .filter_map(|event| match event {
            ScanEvent::Offline { retry_in_secs } => Some(*retry_in_secs),
            _ => None,
        })
        .collect();
    assert_eq!(offline, [1, 2, 4]);
    assert_eq!(server.scenes_created(), 1, "the QR on screen stayed valid");
    let last_offline = events
        .iter()
        .rposition(|event| matches!(event, ScanEvent::Offline { .. }))
        .unwrap();
    assert!(matches!(
        events[last_offline + 1],
        ScanEvent::Scanned { .. }
    ));
}

#[tokio::test(start_paused = true)]
async fn a_server_down_at_start_is_retried_until_it_answers() {
    let server = FakeServer::default();
    *server.failing_creates.lock().unwrap() = 2;
    let (_, events) = run_for(&server, &SceneCache::default(), Duration::from_secs(10)).await;

    assert!(
        matches!(
            events[..],
            [
                ScanEvent::Offline { retry_in_secs: 1 },
                ScanEvent::Offline { retry_in_secs: 2 },
                ScanEvent::Qr { .. },
                ..
            ]
        ),
        "{events:?}"
    );
    assert_eq!(server.scenes_created(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_long_outage_ends_with_a_fresh_qr_when_the_old_one_is_due() {
    let server = FakeServer::scripted((0..8).map(|_| Err(ApiError::Unreachable)));
    // 1+2+4+8+16+30+30+30 s of backoff: the first scene's rotation point (110 s) passes meanwhile.
    let (_, events) = run_for(&server, &SceneCache::default(), Duration::from_secs(150)).await;

    assert_eq!(server.scenes_created(), 2);
    assert!(
        matches!(events.last(), Some(ScanEvent::Waiting)),
        "{events:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn slow_down_is_respected() {
    let server = FakeServer::scripted([Err(ApiError::Rejected {
        code: ErrorCode::SlowDown,
        message: "slow down".into(),
        retry_after: Some(Duration::from_secs(7)),
    })]);
    let _ = run_for(&server, &SceneCache::default(), Duration::from_secs(20)).await;

    let polls = server.polls.lock().unwrap().clone();
    assert!(polls.len() >= 2);
    assert!(polls[1].at - polls[0].at >= Duration::from_secs(7));
}

/// A scene creation answered 429 with `Retry-After` (the address's scene budget is spent) is
/// asked again no sooner than the server said, and the console says when.
#[tokio::test(start_paused = true)]
async fn a_refused_scene_creation_waits_the_servers_retry_after() {
    let server = FakeServer::default();
    *server.refuse_creates.lock().unwrap() = Some(ApiError::Rejected {
        code: ErrorCode::TooManyRequests,
        message: "too many scenes from this address".into(),
        retry_after: Some(Duration::from_secs(40)),
    });
    let started = Instant::now();
    let (_, events) = run_for(&server, &SceneCache::default(), Duration::from_secs(60)).await;

    let created = server.created.lock().unwrap().clone();
    assert_eq!(created.len(), 1, "{created:?}");
    assert!(
        created[0].1 - started >= Duration::from_secs(40),
        "{created:?}"
    );
    assert!(
        matches!(
            events.first(),
            Some(ScanEvent::Offline { retry_in_secs: 40 })
        ),
        "{events:?}"
    );
}

/// A server that answers a scan login with a redirect (an SSO proxy before it, say) will answer the
/// same next time: the screen says so, by its code, rather than that the server is not answering;
/// the loop still asks again later.
#[tokio::test(start_paused = true)]
async fn a_scene_creation_the_server_answers_wrongly_says_why() {
    let server = FakeServer::default();
    *server.refuse_creates.lock().unwrap() = Some(ApiError::Redirected {
        status: 302,
        location: "https://sso.example/login".into(),
    });
    let (_, events) = run_for(&server, &SceneCache::default(), Duration::from_secs(60)).await;

    let Some(ScanEvent::Failing { problem, .. }) = events.first() else {
        panic!("{events:?}");
    };
    assert_eq!(problem.code, "server_redirected");
    assert!(
        !events
            .iter()
            .any(|event| matches!(event, ScanEvent::Offline { .. })),
        "{events:?}"
    );
    assert_eq!(
        server.scenes_created(),
        1,
        "asked again once the redirect was gone"
    );
}

#[tokio::test(start_paused = true)]
async fn reopening_the_screen_shows_the_cached_qr_instead_of_a_new_scene() {
    let server = FakeServer::default();
    let cache = SceneCache::default();
    let (_, first) = run_for(&server, &cache, Duration::from_secs(30)).await;
    let (_, second) = run_for(&server, &cache, Duration::from_secs(30)).await;

    assert_eq!(server.scenes_created(), 1);
    assert_eq!(qr_images(&first), qr_images(&second)[..1]);
    assert!(matches!(&second[0], ScanEvent::Qr { .. }));
    // Under the cached code the screen says it waits for a scan, as under a new one.
    assert_eq!(second[1], ScanEvent::Waiting);

    // Reopened with too little time left on the code: a new scene rather than one about to rotate.
    sleep(Duration::from_secs(50)).await;
    let (_, third) = run_for(&server, &cache, Duration::from_secs(5)).await;
    assert_eq!(server.scenes_created(), 2);
    assert_ne!(qr_images(&third)[0], qr_images(&first)[0]);
}

/// A cached code too close to its rotation to be shown again can still be scanned, and confirmed
/// until it expires: the new code that takes its place in the cache withdraws it.
#[tokio::test(start_paused = true)]
async fn a_cached_code_too_close_to_its_rotation_is_withdrawn_when_a_new_one_takes_its_place() {
    let server = FakeServer::default();
    let cache = SceneCache::default();
    let _ = run_for(&server, &cache, Duration::from_secs(30)).await;
    // At 105 s: 5 s before its rotation, less than the 8 s a cached code needs to be shown again.
    sleep(Duration::from_secs(75)).await;
    let (_, events) = run_for(&server, &cache, Duration::from_secs(5)).await;

    assert_eq!(
        qr_images(&events),
        ["data:image/png;base64,/auth/scenes/scene2/qr.png"]
    );
    assert_eq!(*server.withdrawn.lock().unwrap(), ["scene1"]);
    assert_eq!(cached_scene(&cache).as_deref(), Some("scene2"));
}

/// A loop being stopped while its new code is on the way (the step it is in finishes on another
/// thread) caches that code after the next loop found the cache empty: nobody shows or polls it,
/// but a phone could still confirm it. The next loop's own code takes its place, and withdraws it.
#[tokio::test(start_paused = true)]
async fn a_code_cached_by_a_stopped_loop_after_the_next_one_started_is_withdrawn() {
    let server = FakeServer::default();
    *server.create_delay.lock().unwrap() = Duration::from_secs(2);
    let cache = SceneCache::default();
    // The first loop rotates its code at 110 s and caches the next at 112 s; the next loop starts
    // at 111 s and caches its own at 113 s.
    let first_loop = run_for(&server, &cache, Duration::from_millis(112_500));
    let next_loop = async {
        sleep(Duration::from_secs(111)).await;
        run_for(&server, &cache, Duration::from_secs(10)).await
    };
    let ((_, first), (_, next)) = tokio::join!(first_loop, next_loop);

    assert_eq!(qr_images(&first).len(), 2, "{first:?}");
    assert_eq!(
        qr_images(&next),
        ["data:image/png;base64,/auth/scenes/scene3/qr.png"]
    );
    // scene1 replaced on time by the first loop; scene2 taken out of the cache by the next loop's.
    assert_eq!(*server.withdrawn.lock().unwrap(), ["scene1", "scene2"]);
    assert_eq!(cached_scene(&cache).as_deref(), Some("scene3"));
}

/// A loop being stopped as its code's rotation comes (the step it is in finishes on another
/// thread), after the next loop cached its own code: it takes only its own code out of the cache,
/// and the next loop's stays there, to be withdrawn by whatever empties the cache (a password
/// login, the window's close). Its own code was withdrawn once, when the next loop's took its place.
#[tokio::test(start_paused = true)]
async fn a_loop_replacing_its_code_leaves_the_next_loops_code_cached() {
    let server = FakeServer::default();
    *server.create_delay.lock().unwrap() = Duration::from_secs(2);
    let cache = SceneCache::default();
    // The first loop's code rotates at 110 s; the next loop, at 105 s, finds too little time left
    // on it and caches its own at 107 s.
    let first_loop = run_for(&server, &cache, Duration::from_secs(111));
    let next_loop = async {
        sleep(Duration::from_secs(105)).await;
        run_for(&server, &cache, Duration::from_secs(10)).await
    };
    let ((_, first), (_, next)) = tokio::join!(first_loop, next_loop);

    assert_eq!(
        qr_images(&first),
        ["data:image/png;base64,/auth/scenes/scene1/qr.png"]
    );
    assert_eq!(
        qr_images(&next),
        ["data:image/png;base64,/auth/scenes/scene2/qr.png"]
    );
    assert_eq!(cached_scene(&cache).as_deref(), Some("scene2"));
    assert_eq!(*server.withdrawn.lock().unwrap(), ["scene1"]);
}

/// A scene cached by a loop on one server (stopped mid-step as Settings named another) is not shown
/// by a loop on the other: its QR would log in on the first server while the loop polls the second,
/// which knows no such scene. It is withdrawn where it was made, and the loop makes its own.
#[tokio::test(start_paused = true)]
async fn a_scene_made_on_another_server_is_withdrawn_there_not_shown() {
    let made_on = FakeServer::default();
    let cache = SceneCache::default();
    let (_, first) = run_for(&made_on, &cache, Duration::from_secs(5)).await;
    assert_eq!(qr_images(&first).len(), 1, "{first:?}");

    let now_named = FakeServer::named("b-");
    let (_, events) = run_for(&now_named, &cache, Duration::from_secs(5)).await;

    assert_eq!(*made_on.withdrawn.lock().unwrap(), ["scene1"]);
    assert!(now_named.withdrawn.lock().unwrap().is_empty());
    assert_eq!(now_named.scenes_created(), 1);
    assert_eq!(
        qr_images(&events),
        ["data:image/png;base64,/auth/scenes/b-scene1/qr.png"]
    );
    let polls = now_named.polls.lock().unwrap().clone();
    assert!(
        polls.iter().all(|poll| poll.scene == "b-scene1"),
        "{polls:?}"
    );
}

/// The screen left (settings, the password tab) and reopened while the phone that scanned the code
/// still confirms, past the code's rotation: the same scene, shown as scanned, and its confirm
/// logs the console in. A fresh code there would drop the login the phone is about to confirm.
#[tokio::test(start_paused = true)]
async fn reopening_the_screen_past_the_rotation_keeps_a_scanned_scene() {
    let server = FakeServer::scripted([scanned("Ann")]);
    let cache = SceneCache::default();
    // Left a second after the scan (the loop waits out the poll interval then).
    let (_, first) = run_for(&server, &cache, Duration::from_secs(1)).await;
    assert!(
        matches!(first.last(), Some(ScanEvent::Scanned { .. })),
        "{first:?}"
    );

    // Past the rotation (110 s): an unscanned code would be replaced now.
    sleep(Duration::from_secs(115)).await;
    server
        .script
        .lock()
        .unwrap()
        .push_back(Answer::Now(confirmed("Ann")));
    let (grant, second) = run_for(&server, &cache, Duration::from_secs(30)).await;

    assert_eq!(grant.map(|grant| grant.user.id).as_deref(), Some("u-Ann"));
    assert_eq!(server.scenes_created(), 1);
    assert_eq!(qr_images(&second), qr_images(&first));
    let display_name = match &second[1] {
        ScanEvent::Scanned { display_name, .. } => display_name.as_str(),
        shown => panic!("the reopened screen shows {shown:?}, not the scan"),
    };
    assert_eq!(display_name, "Ann");
    confirmed_code_not_withdrawn(&server).await;
}

/// A scene on screen, as the loop caches it.
fn on_screen(scene: &str) -> ActiveScene {
    ActiveScene {
        scene: scene.into(),
        poll_token: Secret::new(format!("poll-{scene}")),
        interval: INTERVAL,
        image: "data:image/png;base64,x".into(),
        rotate_at: Instant::now(),
        scanned_by: None,
    }
}

/// A scene stored in place of another hands that one back, with the client of the server it was
/// made on, to be withdrawn there. The same scene stored again is not handed back (it is still
/// on screen); one of the same name made on another server is another scene.
#[test]
fn a_scene_stored_hands_back_the_one_it_takes_the_place_of() {
    let (server, other_server) = (FakeServer::default(), FakeServer::named("b-"));
    let cache = SceneCache::default();
    assert!(cache.store(server.clone(), on_screen("scene1")).is_none());
    assert!(
        cache.store(server.clone(), on_screen("scene1")).is_none(),
        "the same scene stored again was handed back"
    );

    let (made_on, displaced) = cache
        .store(server.clone(), on_screen("scene2"))
        .expect("scene1 handed back");
    assert!(made_on.same_server(&server));
    assert_eq!(displaced.scene, "scene1");
    assert_eq!(displaced.poll_token.expose(), "poll-scene1");

    let (made_on, displaced) = cache
        .store(other_server.clone(), on_screen("scene2"))
        .expect("the first server's scene2 handed back");
    assert!(made_on.same_server(&server));
    assert_eq!(displaced.scene, "scene2");
    let cached = cache.lock();
    let cached = cached.as_ref().expect("a scene cached");
    assert!(cached.made_on.same_server(&other_server));
    assert_eq!(cached.active.scene, "scene2");
}

/// A "new code" clears the cache while the loop it replaces is being stopped: a scan that loop
/// notes then neither brings the old scene back nor marks the new code scanned.
#[test]
fn a_scan_noted_by_a_replaced_loop_changes_nothing_cached() {
    let by_ann = || {
        Some(ScanEvent::Scanned {
            display_name: "Ann".into(),
            avatar: None,
        })
    };
    let cache = SceneCache::default();
    assert!(
        cache
            .store(FakeServer::default(), on_screen("scene1"))
            .is_none()
    );
    assert!(cache.take().is_some());
    cache.note_scanned("scene1", by_ann());
    assert!(cache.lock().is_none());

    assert!(
        cache
            .store(FakeServer::default(), on_screen("scene2"))
            .is_none()
    );
    cache.note_scanned("scene1", by_ann());
    assert!(
        cache
            .lock()
            .as_ref()
            .is_some_and(|cached| !cached.active.scanned())
    );
    cache.note_scanned("scene2", by_ann());
    assert!(
        cache
            .lock()
            .as_ref()
            .is_some_and(|cached| cached.active.scanned())
    );
}

/// Told to slow down for longer than the code has left, the loop still replaces the code when it
/// is due rather than leave a dead one on screen.
#[tokio::test(start_paused = true)]
async fn slow_down_past_the_rotation_still_rotates_on_time() {
    let server = FakeServer::default();
    let cache = SceneCache::default();
    let _ = run_for(&server, &cache, Duration::from_secs(100)).await;
    server
        .script
        .lock()
        .unwrap()
        .push_back(Answer::Now(Err(ApiError::Rejected {
            code: ErrorCode::SlowDown,
            message: "slow down".into(),
            retry_after: Some(Duration::from_secs(60)),
        })));
    let (_, events) = run_for(&server, &cache, Duration::from_secs(30)).await;

    assert_eq!(server.scenes_created(), 2, "{events:?}");
    let created = server.created.lock().unwrap().clone();
    // Rotated 10 s before the 120 s expiry, not after the 60 s the server asked for.
    assert!(
        created[1].1 - created[0].1 <= Duration::from_secs(111),
        "{created:?}"
    );
}

fn link_purpose() -> ScanPurpose {
    ScanPurpose::Link {
        console_token: Secret::new("jwt-of-the-console"),
    }
}

/// Runs the link loop for at most `limit` of virtual time: its outcome (`None`: still running) and
/// every event.
async fn link_for(
    server: &FakeServer,
    limit: Duration,
) -> (Option<Result<ScanDone, ApiError>>, Vec<ScanEvent>) {
    let events = Mutex::new(Vec::new());
    let done = timeout(
        limit,
        run_scan(
            server,
            &SceneCache::default(),
            ScanTiming::default(),
            &link_purpose(),
            |event| events.lock().unwrap().push(event),
        ),
    )
    .await
    .ok();
    (done, events.into_inner().unwrap())
}

#[tokio::test(start_paused = true)]
async fn linking_follows_the_scan_as_login_does_and_ends_linked() {
    let server = FakeServer::scripted([
        Ok(PollAnswer::Pending),
        scanned("Ann"),
        rejected(ErrorCode::AccessDenied),
        scanned("Ann"),
        Ok(PollAnswer::Linked),
    ]);
    let (done, events) = link_for(&server, Duration::from_secs(60)).await;

    assert!(matches!(done, Some(Ok(ScanDone::Linked))), "{done:?}");
    assert!(events.contains(&ScanEvent::Declined));
    assert!(events.contains(&ScanEvent::Scanned {
        display_name: "Ann".into(),
        avatar: Some("data:image/png;base64,https://avatars.example/Ann.png".into()),
    }));
    // Declined, then a fresh link scene, each created with the console's token.
    assert_eq!(server.scenes_created(), 2);
    assert_eq!(
        *server.create_bearers.lock().unwrap(),
        [
            Some("jwt-of-the-console".to_owned()),
            Some("jwt-of-the-console".to_owned())
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_link_scene_rotates_before_it_expires() {
    let server = FakeServer::default();
    let (done, events) = link_for(&server, Duration::from_secs(250)).await;
    assert!(done.is_none());
    assert_eq!(server.scenes_created(), 3);
    assert_eq!(qr_images(&events).len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_wechat_of_another_account_is_told_so_and_gets_a_fresh_qr() {
    let server = FakeServer::scripted([scanned("Ann"), rejected(ErrorCode::IdentityInUse)]);
    let (done, events) = link_for(&server, Duration::from_secs(30)).await;

    assert!(done.is_none());
    let refused = events
        .iter()
        .position(|event| *event == ScanEvent::IdentityInUse)
        .expect("identity_in_use shown");
    assert!(
        events[refused..]
            .iter()
            .any(|event| matches!(event, ScanEvent::Qr { .. })),
        "a fresh QR follows: {events:?}"
    );
    assert_eq!(server.scenes_created(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_refused_link_scene_ends_the_loop_with_the_refusal() {
    let server = FakeServer::default();
    *server.refuse_creates.lock().unwrap() = Some(ApiError::Rejected {
        code: ErrorCode::TokenRevoked,
        message: "revoked".into(),
        retry_after: None,
    });
    let (done, events) = link_for(&server, Duration::from_secs(30)).await;

    assert!(
        matches!(
            done,
            Some(Err(ApiError::Rejected {
                code: ErrorCode::TokenRevoked,
                ..
            }))
        ),
        "{done:?}"
    );
    assert!(events.is_empty(), "{events:?}");
}

#[tokio::test(start_paused = true)]
async fn a_link_scene_rides_out_a_server_that_is_down() {
    let server = FakeServer::default();
    *server.failing_creates.lock().unwrap() = 2;
    let (done, events) = link_for(&server, Duration::from_secs(10)).await;
    assert!(done.is_none());
    assert!(
        matches!(
            events[..],
            [
                ScanEvent::Offline { retry_in_secs: 1 },
                ScanEvent::Offline { retry_in_secs: 2 },
                ScanEvent::Qr { .. },
                ..
            ]
        ),
        "{events:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_answer_of_the_other_purpose_is_not_taken() {
    // A login scene never ends on `linked`, a link scene never on a token.
    let server = FakeServer::scripted([Ok(PollAnswer::Linked)]);
    let (grant, _) = run_for(&server, &SceneCache::default(), Duration::from_secs(20)).await;
    assert!(grant.is_none());
    assert_eq!(
        *server.create_bearers.lock().unwrap(),
        [None],
        "a login scene carries no token"
    );

    let server = FakeServer::scripted([confirmed("Ann")]);
    let (done, _) = link_for(&server, Duration::from_secs(20)).await;
    assert!(done.is_none(), "{done:?}");
}

#[test]
fn judge_maps_every_answer_of_each_purpose() {
    let login = ScanPurpose::Login;
    let link = link_purpose();
    let verdict = |purpose: &ScanPurpose, answer| match judge(purpose, answer) {
        PollVerdict::Continue { scanner: None } => "continue",
        PollVerdict::Continue { scanner: Some(_) } => "scanned",
        PollVerdict::Done(ScanDone::LoggedIn(_)) => "logged_in",
        PollVerdict::Done(ScanDone::Linked) => "linked",
        PollVerdict::Replace(Some(ScanEvent::Declined)) => "declined",
        PollVerdict::Replace(Some(ScanEvent::NotOrganizer)) => "not_organizer",
        PollVerdict::Replace(Some(ScanEvent::Expired)) => "expired",
        PollVerdict::Replace(Some(ScanEvent::IdentityInUse)) => "identity_in_use",
        PollVerdict::Replace(_) => "replace",
        PollVerdict::Wait(_) => "wait",
        PollVerdict::Retry(_) => "retry",
    };
    let identity_in_use = || rejected(ErrorCode::IdentityInUse);
    let unknown = || {
        Err(ApiError::RejectedOther {
            code: "something_new".into(),
            message: "new".into(),
            status: 400,
        })
    };
    for purpose in [&login, &link] {
        assert_eq!(verdict(purpose, Ok(PollAnswer::Pending)), "continue");
        assert_eq!(verdict(purpose, scanned("Ann")), "scanned");
        assert_eq!(
            verdict(purpose, rejected(ErrorCode::AccessDenied)),
            "declined"
        );
        assert_eq!(
            verdict(purpose, rejected(ErrorCode::SceneExpired)),
            "expired"
        );
        assert_eq!(
            verdict(purpose, rejected(ErrorCode::InvalidPollToken)),
            "replace"
        );
        assert_eq!(verdict(purpose, rejected(ErrorCode::SlowDown)), "wait");
        assert_eq!(verdict(purpose, Err(ApiError::Unreachable)), "retry");
        assert_eq!(verdict(purpose, identity_in_use()), "identity_in_use");
        assert_eq!(verdict(purpose, unknown()), "retry");
    }
    assert_eq!(verdict(&login, confirmed("Ann")), "logged_in");
    assert_eq!(verdict(&login, Ok(PollAnswer::Linked)), "retry");
    assert_eq!(verdict(&link, Ok(PollAnswer::Linked)), "linked");
    assert_eq!(verdict(&link, confirmed("Ann")), "retry");
}

/// A withdrawal the server never answers gives up at its bound, having asked.
#[tokio::test(start_paused = true)]
async fn a_withdrawal_waits_for_the_server_no_longer_than_its_bound() {
    let server = FakeServer::default();
    *server.withdrawals_hang.lock().unwrap() = true;
    let left = withdrawal::LeftScene {
        scene: "scene1".into(),
        poll_token: Secret::new("poll-scene1"),
    };
    let started = Instant::now();
    withdrawal::withdraw(&server, &left, Duration::from_secs(3), "a test").await;
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    assert_eq!(*server.withdrawn.lock().unwrap(), ["scene1"]);
}

#[test]
fn only_a_refused_link_scene_creation_ends_the_loop() {
    let refused = ApiError::Rejected {
        code: ErrorCode::TokenRevoked,
        message: String::new(),
        retry_after: None,
    };
    let busy = ApiError::Rejected {
        code: ErrorCode::StoreUnavailable,
        message: String::new(),
        retry_after: None,
    };
    let forbidden = ApiError::Rejected {
        code: ErrorCode::Forbidden,
        message: String::new(),
        retry_after: None,
    };
    let unknown = ApiError::RejectedOther {
        code: "something_new".into(),
        message: String::new(),
        status: 400,
    };
    let unknown_busy = ApiError::RejectedOther {
        code: "something_new".into(),
        message: String::new(),
        status: 503,
    };
    assert!(!creation_refused(&link_purpose(), &unknown_busy));
    assert!(creation_refused(&link_purpose(), &refused));
    assert!(creation_refused(&link_purpose(), &forbidden));
    assert!(creation_refused(&link_purpose(), &unknown));
    assert!(!creation_refused(&link_purpose(), &busy));
    assert!(!creation_refused(&link_purpose(), &ApiError::Unreachable));
    assert!(!creation_refused(&ScanPurpose::Login, &refused));
}
