//! The desktop console in its real window (Xvfb + tauri-driver + WebKitWebDriver), against a real
//! in-process auth server in dev mode and the real Secret Service (gnome-keyring on a private bus).
//! The phone is played over HTTP exactly as the mini program would: dev login, then scan and
//! confirm (or decline) the scene read from the QR the window shows.
//!
//! Needs `cargo build -p meeteasy-console` first (see `meeteasy_tests::desktop`).

use std::time::Duration;

use fantoccini::key::Key;
use meeteasy_tests::api::{Reply, send, with_bearer};
use meeteasy_tests::desktop::{ConsoleWindow, Desktop, last_segment};
use meeteasy_tests::relay::Relay;
use meeteasy_tests::server::TestServer;
use serde_json::json;

/// What the phone does with the scene it scanned.
enum PhoneAnswer {
    Confirm,
    Decline,
}

/// Plays a phone that logs in as `name` in dev mode and scans `scene`; returns its token.
async fn phone_scans(server: &TestServer, name: &str, scene: &str) -> String {
    let token = server.dev_login(name).await.access_token;
    let scan = server
        .post_empty(&format!("/auth/scenes/{scene}/scan"), Some(&token))
        .await;
    assert_eq!(scan.status, 200, "scan: {}", scan.body);
    token
}

