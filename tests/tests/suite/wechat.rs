//! WeChat end to end: the real server's WeChat client against the fake WeChat (dev mode's in-process
//! one, or a standalone one on a loopback port), and the phone simulator scanning the server's QR:
//! both QR modes, real single-use codes, unionid, every mapped errcode, hung WeChat calls, and the
//! login ticket a mini program login hands out.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::future::join_all;
use meeteasy_auth::config::{QrMode, Settings};
use meeteasy_devtools::fake_wechat::{FakeApp, FakeEndpoint, FakeFault, FakeWeChat};
use meeteasy_devtools::phone::{self, Decision, PhoneReport, PhoneScanArgs};
use meeteasy_protocol::{CreateSceneResponse, WeChatLoginResponse};
use meeteasy_tests::api::Reply;
use meeteasy_tests::server::{TestServer, dev_settings, http_client};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::flows::create_scene;

/// The WeChat timeout of the outage tests: short, so a test waits little, yet far above a loopback call.
const WECHAT_TIMEOUT: Duration = Duration::from_secs(2);
/// What a loaded test machine may add to a bound the server keeps.
const SCHEDULING_SLACK: Duration = Duration::from_millis(1500);

fn wxacode(settings: &mut Settings) {
    for app in &mut settings.apps {
        app.qr_mode = QrMode::Wxacode;
    }
}

/// The scene's QR image as served, after checking it is a PNG.
async fn qr_png(server: &TestServer, scene: &CreateSceneResponse) -> Vec<u8> {
    let response = server
        .http()
        .get(server.url(&scene.qr.png_url))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), 200, "qr.png of {}", scene.scene);
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    assert_eq!(content_type, Some("image/png"));
    let png = response.bytes().await.expect("the image arrives").to_vec();
    assert!(
        png.starts_with(&[0x89, b'P', b'N', b'G']),
        "PNG bytes, not {:02x?}",
        &png[..png.len().min(8)]
    );
    png
}

/// What a QR reader finds in the image.
pub(crate) fn qr_content(png: &[u8]) -> String {
    let image = image::load_from_memory(png)
        .expect("a decodable image")
        .to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().expect("a readable QR code").1
}

/// A server in wxacode mode with the short WeChat timeout, a fresh scene, and `endpoint` of the fake
/// WeChat set to hang on its next call.
async fn scene_with_hung(endpoint: FakeEndpoint) -> (TestServer, CreateSceneResponse) {
    let server = TestServer::start_with(|s| {
        wxacode(s);
        s.wechat.timeout = WECHAT_TIMEOUT;
    })
    .await;
    let scene = create_scene(&server).await;
    server.wechat().inject(endpoint, FakeFault::Hang, 1);
    (server, scene)
}

async fn poll(server: &TestServer, scene: &CreateSceneResponse) -> Reply {
    let path = format!("/auth/scenes/{}/islogin?wait=30", scene.scene);
    server.get(&path, Some(&scene.poll_token)).await
}

/// Long-polls until the scene leaves `pending`, as the console does.
async fn poll_past_pending(server: &TestServer, scene: &CreateSceneResponse) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = poll(server, scene).await;
        if reply.status != 200 || reply.body["status"] != "pending" || Instant::now() > deadline {
            return reply;
        }
    }
}

async fn verify(server: &TestServer, token: &str) -> Reply {
    server
        .post("/auth/jwt/verify", json!({"token": token}), None)
        .await
}

async fn login(server: &TestServer, code: &str, app: Option<&str>) -> Reply {
    server
        .post(
            "/auth/wechat/login",
            json!({"code": code, "app": app}),
            None,
        )
        .await
}

/// Logs in with a code the fake WeChat minted for `openid` in the default app.
async fn login_as(server: &TestServer, openid: &str) -> WeChatLoginResponse {
    let code = server
        .wechat()
        .mint_code(&server.settings().apps[0].appid, openid, None);
    let reply = login(server, &code, None).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.json()
}

/// A relay between the phone and the server that holds the phone's last step (confirm or cancel)
/// until released, like a person reading the confirm screen: the console's view of `scanned` is then
/// certain, not a race against the phone.
struct PhoneLink {
    url: String,
    release: watch::Sender<bool>,
}

struct Relay {
    upstream: String,
    http: reqwest::Client,
    released: watch::Receiver<bool>,
}

