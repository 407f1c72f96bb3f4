//! The scan loop against a scripted fake server, on tokio's paused clock: rotation, decline,
//! refused accounts, network loss and recovery, the QR cache.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use meeteasy_protocol::{ErrorCode, IsLoginResponse, ScannerProfile, User};
use tokio::time::{Instant, sleep, timeout};

use super::*;
use crate::api::{ApiError, NewScene};

const SCENE_TTL: Duration = Duration::from_secs(120);
const INTERVAL: Duration = Duration::from_secs(2);

/// One scripted answer to `islogin`; when the script runs out the fake long-polls "pending".
enum Answer {
    Now(Result<IsLoginResponse, ApiError>),
}

#[derive(Debug, Clone)]
struct Poll {
    scene: String,
    at: Instant,
    wait: Duration,
}

#[derive(Default)]
struct FakeServer {
    created: Mutex<Vec<(String, Instant)>>,
    polls: Mutex<Vec<Poll>>,
    script: Mutex<VecDeque<Answer>>,
    /// The next N scene creations fail as if the network were down.
    failing_creates: Mutex<u32>,
}

impl FakeServer {
    fn scripted(answers: impl IntoIterator<Item = Result<IsLoginResponse, ApiError>>) -> Self {
        let server = Self::default();
        server
            .script
            .lock()
            .unwrap()
            .extend(answers.into_iter().map(Answer::Now));
        server
    }

    fn scenes_created(&self) -> usize {
        self.created.lock().unwrap().len()
    }
}

impl ScanApi for FakeServer {
    async fn create_scene(&self) -> Result<NewScene, ApiError> {
        {
            let mut failing = self.failing_creates.lock().unwrap();
            if *failing > 0 {
                *failing -= 1;
                return Err(ApiError::Unreachable);
            }
        }
        let mut created = self.created.lock().unwrap();
        let scene = format!("scene{}", created.len() + 1);
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
    ) -> Result<IsLoginResponse, ApiError> {
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
        let next = self.script.lock().unwrap().pop_front();
        match next {
            Some(Answer::Now(answer)) => answer,
            None => {
                sleep(wait).await;
                Ok(IsLoginResponse::Pending)
            }
        }
    }

    async fn image_data_url(&self, url_or_path: &str) -> Result<String, ApiError> {
        Ok(format!("data:image/png;base64,{url_or_path}"))
    }
}

fn rejected(code: ErrorCode) -> Result<IsLoginResponse, ApiError> {
    Err(ApiError::Rejected {
        code,
        message: code.to_string(),
        retry_after: None,
    })
}

fn scanned(name: &str) -> Result<IsLoginResponse, ApiError> {
    Ok(IsLoginResponse::Scanned {
        user: ScannerProfile {
            display_name: name.to_owned(),
            avatar_url: Some(format!("https://avatars.example/{name}.png")),
        },
    })
}

fn confirmed(name: &str) -> Result<IsLoginResponse, ApiError> {
    Ok(IsLoginResponse::Confirmed {
        access_token: format!("jwt-of-{name}"),
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
    cache: &SceneCache,
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
    for poll in server.polls.lock().unwrap().iter() {
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

#[tokio::test(start_paused = true)]
async fn scanned_then_confirmed_returns_the_login_and_clears_the_cache() {
    let server = FakeServer::scripted([
        Ok(IsLoginResponse::Pending),
        scanned("Ann"),
        confirmed("Ann"),
    ]);
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
    assert!(cache.reusable(Duration::ZERO).is_none());
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
async fn a_scanned_scene_is_not_rotated_while_the_phone_confirms() {
    // The phone keeps the scene "scanned" for 3 minutes (past the 110 s rotation point), then confirms.
    let mut answers: Vec<_> = (0..90).map(|_| scanned("Ann")).collect();
    answers.push(confirmed("Ann"));
    let server = FakeServer::scripted(answers);
    let (grant, _) = run_for(&server, &SceneCache::default(), Duration::from_secs(400)).await;

    assert!(grant.is_some());
    assert_eq!(server.scenes_created(), 1);
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
