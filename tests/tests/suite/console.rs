//! The desktop console in its real window (Xvfb + tauri-driver + WebKitWebDriver), against a real
//! in-process auth server in dev mode and the real Secret Service (gnome-keyring on a private bus).
//! The phone is played over HTTP exactly as the mini program would: dev login, then scan and
//! confirm (or decline) the scene read from the QR the window shows.
//!
//! Needs `cargo build -p meeteasy-console` first (see `meeteasy_tests::desktop`).

use std::time::Duration;

use base64::Engine as _;
use meeteasy_tests::api::Reply;
use meeteasy_tests::desktop::{ConsoleWindow, Desktop, Relay};
use meeteasy_tests::server::TestServer;
use serde_json::json;

/// What the phone does with the scene it scanned.
enum PhoneAnswer {
    Confirm,
    Decline,
}

/// Waits for a QR on the login screen and returns its `data:` URL.
async fn shown_qr(window: &ConsoleWindow) -> String {
    window
        .wait_for_attr("#qr-image", "src", |src| {
            src.starts_with("data:image/png;base64,")
        })
        .await
}

/// Reads the scene out of the QR image, as the phone's camera would.
fn scene_in(qr_data_url: &str) -> String {
    let encoded = qr_data_url.trim_start_matches("data:image/png;base64,");
    let png = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("base64 QR");
    let luma = image::load_from_memory(&png)
        .expect("QR is a PNG")
        .to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(luma);
    let grids = prepared.detect_grids();
    let grid = grids.first().expect("a QR code in the image");
    let (_, content) = grid.decode().expect("a readable QR code");
    // `<public_url>/m/scan/{scene}` (url mode) or anything ending in the scene.
    let scene = content
        .rsplit(['/', '=', '?'])
        .next()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(scene.len(), 32, "unexpected QR content {content:?}");
    scene
}

/// Plays the organizer's phone: logs in as `name` in dev mode, scans, then answers.
async fn phone(server: &TestServer, name: &str, scene: &str, answer: PhoneAnswer) -> Reply {
    let token = server.dev_login(name).await.access_token;
    let scan = server
        .post_empty(&format!("/auth/scenes/{scene}/scan"), Some(&token))
        .await;
    assert_eq!(scan.status, 200, "scan: {}", scan.body);
    let answer = match answer {
        PhoneAnswer::Confirm => "confirm",
        PhoneAnswer::Decline => "cancel",
    };
    server
        .post_empty(&format!("/auth/scenes/{scene}/{answer}"), Some(&token))
        .await
}

async fn verify(server: &TestServer, token: &str) -> Reply {
    server
        .post("/auth/jwt/verify", json!({ "token": token }), None)
        .await
}