impl PhoneLink {
    async fn to(server: &TestServer) -> PhoneLink {
        let (release, released) = watch::channel(false);
        let relay = Arc::new(Relay {
            upstream: server.base_url.clone(),
            http: http_client(),
            released,
        });
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("a free port");
        let url = format!("http://{}", listener.local_addr().expect("a bound address"));
        let router = axum::Router::new().fallback(forward).with_state(relay);
        tokio::spawn(async move { axum::serve(listener, router).await });
        PhoneLink { url, release }
    }

    fn release(&self) {
        self.release.send_replace(true);
    }
}

async fn forward(State(relay): State<Arc<Relay>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    if path.ends_with("/confirm") || path.ends_with("/cancel") {
        let mut released = relay.released.clone();
        released
            .wait_for(|released| *released)
            .await
            .expect("the link outlives the phone");
    }
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .expect("a small request body");
    let mut upstream = relay
        .http
        .request(parts.method, format!("{}{path}", relay.upstream))
        .body(body);
    for name in [header::AUTHORIZATION, header::CONTENT_TYPE] {
        if let Some(value) = parts.headers.get(&name) {
            upstream = upstream.header(name, value);
        }
    }
    let answer = upstream.send().await.expect("the server answers the relay");
    let status = answer.status();
    let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
    let bytes = answer.bytes().await.expect("the server's answer arrives");
    let mut response = (status, Body::from(bytes)).into_response();
    if let Some(content_type) = content_type {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
    }
    response
}

fn phone_args(qr: &Path, name: &str, server: &str) -> PhoneScanArgs {
    PhoneScanArgs {
        qr: Some(qr.to_path_buf()),
        scene: None,
        name: name.to_owned(),
        decline: false,
        server: server.to_owned(),
        wechat: None,
        app: None,
        appid: None,
    }
}

/// What the console saw: the `scanned` answer, then the final one (after the phone's last step).
struct ConsoleView {
    scanned: Reply,
    outcome: Reply,
}

/// The console creates a scene and long-polls while a phone reads its QR from a file and runs `args`.
async fn scan_with_phone(
    server: &TestServer,
    args: impl FnOnce(&Path, &str) -> PhoneScanArgs,
    expected_qr: impl FnOnce(&CreateSceneResponse) -> String,
) -> (CreateSceneResponse, PhoneReport, ConsoleView) {
    let scene = create_scene(server).await;
    let png = qr_png(server, &scene).await;
    assert_eq!(qr_content(&png), expected_qr(&scene));
    let dir = tempfile::tempdir().expect("a temp dir");
    let qr_file = dir.path().join("console-qr.png");
    std::fs::write(&qr_file, &png).expect("the QR is saved");

    let link = PhoneLink::to(server).await;
    let args = args(&qr_file, &link.url);
    let phone = tokio::spawn(async move { phone::scan(&args).await });
    let scanned = poll_past_pending(server, &scene).await;
    link.release();
    let outcome = poll(server, &scene).await;
    let report = phone
        .await
        .expect("the phone task ends")
        .expect("the phone scans");
    (scene, report, ConsoleView { scanned, outcome })
}

async fn scan_flow_confirms(
    server: &TestServer,
    expected_qr: impl FnOnce(&CreateSceneResponse) -> String,
) {
    let (scene, report, console) =
        scan_with_phone(server, |qr, url| phone_args(qr, "mei", url), expected_qr).await;

    assert_eq!(console.scanned.status, 200, "{:?}", console.scanned);
    assert_eq!(console.scanned.body["status"], "scanned");
    assert_eq!(console.scanned.body["user"]["display_name"], "mei");
    assert_eq!(console.outcome.status, 200, "{:?}", console.outcome);
    assert_eq!(console.outcome.body["status"], "confirmed");
    assert_eq!(console.outcome.body["user"]["id"], report.user.id.as_str());

    assert_eq!(report.scene, scene.scene);
    assert_eq!(report.decision, Decision::Confirmed);
    assert_eq!(report.user.display_name, "mei");
    assert_eq!(report.app, server.settings().apps[0].key);
    assert_eq!(report.console.device_name, "Front desk");
    assert_eq!(report.console.ip, "127.0.0.1");
    let printed = report.to_string();
    assert!(
        printed.contains("Front desk") && printed.contains("127.0.0.1"),
        "{printed}"
    );

    let token = console.outcome.body["access_token"]
        .as_str()
        .expect("a console token");
    let verified = verify(server, token).await;
    assert_eq!(verified.status, 200, "{verified:?}");
    assert_eq!(verified.body["valid"], true);
    assert_eq!(verified.body["claims"]["aud"], "console");
    assert_eq!(verified.body["claims"]["sub"], report.user.id.as_str());
    // One session, however often its console asks within the redelivery time.
    let again = poll(server, &scene).await;
    assert_eq!(again.body["access_token"], token, "{again:?}");
}

