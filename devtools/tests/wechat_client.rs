//! The auth server's WeChat client against the fake WeChat served on a loopback port, with the
//! embedded store.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use meeteasy_auth::config::{AppSettings, EnvVersion, QrMode, WeChatSettings};
use meeteasy_auth::store::Store;
use meeteasy_auth::store::embedded::EmbeddedStore;
use meeteasy_auth::wechat::client::WeChatClient;
use meeteasy_auth::wechat::{WeChat, WeChatError};
use meeteasy_devtools::fake_wechat::{FakeApp, FakeEndpoint, FakeFault, FakeHandle, FakeWeChat};
use meeteasy_protocol::Secret;

const APPID: &str = "wxattendee0000001";
const SECRET: &str = "attendee-secret-0123456789abcdef";
const SCAN_PAGE: &str = "pages/scan/index";
const TIMEOUT: Duration = Duration::from_millis(1500);
/// Scheduling slack allowed past a timeout on a loaded 2-core machine.
const SLACK: Duration = Duration::from_millis(700);

struct Harness {
    fake: FakeHandle,
    base_url: String,
    store: Arc<dyn Store>,
    client: WeChatClient,
    _data_dir: tempfile::TempDir,
}

fn app_settings(secret: &str) -> AppSettings {
    AppSettings {
        key: "attendee".into(),
        appid: APPID.into(),
        secret: Secret::new(secret),
        scan_page: SCAN_PAGE.into(),
        invite_page: "pages/invite/index".into(),
        qr_mode: QrMode::Wxacode,
        env_version: EnvVersion::Release,
    }
}

async fn harness() -> Harness {
    let fake = FakeWeChat::new(vec![FakeApp {
        appid: APPID.into(),
        secret: Secret::new(SECRET),
        pages: vec!["pages/index/index".into(), SCAN_PAGE.into()],
        unionid_bound: true,
    }]);
    let handle = fake.handle();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(fake.serve(listener));
    let data_dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(data_dir.path()).unwrap());
    let client = client_for(&base_url, &store);
    Harness {
        fake: handle,
        base_url,
        store,
        client,
        _data_dir: data_dir,
    }
}

fn client_for(base_url: &str, store: &Arc<dyn Store>) -> WeChatClient {
    client_with_timeout(base_url, store, TIMEOUT)
}

fn client_with_timeout(base_url: &str, store: &Arc<dyn Store>, timeout: Duration) -> WeChatClient {
    let settings = WeChatSettings {
        base_url: base_url.into(),
        timeout,
    };
    WeChatClient::new(&settings, Arc::clone(store)).unwrap()
}

fn decode_qr(png: &[u8]) -> String {
    let image = image::load_from_memory(png).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().unwrap().1
}

#[tokio::test]
async fn code_to_session_returns_the_user_and_unionid() {
    let h = harness().await;
    let code = h.fake.mint_code(APPID, "openid-alice", Some("union-alice"));
    let session = h
        .client
        .code_to_session(&app_settings(SECRET), &code)
        .await
        .unwrap();
    assert_eq!(session.openid, "openid-alice");
    assert_eq!(session.unionid.as_deref(), Some("union-alice"));

    let code = h.fake.mint_code(APPID, "openid-bob", None);
    let session = h
        .client
        .code_to_session(&app_settings(SECRET), &code)
        .await
        .unwrap();
    assert_eq!(session.unionid, None);
}

#[tokio::test]
async fn invalid_codes_map_to_code_invalid() {
    let h = harness().await;
    let app = app_settings(SECRET);
    let code = h.fake.mint_code(APPID, "openid-alice", None);
    h.client.code_to_session(&app, &code).await.unwrap();
    assert_eq!(
        h.client.code_to_session(&app, &code).await.unwrap_err(),
        WeChatError::CodeInvalid(40163)
    );
    assert_eq!(
        h.client
            .code_to_session(&app, "never-issued")
            .await
            .unwrap_err(),
        WeChatError::CodeInvalid(40029)
    );

    let code = h.fake.mint_code(APPID, "openid-alice", None);
    h.fake.advance_clock(Duration::from_secs(301));
    assert_eq!(
        h.client.code_to_session(&app, &code).await.unwrap_err(),
        WeChatError::CodeInvalid(40029)
    );
}