/// Saves a screenshot for the docs when `MEETEASY_SCREENSHOT_DIR` is set.
async fn screenshot(window: &ConsoleWindow, name: &str) {
    if let Some(dir) = std::env::var_os("MEETEASY_SCREENSHOT_DIR") {
        window
            .screenshot(&std::path::Path::new(&dir).join(name))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn scan_login_is_kept_in_the_keychain_restored_on_restart_and_ended_by_logout() {
    let server = TestServer::start_dev().await;
    let desktop = Desktop::start();
    let driver = desktop.driver(&server.base_url).await;
    let window = driver.open_console().await;

    let qr = shown_qr(&window).await;
    window
        .wait_for_text("#scan-status", |text| text.contains("Waiting"))
        .await;
    screenshot(&window, "login.png").await;
    let scene = scene_in(&qr);
    let token = server.dev_login("alice").await.access_token;
    let scan = server
        .post_empty(&format!("/auth/scenes/{scene}/scan"), Some(&token))
        .await;
    assert_eq!(scan.status, 200, "{}", scan.body);
    window
        .wait_for_text("#scan-status", |text| {
            text.contains("alice") && text.contains("confirm on your phone")
        })
        .await;
    screenshot(&window, "scanned.png").await;
    let confirm = server
        .post_empty(&format!("/auth/scenes/{scene}/confirm"), Some(&token))
        .await;
    assert_eq!(confirm.status, 204, "{}", confirm.body);

    window
        .wait_for_text("#user-name", |name| name.contains("alice"))
        .await;
    window
        .wait_for_text("#user-roles", |roles| roles.contains("Organizer"))
        .await;
    screenshot(&window, "home.png").await;

    // The real keychain holds a console token the server accepts; the webview never saw it.
    let stored = desktop
        .keychain_lookup(&server.base_url)
        .expect("a token in the keychain");
    let verified = verify(&server, &stored).await;
    assert_eq!(verified.status, 200, "{}", verified.body);
    assert_eq!(verified.body["claims"]["aud"], "console");
    let page = window.client.source().await.expect("page source");
    assert!(!page.contains(&stored), "the token reached the webview");

    // Restart: home again straight from the keychain, with no QR and no scan.
    window.close().await;
    let window = driver.open_console().await;
    window
        .wait_for_text("#user-name", |name| name.contains("alice"))
        .await;
    assert!(!window.has("#qr-image").await);

    // Log out: the keychain entry is gone and the server refuses the old token.
    window.click("#logout").await;
    shown_qr(&window).await;
    assert!(
        desktop.keychain_lookup(&server.base_url).is_none(),
        "logout left the session in the keychain"
    );
    let refused = verify(&server, &stored).await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.code(), "token_revoked");

    window.close().await;
    driver.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_declined_scan_shows_a_message_and_a_fresh_qr() {
    let server = TestServer::start_dev().await;
    let desktop = Desktop::start();
    let driver = desktop.driver(&server.base_url).await;
    let window = driver.open_console().await;

    let first = shown_qr(&window).await;
    let declined = phone(&server, "bob", &scene_in(&first), PhoneAnswer::Decline).await;
    assert_eq!(declined.status, 204, "{}", declined.body);

    window
        .wait_for_text("#scan-notice", |text| text.contains("declined"))
        .await;
    let fresh = window
        .wait_for_attr("#qr-image", "src", |src| src != first)
        .await;
    assert_ne!(scene_in(&fresh), scene_in(&first));
    assert!(desktop.keychain_lookup(&server.base_url).is_none());

    window.close().await;
    driver.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wechat_account_without_organizer_role_is_told_so() {
    let server = TestServer::start_dev().await;
    let desktop = Desktop::start();
    let driver = desktop.driver(&server.base_url).await;
    let window = driver.open_console().await;

    let qr = shown_qr(&window).await;
    let refused = phone(&server, "guest-carol", &scene_in(&qr), PhoneAnswer::Confirm).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.code(), "not_organizer");
    window
        .wait_for_text("#scan-notice", |text| text.contains("no organizer access"))
        .await;
    assert!(!window.has("#home").await);

    window.close().await;
    driver.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_qr_is_replaced_before_it_expires_without_a_click() {
    let server = TestServer::start_with(|settings| {
        settings.lifetimes.scene = Duration::from_secs(8);
    })
    .await;
    let desktop = Desktop::start();
    let driver = desktop.driver(&server.base_url).await;
    let window = driver.open_console().await;

    let first = shown_qr(&window).await;
    let first_scene = scene_in(&first);
    // An 8 s scene is rotated 2 s early, i.e. after about 6 s.
    let rotated = window
        .wait_for_attr("#qr-image", "src", |src| src != first)
        .await;
    let second_scene = scene_in(&rotated);
    assert_ne!(second_scene, first_scene);
    // The fresh code works: a scan and confirm of it logs in.
    assert_eq!(
        phone(&server, "dora", &second_scene, PhoneAnswer::Confirm)
            .await
            .status,
        204
    );
    window
        .wait_for_text("#user-name", |name| name.contains("dora"))
        .await;

    window.close().await;
    driver.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn password_login_reaches_home_and_opens_the_h5_site_logged_in() {
    let server = TestServer::start_dev().await;
    server
        .add_password_user(
            "erin@example.com",
            "Erin",
            "correct horse battery",
            &["organizer"],
        )
        .await;
    let desktop = Desktop::start();
    let driver = desktop.driver(&server.base_url).await;
    let window = driver.open_console().await;

    shown_qr(&window).await;
    window.click("#tab-password").await;
    window.type_into("#login-input", "erin@example.com").await;
    window.type_into("#password-input", "wrong password").await;
    window.click("#password-submit").await;
    window
        .wait_for_text("#password-error", |text| text.contains("Wrong"))
        .await;

    window
        .wait_for("#password-input")
        .await
        .clear()
        .await
        .expect("clear");
    window
        .type_into("#password-input", "correct horse battery")
        .await;
    window.click("#password-submit").await;
    window.wait_for("#user-name").await;
    assert!(desktop.keychain_lookup(&server.base_url).is_some());

    // Open in browser: the desktop is asked to open the H5 site with a fresh one-time ticket.
    window.click("#open-browser").await;
    window
        .wait_for_text("#home-message", |text| text.contains("Opened"))
        .await;
    let opened = desktop.opened_urls();
    let url = reqwest::Url::parse(opened.last().expect("a URL was opened")).expect("URL");
    assert_eq!(url.path(), "/h5/demo");
    let ticket = url
        .query_pairs()
        .find(|(key, _)| key == "login_ticket")
        .map(|(_, value)| value.into_owned())
        .expect("login_ticket in the URL");
    assert!(url.query_pairs().any(|(key, _)| key == "_t"));
    let exchange = server
        .post(
            "/auth/login-ticket/exchange",
            json!({ "login_ticket": ticket }),
            None,
        )
        .await;
    assert_eq!(exchange.status, 200, "{}", exchange.body);

    // Settings: plain http to another machine is refused; the language switches the whole UI.
    window.click("#open-settings").await;
    screenshot(&window, "settings.png").await;
    let server_field = window.wait_for("#server-url").await;
    server_field.clear().await.expect("clear");
    server_field
        .send_keys("http://auth.example.com")
        .await
        .expect("type");
    window.click("#save-settings").await;
    window
        .wait_for_text("#settings-message", |text| {
            text.contains("Check the server URL")
        })
        .await;
    let server_field = window.wait_for("#server-url").await;
    server_field.clear().await.expect("clear");
    server_field
        .send_keys(&server.base_url)
        .await
        .expect("type");
    window.click("#language option[value='zh-CN']").await;
    window.click("#save-settings").await;
    window
        .wait_for_text("#home", |text| text.contains("当前登录"))
        .await;
    screenshot(&window, "home-zh-CN.png").await;

    window.close().await;
    driver.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_revoked_elsewhere_is_removed_at_start() {
    let server = TestServer::start_dev().await;
    server
        .add_password_user(
            "gina@example.com",
            "Gina",
            "a long enough password",
            &["organizer"],
        )
        .await;
    let desktop = Desktop::start();
    let driver = desktop.driver(&server.base_url).await;
    let window = driver.open_console().await;
    window.click("#tab-password").await;
    window.type_into("#login-input", "gina@example.com").await;
    window
        .type_into("#password-input", "a long enough password")
        .await;
    window.click("#password-submit").await;
    window
        .wait_for_text("#user-name", |name| name.contains("Gina"))
        .await;
    window.close().await;

    // The session ends on the server while the console is closed.
    let stored = desktop
        .keychain_lookup(&server.base_url)
        .expect("a stored session");
    let revoked = server.post_empty("/auth/logout", Some(&stored)).await;
    assert_eq!(revoked.status, 204, "{}", revoked.body);

    let window = driver.open_console().await;
    window
        .wait_for_text("#scan-notice", |text| text.contains("session was ended"))
        .await;
    shown_qr(&window).await;
    assert!(
        desktop.keychain_lookup(&server.base_url).is_none(),
        "the dead session was not removed"
    );

    window.close().await;
    driver.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_keychain_the_session_lives_in_memory_and_the_ui_says_so() {
    let server = TestServer::start_dev().await;
    server
        .add_password_user(
            "hana@example.com",
            "Hana",
            "a long enough password",
            &["organizer"],
        )
        .await;
    let desktop = Desktop::start();
    let driver = desktop.driver_without_keychain(&server.base_url).await;
    let window = driver.open_console().await;
    window
        .wait_for_text("#storage-notice", |text| {
            text.contains("No system keychain")
        })
        .await;

    window.click("#tab-password").await;
    window.type_into("#login-input", "hana@example.com").await;
    window
        .type_into("#password-input", "a long enough password")
        .await;
    window.click("#password-submit").await;
    window
        .wait_for_text("#user-name", |name| name.contains("Hana"))
        .await;
    window
        .wait_for_text("#storage-notice", |text| text.contains("this run only"))
        .await;
    window.close().await;

    // Nothing was written anywhere: the next run starts at the login screen.
    let window = driver.open_console().await;
    shown_qr(&window).await;
    assert!(!window.has("#home").await);
    assert!(desktop.keychain_lookup(&server.base_url).is_none());

    window.close().await;
    driver.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_server_is_retried_until_it_is_back() {
    let server = TestServer::start_dev().await;
    let relay = Relay::start(server.addr, false).await;
    let desktop = Desktop::start();
    let driver = desktop.driver(&relay.url).await;

    // No session yet and the server down: the login screen says so and keeps trying.
    let window = driver.open_console().await;
    window
        .wait_for_attr("#scan-status", "data-state", |state| state == "offline")
        .await;
    window
        .wait_for_text("#scan-status", |text| text.contains("not answering"))
        .await;
    relay.set_up(true);
    let qr = shown_qr(&window).await;
    assert_eq!(
        phone(&server, "frank", &scene_in(&qr), PhoneAnswer::Confirm)
            .await
            .status,
        204
    );
    window
        .wait_for_text("#user-name", |name| name.contains("frank"))
        .await;
    window.close().await;

    // A stored session and the server down at start: an offline notice, then home once it is back.
    relay.set_up(false);
    let window = driver.open_console().await;
    window
        .wait_for_text("#offline-notice", |text| {
            text.contains("Can't reach the server")
        })
        .await;
    assert!(!window.has("#home").await);
    relay.set_up(true);
    window
        .wait_for_text("#user-name", |name| name.contains("frank"))
        .await;
    assert!(!window.has("#qr-image").await, "restored without a scan");

    window.close().await;
    driver.stop().await;
}