#[tokio::test]
async fn a_phone_scans_and_confirms_a_url_mode_qr() {
    let server = TestServer::start_dev().await;
    assert_eq!(
        server.settings().apps[0].qr_mode,
        QrMode::Url,
        "dev mode's default"
    );
    let public_url = server.settings().public_url.clone();
    scan_flow_confirms(&server, |scene| {
        let url = format!("{public_url}/m/scan/{}", scene.scene);
        assert_eq!(scene.qr.content.as_deref(), Some(url.as_str()));
        url
    })
    .await;
    assert_eq!(
        server.wechat().calls(FakeEndpoint::UnlimitedQrCode),
        0,
        "url mode draws its own QR"
    );
}

#[tokio::test]
async fn a_phone_scans_and_confirms_a_mini_program_code() {
    let server = TestServer::start_with(wxacode).await;
    let scan_page = server.settings().apps[0].scan_page.clone();
    scan_flow_confirms(&server, |scene| {
        assert_eq!(scene.qr.content, None, "a mini program code has no URL");
        format!("wxacode:{scan_page}?scene={}", scene.scene)
    })
    .await;
    assert_eq!(server.wechat().calls(FakeEndpoint::UnlimitedQrCode), 1);
}

#[tokio::test]
async fn a_phone_with_a_real_wechat_code_declines() {
    let server = TestServer::start_with(wxacode).await;
    let app = server.settings().apps[0].clone();
    let wechat_url = server.settings().wechat.base_url.clone();
    let (_scene, report, console) = scan_with_phone(
        &server,
        |qr, url| PhoneScanArgs {
            decline: true,
            wechat: Some(wechat_url),
            appid: Some(app.appid.clone()),
            ..phone_args(qr, "nadia", url)
        },
        |scene| format!("wxacode:{}?scene={}", app.scan_page, scene.scene),
    )
    .await;
    // A real code carries no name (unlike `dev:nadia`) and no role.
    assert_ne!(report.user.display_name, "nadia");
    assert!(report.user.roles.is_empty());
    assert_eq!(
        console.scanned.body["status"], "scanned",
        "{:?}",
        console.scanned
    );
    assert_eq!(
        console.scanned.body["user"]["display_name"],
        report.user.display_name.as_str()
    );
    assert_eq!(report.decision, Decision::Declined);
    console.outcome.assert_error(403, "access_denied");
    assert_eq!(server.wechat().calls(FakeEndpoint::Code2Session), 1);
}

#[tokio::test]
async fn a_mini_program_code_is_fetched_once_per_scene_and_cached() {
    let server = TestServer::start_with(wxacode).await;
    let scene = create_scene(&server).await;
    let first = qr_png(&server, &scene).await;
    let again = qr_png(&server, &scene).await;
    assert_eq!(first, again);
    assert_eq!(server.wechat().calls(FakeEndpoint::UnlimitedQrCode), 1);
    let other = create_scene(&server).await;
    assert!(qr_content(&qr_png(&server, &other).await).ends_with(&other.scene));
    assert_eq!(server.wechat().calls(FakeEndpoint::UnlimitedQrCode), 2);
    assert_eq!(
        server.wechat().calls(FakeEndpoint::StableToken),
        1,
        "the access token is reused"
    );
}

#[tokio::test]
async fn concurrent_requests_for_one_scene_fetch_its_code_once() {
    let server = TestServer::start_with(wxacode).await;
    let scene = create_scene(&server).await;
    let images = futures_util::future::join_all((0..10).map(|_| qr_png(&server, &scene))).await;
    assert!(
        images.iter().all(|png| *png == images[0]),
        "every request sees the one code"
    );
    assert_eq!(server.wechat().calls(FakeEndpoint::UnlimitedQrCode), 1);
}

#[tokio::test]
async fn fifty_concurrent_codes_fetch_one_access_token() {
    let server = TestServer::start_with(wxacode).await;
    let scenes = join_all((0..50).map(|_| create_scene(&server))).await;
    let pngs = join_all(scenes.iter().map(|scene| qr_png(&server, scene))).await;
    for (scene, png) in scenes.iter().zip(&pngs) {
        assert!(qr_content(png).ends_with(&format!("?scene={}", scene.scene)));
    }
    assert_eq!(server.wechat().calls(FakeEndpoint::StableToken), 1);
    assert_eq!(server.wechat().calls(FakeEndpoint::UnlimitedQrCode), 50);
}