#[tokio::test]
async fn blocked_and_rate_limited_users_are_told_apart() {
    let h = harness().await;
    let app = app_settings(SECRET);
    let code = h.fake.mint_code(APPID, "openid-alice", None);
    h.fake
        .inject(FakeEndpoint::Code2Session, FakeFault::Errcode(40226), 1);
    assert_eq!(
        h.client.code_to_session(&app, &code).await.unwrap_err(),
        WeChatError::UserBlocked
    );
    h.fake
        .inject(FakeEndpoint::Code2Session, FakeFault::MinuteQuota, 1);
    assert_eq!(
        h.client.code_to_session(&app, &code).await.unwrap_err(),
        WeChatError::RateLimited
    );
    // Neither fault consumed the code.
    assert!(h.client.code_to_session(&app, &code).await.is_ok());
}

#[tokio::test]
async fn system_errors_are_retried_until_success() {
    let h = harness().await;
    let code = h.fake.mint_code(APPID, "openid-alice", None);
    h.fake
        .inject(FakeEndpoint::Code2Session, FakeFault::SystemError, 2);
    let session = h
        .client
        .code_to_session(&app_settings(SECRET), &code)
        .await
        .unwrap();
    assert_eq!(session.openid, "openid-alice");
    assert_eq!(h.fake.calls(FakeEndpoint::Code2Session), 3);
}

#[tokio::test]
async fn persistent_system_errors_become_unavailable_within_the_timeout() {
    let h = harness().await;
    let code = h.fake.mint_code(APPID, "openid-alice", None);
    h.fake
        .inject(FakeEndpoint::Code2Session, FakeFault::SystemError, 100);
    let started = Instant::now();
    let error = h
        .client
        .code_to_session(&app_settings(SECRET), &code)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < TIMEOUT + SLACK,
        "took {:?}",
        started.elapsed()
    );
    let WeChatError::Unavailable(message) = error else {
        panic!("{error:?}")
    };
    assert!(message.contains("errcode -1"), "{message}");
    let calls = h.fake.calls(FakeEndpoint::Code2Session);
    assert!(
        (2..=6).contains(&calls),
        "retried with backoff, {calls} calls"
    );
}

#[tokio::test]
async fn misconfiguration_is_unavailable_and_never_leaks_the_secret_or_code() {
    let h = harness().await;
    let code = h.fake.mint_code(APPID, "openid-alice", None);
    let wrong_secret = "wrong-secret-value-0000000000000";
    let error = h
        .client
        .code_to_session(&app_settings(wrong_secret), &code)
        .await
        .unwrap_err();
    let WeChatError::Unavailable(message) = error else {
        panic!("{error:?}")
    };
    assert!(message.contains("40125"), "{message}");
    assert!(
        !message.contains(wrong_secret) && !message.contains(&code),
        "{message}"
    );

    let mut other_app = app_settings(SECRET);
    other_app.appid = "wxunknown".into();
    let WeChatError::Unavailable(message) = h
        .client
        .code_to_session(&other_app, &code)
        .await
        .unwrap_err()
    else {
        panic!("expected Unavailable")
    };
    assert!(message.contains("40013"), "{message}");

    h.fake
        .inject(FakeEndpoint::Code2Session, FakeFault::Errcode(40164), 1);
    let error = h
        .client
        .code_to_session(&app_settings(SECRET), &code)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, WeChatError::Unavailable(m) if m.contains("40164")),
        "{error:?}"
    );
}

#[tokio::test]
async fn network_failures_are_unavailable_without_the_url() {
    let h = harness().await;
    // A port nothing listens on: bind, learn the port, close.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let client = client_for(&format!("http://{closed}"), &h.store);
    let error = client
        .code_to_session(&app_settings(SECRET), "some-code")
        .await
        .unwrap_err();
    let WeChatError::Unavailable(message) = error else {
        panic!("{error:?}")
    };
    assert!(
        !message.contains(SECRET) && !message.contains("some-code"),
        "{message}"
    );
}

#[tokio::test]
async fn a_hung_wechat_answers_unavailable_within_the_timeout() {
    let h = harness().await;
    h.fake
        .inject(FakeEndpoint::Code2Session, FakeFault::Hang, 1);
    let started = Instant::now();
    let error = h
        .client
        .code_to_session(&app_settings(SECRET), "code")
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(error, WeChatError::Unavailable(_)), "{error:?}");
    assert!(
        elapsed >= TIMEOUT - Duration::from_millis(50) && elapsed < TIMEOUT + SLACK,
        "took {elapsed:?}"
    );

    h.fake
        .inject(FakeEndpoint::UnlimitedQrCode, FakeFault::Hang, 1);
    let started = Instant::now();
    let error = h
        .client
        .unlimited_qr_code(&app_settings(SECRET), SCAN_PAGE, "scene1")
        .await
        .unwrap_err();
    assert!(matches!(error, WeChatError::Unavailable(_)), "{error:?}");
    assert!(
        started.elapsed() < TIMEOUT + SLACK,
        "took {:?}",
        started.elapsed()
    );
}