/// Plays the organizer's phone: logs in as `name` in dev mode, scans, then answers.
async fn phone(server: &TestServer, name: &str, scene: &str, answer: PhoneAnswer) -> Reply {
    let token = phone_scans(server, name, scene).await;
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

#[tokio::test(flavor = "multi_thread")]
async fn scan_login_is_kept_in_the_keychain_restored_on_restart_and_ended_by_logout() {
    let server = TestServer::start_dev().await;
    let desktop = Desktop::start();
    let driver = desktop.driver(&server.base_url).await;
    let window = driver.open_console().await;

    let qr = window.shown_png("#qr-image").await;
    window
        .wait_for_text("#scan-status", |text| text.contains("Waiting"))
        .await;
    window.screenshot_for_docs("login.png").await;
    let scene = last_segment(&qr);
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
    window.screenshot_for_docs("scanned.png").await;
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
    window.screenshot_for_docs("home.png").await;

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
    window.shown_png("#qr-image").await;
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

    let first = window.shown_png("#qr-image").await;
    let declined = phone(&server, "bob", &last_segment(&first), PhoneAnswer::Decline).await;
    assert_eq!(declined.status, 204, "{}", declined.body);

    window
        .wait_for_text("#scan-notice", |text| text.contains("declined"))
        .await;
    let fresh = window
        .wait_for_attr("#qr-image", "src", |src| src != first)
        .await;
    assert_ne!(last_segment(&fresh), last_segment(&first));
    assert!(desktop.keychain_lookup(&server.base_url).is_none());

    window.close().await;
    driver.stop().await;
}

/// Someone else scanned the QR: the console offers a new code at once, rather than waiting minutes
/// for that phone to answer or the scan to expire, and the new code is another scene.
#[tokio::test(flavor = "multi_thread")]
async fn a_qr_someone_else_scanned_is_replaced_on_request() {
    let server = TestServer::start_dev().await;
    let desktop = Desktop::start();
    let driver = desktop.driver(&server.base_url).await;
    let window = driver.open_console().await;

    let first = window.shown_png("#qr-image").await;
    assert!(
        !window.has("#new-code:not([hidden])").await,
        "no new code before a scan"
    );
    phone_scans(&server, "bob", &last_segment(&first)).await;
    window
        .wait_for_text("#scan-status", |text| text.contains("bob"))
        .await;
    window.click("#new-code").await;
    let fresh = window
        .wait_for_attr("#qr-image", "src", |src| src != first)
        .await;
    assert_ne!(last_segment(&fresh), last_segment(&first));
    window
        .wait_for_text("#scan-status", |text| !text.contains("bob"))
        .await;

    window.close().await;
    driver.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wechat_account_without_organizer_role_is_told_so() {
    let server = TestServer::start_dev().await;
    let desktop = Desktop::start();
    let driver = desktop.driver(&server.base_url).await;
    let window = driver.open_console().await;

    let qr = window.shown_png("#qr-image").await;
    let refused = phone(
        &server,
        "guest-carol",
        &last_segment(&qr),
        PhoneAnswer::Confirm,
    )
    .await;
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

    let first = window.shown_png("#qr-image").await;
    let first_scene = last_segment(&first);
    // An 8 s scene is rotated 2 s early, i.e. after about 6 s.
    let rotated = window
        .wait_for_attr("#qr-image", "src", |src| src != first)
        .await;
    let second_scene = last_segment(&rotated);
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

    window.shown_png("#qr-image").await;
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
    let url = reqwest::Url::parse(&desktop.opened_url().await).expect("URL");
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
    window.screenshot_for_docs("settings.png").await;
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
    // The Devices section speaks it too: its title, and this console's row.
    window
        .wait_for_text("#devices", |text| {
            text.contains("登录设备") && text.contains("本机") && text.contains("控制台")
        })
        .await;
    window.screenshot_for_docs("home-zh-CN.png").await;

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
        .wait_for_text("#scan-notice", |text| {
            text.contains("logged out from another device")
        })
        .await;
    window.shown_png("#qr-image").await;
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
    window.shown_png("#qr-image").await;
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
    let qr = window.shown_png("#qr-image").await;
    assert_eq!(
        phone(&server, "frank", &last_segment(&qr), PhoneAnswer::Confirm)
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

/// The mini program's own login as `name` on a phone called `device`: its token.
async fn phone_login(server: &TestServer, name: &str, device: &str) -> String {
    let reply = server
        .post(
            "/auth/wechat/login",
            json!({ "code": format!("dev:{name}"), "device_name": device }),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["access_token"]
        .as_str()
        .expect("a token")
        .to_owned()
}

/// `/auth/me` with `token`: `(status, code)`.
async fn me(server: &TestServer, token: &str) -> (u16, String) {
    let reply = server.get("/auth/me", Some(token)).await;
    (reply.status, reply.code().to_owned())
}

/// The Devices row of the session opened on `client` (`console`, `h5`, `miniprogram`) elsewhere.
fn other_row(client: &str) -> String {
    format!("#device-list li[data-current='false'][data-client='{client}']")
}

#[tokio::test(flavor = "multi_thread")]
async fn devices_lists_the_other_session_and_logs_it_out() {
    let server = TestServer::start_dev().await;
    let desktop = Desktop::start();
    let driver = desktop.driver(&server.base_url).await;
    let window = driver.open_console().await;
    let phone = phone_login(&server, "alice", "Alice's iPhone").await;
    window.scan_in(&server, &phone).await;

    // Both sessions, this console's marked and first, the phone's with its name.
    window
        .wait_for_text("#device-list li[data-current='true']", |text| {
            text.contains("This device") && text.contains("Console")
        })
        .await;
    let row = other_row("miniprogram");
    window
        .wait_for_text(&row, |text| {
            text.contains("Alice's iPhone") && text.contains("Mini program") && text.contains("IP ")
        })
        .await;
    assert!(
        !window
            .has("#device-list li[data-current='true'] button")
            .await,
        "this device's row has no Log out of its own"
    );

    window.click(&format!("{row} button.end-session")).await;
    window
        .wait_for_text("#devices-message", |text| {
            text.contains("Alice's iPhone was logged out")
        })
        .await;
    assert_eq!(me(&server, &phone).await, (401, "token_revoked".to_owned()));
    // The message comes as the session ends; the list is reloaded after it.
    window.wait_until_gone(&row).await;
    let stored = desktop
        .keychain_lookup(&server.base_url)
        .expect("still logged in");
    assert_eq!(me(&server, &stored).await.0, 200);

    window.close().await;
    driver.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn log_out_everywhere_else_asks_first_and_keeps_this_console() {
    let server = TestServer::start_dev().await;
    let desktop = Desktop::start();
    let driver = desktop.driver(&server.base_url).await;
    let window = driver.open_console().await;
    let phone = phone_login(&server, "alice", "Alice's iPhone").await;
    // A browser session opened from the phone, too.
    let ticket = server.post_empty("/auth/login-ticket", Some(&phone)).await;
    assert_eq!(ticket.status, 201, "{}", ticket.body);
    let exchanged = server
        .post(
            "/auth/login-ticket/exchange",
            json!({ "login_ticket": ticket.body["login_ticket"], "device_name": "Safari on iPhone" }),
            None,
        )
        .await;
    assert_eq!(exchanged.status, 200, "{}", exchanged.body);
    let browser = exchanged.body["access_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    window.scan_in(&server, &phone).await;
    window
        .wait_for_text(&other_row("h5"), |text| text.contains("Safari on iPhone"))
        .await;
    window.wait_for(&other_row("miniprogram")).await;
    // The section sits below the profile: bring it into view for the docs' picture.
    window
        .client
        .execute(
            "document.getElementById('devices').scrollIntoView({block: 'end'})",
            Vec::new(),
        )
        .await
        .expect("scroll");
    window.screenshot_for_docs("devices.png").await;

    // The confirmation counts the two other sessions; Escape cancels it and nothing ends.
    window.click("#end-other-sessions").await;
    window
        .wait_for_text("#end-others-question", |text| {
            text.contains("Log out 2 other sessions?")
        })
        .await;
    let focused = window
        .client
        .active_element()
        .await
        .expect("a focused element");
    assert_eq!(
        focused.attr("id").await.ok().flatten().as_deref(),
        Some("cancel-end-others")
    );
    focused.send_keys(&Key::Escape).await.expect("Escape");
    window.wait_until_gone("#end-others-dialog[open]").await;
    assert_eq!(
        me(&server, &phone).await.0,
        200,
        "cancelled, yet the phone was logged out"
    );

    window.click("#end-other-sessions").await;
    window.click("#confirm-end-others").await;
    window
        .wait_for_text("#devices-message", |text| {
            text.contains("2 other sessions were logged out")
        })
        .await;
    assert_eq!(me(&server, &phone).await, (401, "token_revoked".to_owned()));
    assert_eq!(
        me(&server, &browser).await,
        (401, "token_revoked".to_owned())
    );
    let stored = desktop
        .keychain_lookup(&server.base_url)
        .expect("still logged in");
    assert_eq!(me(&server, &stored).await.0, 200);
    assert!(window.has("#user-name").await);
    window
        .wait_until_gone("#end-other-sessions:not([hidden])")
        .await;

    window.close().await;
    driver.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_ended_from_another_device_returns_to_the_qr_with_a_notice() {
    let server = TestServer::start_dev().await;
    let desktop = Desktop::start();
    let driver = desktop.driver(&server.base_url).await;
    let window = driver.open_console().await;
    let phone = phone_login(&server, "alice", "Alice's iPhone").await;

    // Ended while the console shows home: its next server call (Open in browser) finds out.
    window.scan_in(&server, &phone).await;
    end_the_console_session_from(&server, &phone).await;
    window.click("#open-browser").await;
    back_at_the_qr_with_the_notice(&window).await;
    assert!(desktop.keychain_lookup(&server.base_url).is_none());
    assert!(desktop.opened_urls().is_empty());

    // Ended while the window is in the background: it finds out when it gets the focus back.
    window.scan_in(&server, &phone).await;
    end_the_console_session_from(&server, &phone).await;
    window
        .client
        .execute("window.dispatchEvent(new FocusEvent('focus'))", Vec::new())
        .await
        .expect("focus event");
    back_at_the_qr_with_the_notice(&window).await;
    assert!(desktop.keychain_lookup(&server.base_url).is_none());

    window.close().await;
    driver.stop().await;
}

/// The phone ends the console's session, as "Log out" in its own session list would.
async fn end_the_console_session_from(server: &TestServer, phone: &str) {
    let listed = server.get("/auth/sessions", Some(phone)).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let console = listed.body["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|session| session["client"] == "console")
        .expect("the console's session")["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let ended = send(with_bearer(
        server
            .http()
            .delete(server.url(&format!("/auth/sessions/{console}"))),
        Some(phone),
    ))
    .await;
    assert_eq!(ended.status, 204, "{}", ended.body);
}

async fn back_at_the_qr_with_the_notice(window: &ConsoleWindow) {
    window
        .wait_for_text("#scan-notice", |text| {
            text.contains("You were logged out from another device")
        })
        .await;
    window.shown_png("#qr-image").await;
    assert!(!window.has("#home").await);
}