#[tokio::test]
async fn a_real_code_logs_in_once() {
    let server = TestServer::start_dev().await;
    let apps = server.settings().apps.clone();
    let code = server
        .wechat()
        .mint_code(&apps[0].appid, "openid-olga", None);
    let first = login(&server, &code, None).await;
    assert_eq!(first.status, 200, "{first:?}");
    let first: WeChatLoginResponse = first.json();
    assert!(
        first.user.roles.is_empty(),
        "a real WeChat user starts without roles"
    );
    login(&server, &code, None)
        .await
        .assert_error(401, "wechat_code_invalid");
    // code2Session answered a session_key; nothing uses it, so nothing keeps it (the key earlier
    // releases stored it under).
    let session_key_record = format!("wx:session-key:{}:openid-olga", apps[0].appid);
    assert_eq!(server.store().get(&session_key_record).await.unwrap(), None);

    assert_eq!(
        login_as(&server, "openid-olga").await.user.id,
        first.user.id,
        "one openid, one user"
    );
    assert_ne!(
        login_as(&server, "openid-pavel").await.user.id,
        first.user.id
    );

    // Without unionid, (appid, openid) is the key: the same openid in another app is another user.
    let elsewhere = server
        .wechat()
        .mint_code(&apps[1].appid, "openid-olga", None);
    let other = login(&server, &elsewhere, Some(&apps[1].key)).await;
    assert_eq!(other.status, 200, "{other:?}");
    assert_ne!(other.json::<WeChatLoginResponse>().user.id, first.user.id);
    // A code is good only in the app it was issued for.
    let wrong_app = server
        .wechat()
        .mint_code(&apps[0].appid, "openid-olga", None);
    login(&server, &wrong_app, Some(&apps[1].key))
        .await
        .assert_error(401, "wechat_code_invalid");
    login(&server, "never-issued", None)
        .await
        .assert_error(401, "wechat_code_invalid");
}

#[tokio::test]
async fn apps_bound_to_one_open_platform_account_share_users_by_unionid() {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("a free port");
    let wechat_url = format!("http://{}", listener.local_addr().expect("a bound address"));
    let apps = dev_settings(([127, 0, 0, 1], 0).into(), Path::new("unused")).apps;
    let fake = FakeWeChat::new(
        apps.iter()
            .map(|app| FakeApp {
                appid: app.appid.clone(),
                secret: app.secret.clone(),
                pages: vec![app.scan_page.clone()],
                unionid_bound: true,
            })
            .collect(),
    );
    let wechat = fake.handle();
    tokio::spawn(fake.serve(listener));
    let server = TestServer::start_with(|settings| {
        settings.dev = false;
        settings.wechat.base_url = wechat_url;
    })
    .await;

    let login_in = async |app: usize, openid: &str, unionid: &str| {
        let code = wechat.mint_code(&apps[app].appid, openid, Some(unionid));
        let reply = login(&server, &code, Some(&apps[app].key)).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.json::<WeChatLoginResponse>().user.id
    };
    let attendee = login_in(0, "openid-in-attendee", "union-quinn").await;
    let organizer = login_in(1, "openid-in-organizer", "union-quinn").await;
    assert_eq!(
        attendee, organizer,
        "one Open Platform user is one user in every app"
    );
    assert_ne!(login_in(1, "openid-of-rosa", "union-rosa").await, attendee);
    // Someone who logged in before the binding (no unionid yet) keeps their user once it comes.
    let before_binding = wechat.mint_code(&apps[0].appid, "openid-of-sam", None);
    let reply = login(&server, &before_binding, Some(&apps[0].key)).await;
    let sam = reply.json::<WeChatLoginResponse>().user.id;
    assert_eq!(login_in(0, "openid-of-sam", "union-sam").await, sam);
    assert_eq!(
        login_in(1, "openid-of-sam-in-organizer", "union-sam").await,
        sam
    );
    // Production mode: dev codes mean nothing to WeChat.
    login(&server, "dev:quinn", None)
        .await
        .assert_error(401, "wechat_code_invalid");
}