/// A request whose client hangs up is dropped mid-await; the token fetch it started must still end
/// by its deadline and wake whoever waits for it, not leave them asleep behind a stale lock.
#[tokio::test]
async fn a_caller_giving_up_during_a_token_fetch_leaves_no_one_waiting_on_it() {
    let h = harness().await;
    let app = app_settings(SECRET);
    h.fake.inject(FakeEndpoint::StableToken, FakeFault::Hang, 1);
    let gives_up = h.client.unlimited_qr_code(&app, SCAN_PAGE, "scene1");
    let fetch_started = async {
        while h.fake.calls(FakeEndpoint::StableToken) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::select! {
        answer = gives_up => panic!("answered while WeChat hangs: {answer:?}"),
        () = fetch_started => {}
    }

    // A caller with more patience than the hung fetch: woken when that fetch gives up, it fetches
    // itself. Left to find the lock lapse on its own, it would sleep through its whole timeout.
    let patient = client_with_timeout(&h.base_url, &h.store, 4 * TIMEOUT);
    let started = Instant::now();
    let png = patient
        .unlimited_qr_code(&app, SCAN_PAGE, "scene2")
        .await
        .unwrap();
    assert!(png.starts_with(&[0x89, b'P', b'N', b'G']));
    assert!(
        started.elapsed() < TIMEOUT + SLACK,
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(h.fake.calls(FakeEndpoint::StableToken), 2);
}

#[tokio::test]
async fn qr_code_is_png_of_the_scan_page_and_scene() {
    let h = harness().await;
    let png = h
        .client
        .unlimited_qr_code(&app_settings(SECRET), SCAN_PAGE, "AbC123xyz")
        .await
        .unwrap();
    assert!(png.starts_with(&[0x89, b'P', b'N', b'G']));
    assert_eq!(
        decode_qr(&png),
        format!("wxacode:{SCAN_PAGE}?scene=AbC123xyz")
    );
}

#[tokio::test]
async fn fifty_concurrent_qr_codes_fetch_one_token() {
    let h = harness().await;
    let app = app_settings(SECRET);
    let requests = (0..50).map(|n| {
        let (client, app) = (&h.client, &app);
        async move {
            client
                .unlimited_qr_code(app, SCAN_PAGE, &format!("scene{n}"))
                .await
        }
    });
    let results = futures_util::future::join_all(requests).await;
    assert!(
        results.iter().all(Result::is_ok),
        "{:?}",
        results.iter().find(|r| r.is_err())
    );
    assert_eq!(h.fake.calls(FakeEndpoint::StableToken), 1);
    assert_eq!(h.fake.calls(FakeEndpoint::UnlimitedQrCode), 50);
}

#[tokio::test]
async fn instances_sharing_a_store_share_one_token_fetch() {
    let h = harness().await;
    let app = app_settings(SECRET);
    let instances: Vec<WeChatClient> = (0..3).map(|_| client_for(&h.base_url, &h.store)).collect();
    let requests = instances.iter().enumerate().flat_map(|(i, client)| {
        let app = &app;
        (0..10).map(move |n| async move {
            client
                .unlimited_qr_code(app, SCAN_PAGE, &format!("s{i}x{n}"))
                .await
        })
    });
    let results = futures_util::future::join_all(requests).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(h.fake.calls(FakeEndpoint::StableToken), 1);
}

/// Revokes the current stable token as a leak response elsewhere would.
async fn force_refresh_elsewhere(base_url: &str) {
    let body = serde_json::json!({
        "grant_type": "client_credential", "appid": APPID, "secret": SECRET, "force_refresh": true,
    });
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{base_url}/cgi-bin/stable_token"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(answer.get("access_token").is_some(), "{answer}");
}

#[tokio::test]
async fn a_revoked_token_is_refreshed_once_and_the_call_retried() {
    let h = harness().await;
    let app = app_settings(SECRET);
    h.client
        .unlimited_qr_code(&app, SCAN_PAGE, "first")
        .await
        .unwrap();
    force_refresh_elsewhere(&h.base_url).await;
    let stable_before = h.fake.calls(FakeEndpoint::StableToken);
    let png = h
        .client
        .unlimited_qr_code(&app, SCAN_PAGE, "second")
        .await
        .unwrap();
    assert_eq!(decode_qr(&png), format!("wxacode:{SCAN_PAGE}?scene=second"));
    assert_eq!(h.fake.calls(FakeEndpoint::StableToken), stable_before + 1);
    assert_eq!(
        h.fake.calls(FakeEndpoint::UnlimitedQrCode),
        3,
        "one rejected call, one retry"
    );
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_and_the_call_retried() {
    let h = harness().await;
    let app = app_settings(SECRET);
    h.client
        .unlimited_qr_code(&app, SCAN_PAGE, "first")
        .await
        .unwrap();
    // WeChat's clock passes the token's expiry while our cache still holds it.
    h.fake.advance_clock(Duration::from_secs(7200));
    h.client
        .unlimited_qr_code(&app, SCAN_PAGE, "second")
        .await
        .unwrap();
    assert_eq!(h.fake.calls(FakeEndpoint::StableToken), 2);
    assert_eq!(h.fake.calls(FakeEndpoint::UnlimitedQrCode), 3);
}

#[tokio::test]
async fn a_token_rejected_twice_is_retried_only_once() {
    let h = harness().await;
    h.fake
        .inject(FakeEndpoint::UnlimitedQrCode, FakeFault::Errcode(40001), 2);
    let error = h
        .client
        .unlimited_qr_code(&app_settings(SECRET), SCAN_PAGE, "scene")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, WeChatError::Unavailable(m) if m.contains("40001")),
        "{error:?}"
    );
    assert_eq!(h.fake.calls(FakeEndpoint::UnlimitedQrCode), 2);
    // The first fetch, a plain refresh that hands back the same (still live) token, and the
    // forced refresh that follows it.
    assert_eq!(h.fake.calls(FakeEndpoint::StableToken), 3);

    h.fake
        .inject(FakeEndpoint::UnlimitedQrCode, FakeFault::Errcode(42001), 1);
    assert!(
        h.client
            .unlimited_qr_code(&app_settings(SECRET), SCAN_PAGE, "scene")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn qr_errors_are_unavailable_with_the_errcode() {
    let h = harness().await;
    let mut app = app_settings(SECRET);
    let unpublished = "pages/unpublished/index";
    let error = h
        .client
        .unlimited_qr_code(&app, unpublished, "scene")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, WeChatError::Unavailable(m) if m.contains("41030")),
        "{error:?}"
    );
    // A trial build does not ask WeChat to check the page, so an unpublished page works.
    app.env_version = EnvVersion::Trial;
    assert!(
        h.client
            .unlimited_qr_code(&app, unpublished, "scene")
            .await
            .is_ok()
    );

    let error = h
        .client
        .unlimited_qr_code(&app_settings(SECRET), SCAN_PAGE, "bad%scene")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, WeChatError::Unavailable(m) if m.contains("40129")),
        "{error:?}"
    );
    h.fake
        .inject(FakeEndpoint::UnlimitedQrCode, FakeFault::DailyQuota, 1);
    let error = h
        .client
        .unlimited_qr_code(&app_settings(SECRET), SCAN_PAGE, "scene")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, WeChatError::Unavailable(m) if m.contains("45009")),
        "{error:?}"
    );
    let h2 = harness().await;
    h2.fake
        .inject(FakeEndpoint::StableToken, FakeFault::Errcode(40013), 1);
    let error = h2
        .client
        .unlimited_qr_code(&app_settings(SECRET), SCAN_PAGE, "scene")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, WeChatError::Unavailable(m) if m.contains("40013")),
        "{error:?}"
    );
}

#[tokio::test]
async fn token_system_errors_are_retried() {
    let h = harness().await;
    h.fake
        .inject(FakeEndpoint::StableToken, FakeFault::SystemError, 1);
    h.fake
        .inject(FakeEndpoint::UnlimitedQrCode, FakeFault::SystemError, 1);
    assert!(
        h.client
            .unlimited_qr_code(&app_settings(SECRET), SCAN_PAGE, "scene")
            .await
            .is_ok()
    );
    assert_eq!(h.fake.calls(FakeEndpoint::StableToken), 2);
    assert_eq!(h.fake.calls(FakeEndpoint::UnlimitedQrCode), 2);
}