#[tokio::test]
async fn every_mapped_code2session_errcode_reaches_the_client() {
    let server = TestServer::start_dev().await;
    let appid = server.settings().apps[0].appid.clone();
    let cases = [
        (FakeFault::Errcode(40029), 401, "wechat_code_invalid"),
        (FakeFault::Errcode(40163), 401, "wechat_code_invalid"),
        (FakeFault::Errcode(40226), 403, "wechat_user_blocked"),
        (FakeFault::MinuteQuota, 429, "wechat_rate_limited"),
        (FakeFault::DailyQuota, 502, "wechat_unavailable"),
        (FakeFault::Errcode(40125), 502, "wechat_unavailable"),
    ];
    for (fault, status, code) in cases {
        // A good code: the answer comes from the injected errcode alone.
        let good = server.wechat().mint_code(&appid, "openid-sam", None);
        server.wechat().inject(FakeEndpoint::Code2Session, fault, 1);
        let reply = login(&server, &good, None).await;
        reply.assert_error(status, code);
        if code == "wechat_rate_limited" {
            let retry_after = reply
                .header("retry-after")
                .and_then(|s| s.parse::<u64>().ok());
            assert!(retry_after.is_some_and(|seconds| seconds > 0), "{reply:?}");
        }
        // The fault was WeChat's answer to one call; the code is still unused.
        let retried = login(&server, &good, None).await;
        assert_eq!(retried.status, 200, "after {fault:?}: {retried:?}");
    }
}

#[tokio::test]
async fn a_persistent_system_error_is_retried_then_unavailable_within_the_timeout() {
    let server = TestServer::start_with(|s| s.wechat.timeout = WECHAT_TIMEOUT).await;
    let code = server
        .wechat()
        .mint_code(&server.settings().apps[0].appid, "openid-tom", None);
    // A single -1 is retried away.
    server
        .wechat()
        .inject(FakeEndpoint::Code2Session, FakeFault::SystemError, 1);
    assert_eq!(login(&server, &code, None).await.status, 200);
    assert_eq!(server.wechat().calls(FakeEndpoint::Code2Session), 2);

    server
        .wechat()
        .inject(FakeEndpoint::Code2Session, FakeFault::SystemError, 1000);
    let started = Instant::now();
    login(&server, "any-code", None)
        .await
        .assert_error(502, "wechat_unavailable");
    assert!(
        started.elapsed() < WECHAT_TIMEOUT + SCHEDULING_SLACK,
        "answered after {:?}",
        started.elapsed()
    );
    let calls = server.wechat().calls(FakeEndpoint::Code2Session) - 2;
    assert!(
        (2..=6).contains(&calls),
        "{calls} calls: retried with backoff, not hammered"
    );
}

/// Asserts a request took the WeChat timeout to fail: it did wait for WeChat, and no longer.
fn assert_timed_out(started: Instant) {
    let elapsed = started.elapsed();
    assert!(
        elapsed >= WECHAT_TIMEOUT - Duration::from_millis(100),
        "failed after only {elapsed:?}"
    );
    assert!(
        elapsed < WECHAT_TIMEOUT + SCHEDULING_SLACK,
        "answered after {elapsed:?}"
    );
}

#[tokio::test]
async fn a_hung_code2session_answers_unavailable_within_the_timeout() {
    let server = TestServer::start_with(|s| s.wechat.timeout = WECHAT_TIMEOUT).await;
    let code = server
        .wechat()
        .mint_code(&server.settings().apps[0].appid, "openid-uma", None);
    server
        .wechat()
        .inject(FakeEndpoint::Code2Session, FakeFault::Hang, 1);
    let started = Instant::now();
    let (hung, meanwhile) = tokio::join!(login(&server, &code, None), async {
        let started = Instant::now();
        let scene = create_scene(&server).await;
        (scene, started.elapsed())
    });
    hung.assert_error(502, "wechat_unavailable");
    assert_timed_out(started);
    assert!(
        meanwhile.1 < WECHAT_TIMEOUT,
        "other requests go on while WeChat hangs"
    );
    assert_eq!(
        login(&server, &code, None).await.status,
        200,
        "the next call reaches WeChat again"
    );
}

#[tokio::test]
async fn a_hung_or_failing_getwxacodeunlimit_answers_unavailable_within_the_timeout() {
    let (server, scene) = scene_with_hung(FakeEndpoint::UnlimitedQrCode).await;
    let qr_path = scene.qr.png_url.clone();
    let started = Instant::now();
    server
        .get(&qr_path, None)
        .await
        .assert_error(502, "wechat_unavailable");
    assert_timed_out(started);

    // Errors WeChat answers as JSON; a -1 keeps coming back however often it is retried.
    let faults = [
        (FakeFault::DailyQuota, 1),
        (FakeFault::Errcode(41030), 1),
        (FakeFault::SystemError, 10),
    ];
    for (fault, times) in faults {
        server
            .wechat()
            .inject(FakeEndpoint::UnlimitedQrCode, fault, times);
        let started = Instant::now();
        server
            .get(&qr_path, None)
            .await
            .assert_error(502, "wechat_unavailable");
        assert!(
            started.elapsed() < WECHAT_TIMEOUT + SCHEDULING_SLACK,
            "{fault:?}"
        );
    }
    // What the retries left of the -1s still fails; then WeChat answers again.
    let mut failures = 0;
    while server.get(&qr_path, None).await.status == 502 {
        failures += 1;
        assert!(failures < 10, "the injected faults run out");
    }
    // Failures are not cached: the code arrives once WeChat answers.
    assert!(qr_content(&qr_png(&server, &scene).await).ends_with(&scene.scene));
}

#[tokio::test]
async fn a_hung_token_fetch_answers_unavailable_within_the_timeout() {
    let (server, scene) = scene_with_hung(FakeEndpoint::StableToken).await;
    let started = Instant::now();
    server
        .get(&scene.qr.png_url, None)
        .await
        .assert_error(502, "wechat_unavailable");
    assert_timed_out(started);
    qr_png(&server, &scene).await;
}

/// A console that hangs up while WeChat is slow to draw its code: the fetch it started still ends and
/// wakes the next request for the code, which gets it rather than waiting on a lock nobody releases.
#[tokio::test]
async fn a_console_hanging_up_during_the_code_fetch_does_not_stall_the_next_request() {
    let (server, scene) = scene_with_hung(FakeEndpoint::UnlimitedQrCode).await;
    let hangs_up = server.get(&scene.qr.png_url, None);
    let fetch_reached_wechat = async {
        while server.wechat().calls(FakeEndpoint::UnlimitedQrCode) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::select! {
        reply = hangs_up => panic!("answered while WeChat hangs: {reply:?}"),
        () = fetch_reached_wechat => {}
    }
    qr_png(&server, &scene).await;
    assert_eq!(server.wechat().calls(FakeEndpoint::UnlimitedQrCode), 2);
}

#[tokio::test]
async fn a_mini_program_login_ticket_opens_h5_once() {
    let server = TestServer::start_dev().await;
    let login = login_as(&server, "openid-vera").await;
    assert!(login.login_ticket_expires_in > 0);
    let exchange = json!({"login_ticket": login.login_ticket});
    let first = server
        .post("/auth/login-ticket/exchange", exchange.clone(), None)
        .await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.body["user"]["id"], login.user.id.as_str());
    let h5_token = first.body["access_token"].as_str().expect("an h5 token");
    let verified = verify(&server, h5_token).await;
    assert_eq!(verified.status, 200, "{verified:?}");
    assert_eq!(verified.body["claims"]["aud"], "h5");
    assert_eq!(verified.body["claims"]["sub"], login.user.id.as_str());
    server
        .post("/auth/login-ticket/exchange", exchange, None)
        .await
        .assert_error(401, "ticket_used");
    // The mini program's own token is for the mini program.
    let own = verify(&server, &login.access_token).await;
    assert_eq!(own.body["claims"]["aud"], Value::from("miniprogram"));
}

/// A QR the phone cannot use gets a clear error, not a panic.
#[tokio::test]
async fn a_phone_given_no_console_qr_says_so() {
    let server = TestServer::start_dev().await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let not_a_scan_code = dir.path().join("other.png");
    let png = meeteasy_auth::qr::png("https://example.com/", meeteasy_auth::qr::DEFAULT_WIDTH)
        .expect("a QR");
    std::fs::write(&not_a_scan_code, png).expect("saved");
    let refused = phone::scan(&phone_args(&not_a_scan_code, "will", &server.base_url)).await;
    assert!(
        matches!(refused, Err(phone::PhoneError::NotAScanCode(_))),
        "{refused:?}"
    );
    let blank = dir.path().join("blank.png");
    std::fs::write(&blank, b"not an image").expect("saved");
    let unreadable = phone::scan(&phone_args(&blank, "will", &server.base_url)).await;
    assert!(
        matches!(unreadable, Err(phone::PhoneError::QrUnreadable(_))),
        "{unreadable:?}"
    );
}
