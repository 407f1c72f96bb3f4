//! The organizer team in the real console window (Xvfb + tauri-driver + WebKitWebDriver) against a
//! real in-process auth server in dev mode: an admin invites, the phone accepts the code read from
//! the QR the window shows, the Team page shows the new member, "Remove from team" ends their
//! console session; the last admin is refused in the server's words; "Link WeChat" follows the
//! scan as the login does and ends linked; a password login is added from the Account page.
//!
//! The phone is played over HTTP exactly as the mini program would (`dev:` logins; dev users whose
//! names start with `admin` are admins, `guest` ones have no role). Needs
//! `cargo build -p meeteasy-console` first (see `meeteasy_tests::desktop`).

use fantoccini::key::Key;
use meeteasy_tests::api::Reply;
use meeteasy_tests::desktop::{ConsoleWindow, Desktop, last_segment, qr_text};
use meeteasy_tests::server::TestServer;
use serde_json::{Value, json};

/// The mini program's own login as `name`: `(token, user id)`.
async fn phone_login(server: &TestServer, name: &str) -> (String, String) {
    let reply = server
        .post(
            "/auth/wechat/login",
            json!({ "code": format!("dev:{name}"), "device_name": format!("{name}'s phone") }),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    (
        text(&reply.body["access_token"]),
        text(&reply.body["user"]["id"]),
    )
}

fn text(value: &Value) -> String {
    value.as_str().expect("a string").to_owned()
}

/// A console session for the user of `phone_token`, opened by a scan over HTTP as a second console
/// would: its access token.
async fn console_token_of(server: &TestServer, phone_token: &str) -> String {
    let created = server
        .post(
            "/auth/scenes",
            json!({ "device_name": "Second console" }),
            None,
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let scene = text(&created.body["scene"]);
    for step in ["scan", "confirm"] {
        let reply = server
            .post_empty(&format!("/auth/scenes/{scene}/{step}"), Some(phone_token))
            .await;
        assert!(reply.status < 300, "{step}: {}", reply.body);
    }
    let confirmed = server
        .get(
            &format!("/auth/scenes/{scene}/islogin?wait=0"),
            Some(&text(&created.body["poll_token"])),
        )
        .await;
    assert_eq!(confirmed.body["status"], "confirmed", "{}", confirmed.body);
    text(&confirmed.body["access_token"])
}

async fn me(server: &TestServer, token: &str) -> Reply {
    server.get("/auth/me", Some(token)).await
}

async fn accept(server: &TestServer, phone_token: &str, code: &str) -> Reply {
    server
        .post(
            "/auth/invites/accept",
            json!({ "code": code }),
            Some(phone_token),
        )
        .await
}

/// Tells the page the window has the focus again: it reads the server again.
async fn refocus(window: &ConsoleWindow) {
    window
        .client
        .execute("window.dispatchEvent(new FocusEvent('focus'))", Vec::new())
        .await
        .expect("focus event");
}

/// Clicks `css` and confirms in the Remove dialog.
async fn remove_confirmed(window: &ConsoleWindow, css: &str) {
    window.click(css).await;
    window
        .wait_for_text("#remove-question", |text| text.contains("Remove"))
        .await;
    window.click("#confirm-remove").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_invites_the_phone_accepts_the_team_shows_them_and_removal_logs_them_out() {
    let server = TestServer::start_dev().await;
    let desktop = Desktop::start();
    let downloads = desktop.downloads_dir();
    let driver = desktop.driver(&server.base_url).await;
    let window = driver.open_console().await;
    let (admin_phone, admin_id) = phone_login(&server, "admin-ann").await;
    window.scan_in(&server, &admin_phone).await;

    window.click("#nav-team").await;
    let me_row = format!("#member-list li[data-user-id='{admin_id}'][data-you='true']");
    window
        .wait_for_text(&me_row, |text| {
            text.contains("admin-ann") && text.contains("Administrator") && text.contains("WeChat")
        })
        .await;

    // Invite: the QR large, its expiry counting down, the link it encodes, a PNG to send.
    window.click("#invite-organizer").await;
    let qr = window.shown_png("#invite-qr").await;
    let code = last_segment(&qr);
    window
        .wait_for_text("#invite-expiry", |text| {
            text.starts_with("Expires in 23:59:")
        })
        .await;
    let link = window
        .wait_for_attr("#invite-link", "value", |value| !value.is_empty())
        .await;
    assert_eq!(link, qr_text(&qr), "Copy link copies what the QR encodes");
    window.click("#copy-invite-link").await;
    window
        .wait_for_text("#invite-status", |text| text == "Link copied.")
        .await;
    window
        .wait_for_text("#invite-list li[data-state='open']", |text| {
            text.contains("Organizer") && text.contains("admin-ann")
        })
        .await;
    window.screenshot_for_docs("team-invite.png").await;
    window.click("#save-invite-qr").await;
    let saved = window
        .wait_for_text("#invite-status", |text| text.starts_with("Saved as "))
        .await;
    let saved = std::path::PathBuf::from(saved.trim_start_matches("Saved as "));
    assert_eq!(saved.parent(), Some(downloads.as_path()), "{saved:?}");
    assert_eq!(
        last_segment(&format!(
            "data:image/png;base64,{}",
            base64_of(&std::fs::read(&saved).expect("the saved QR"))
        )),
        code
    );
    // The token never reached the webview, the invite's picture did.
    let stored = desktop
        .keychain_lookup(&server.base_url)
        .expect("a token in the keychain");
    let page = window.client.source().await.expect("page source");
    assert!(!page.contains(&stored), "the token reached the webview");

    // A colleague with no role yet accepts on the phone: they join as an organizer.
    let (guest_phone, guest_id) = phone_login(&server, "guest-bob").await;
    let accepted = accept(&server, &guest_phone, &code).await;
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    let again = accept(&server, &guest_phone, &code).await;
    assert_eq!((again.status, again.code()), (409, "invite_used"));
    let guest_console = console_token_of(&server, &guest_phone).await;
    assert_eq!(me(&server, &guest_console).await.status, 200);

    refocus(&window).await;
    let guest_row = format!("#member-list li[data-user-id='{guest_id}']");
    window
        .wait_for_text(&guest_row, |text| {
            text.contains("guest-bob")
                && text.contains("Organizer")
                && !text.contains("Administrator")
        })
        .await;
    window
        .wait_for_text("#invite-list li[data-state='accepted']", |text| {
            text.contains("guest-bob joined")
        })
        .await;
    // "Done" puts the QR away; the list is what the page shows then.
    window.click("#close-invite").await;
    assert!(!window.has("#invite-qr").await);
    window
        .client
        .execute(
            "document.getElementById('team-title').scrollIntoView({block: 'start'})",
            Vec::new(),
        )
        .await
        .expect("scroll");
    window.screenshot_for_docs("team.png").await;

    // Remove asks first: Escape cancels and nothing changes.
    window
        .click(&format!("{guest_row} button.remove-member"))
        .await;
    window
        .wait_for_text("#remove-question", |text| text.contains("Remove guest-bob"))
        .await;
    let focused = window.client.active_element().await.expect("focus");
    assert_eq!(
        focused.attr("id").await.ok().flatten().as_deref(),
        Some("cancel-remove")
    );
    focused.send_keys(&Key::Escape).await.expect("Escape");
    window.wait_until_gone("#remove-dialog[open]").await;
    assert_eq!(me(&server, &guest_console).await.status, 200);
    assert!(window.has(&guest_row).await, "still on the team");

    remove_confirmed(&window, &format!("{guest_row} button.remove-member")).await;
    window
        .wait_for_text("#team-message", |text| {
            text.contains("guest-bob was removed from the team")
        })
        .await;
    let ended = me(&server, &guest_console).await;
    assert_eq!(
        (ended.status, ended.code()),
        (401, "token_revoked"),
        "{}",
        ended.body
    );
    let deadline = std::time::Instant::now() + meeteasy_tests::desktop::UI_DEADLINE;
    while window.has(&guest_row).await {
        assert!(
            std::time::Instant::now() < deadline,
            "the removed member is still listed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // The last admin cannot leave: the server's refusal, in words.
    remove_confirmed(&window, &format!("{me_row} button.remove-member")).await;
    window
        .wait_for_text("#team-message", |text| {
            text.starts_with("The server refused: ")
        })
        .await;
    if !window.has(&me_row).await {
        let list = window.wait_for_text("#member-list", |_| true).await;
        panic!("the refused leave took the admin's own row off the list: {list:?}");
    }
    assert_eq!(me(&server, &stored).await.status, 200);

    // With another admin on the team, leaving it is allowed: the console logs out, says so (not
    // "logged out from another device"), and keeps no session.
    let (zoe_phone, _) = phone_login(&server, "admin-zoe").await;
    console_token_of(&server, &zoe_phone).await;
    refocus(&window).await;
    window
        .wait_for_text("#member-list", |text| text.contains("admin-zoe"))
        .await;
    remove_confirmed(&window, &format!("{me_row} button.remove-member")).await;
    window
        .wait_for_text("#scan-notice", |text| {
            text.starts_with("You left the team.")
        })
        .await;
    assert_eq!(me(&server, &stored).await.code(), "token_revoked");
    assert!(
        desktop.keychain_lookup(&server.base_url).is_none(),
        "the keychain keeps no session"
    );

    window.close().await;
    driver.stop().await;
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_invite_no_longer_works_and_organizers_who_are_not_admins_cannot_invite() {
    let server = TestServer::start_dev().await;
    let desktop = Desktop::start();
    let driver = desktop.driver(&server.base_url).await;
    let window = driver.open_console().await;
    let (admin_phone, _) = phone_login(&server, "admin-ann").await;
    window.scan_in(&server, &admin_phone).await;

    window.click("#nav-team").await;
    window.click("#invite-admin").await;
    let code = last_segment(&window.shown_png("#invite-qr").await);
    window
        .wait_for_text("#invite-title", |text| text.contains("administrator"))
        .await;
    window
        .click("#invite-list li[data-state='open'] button.revoke-invite")
        .await;
    window
        .wait_for_text("#team-message", |text| text.contains("revoked"))
        .await;
    assert!(
        !window.has("#invite-qr").await,
        "the revoked invite's QR is still shown"
    );
    let (guest_phone, _) = phone_login(&server, "guest-cat").await;
    let refused = accept(&server, &guest_phone, &code).await;
    assert_eq!((refused.status, refused.code()), (410, "invite_expired"));

    // An organizer who is not an admin sees the team, and no invite or remove controls.
    window.click("#nav-home").await;
    window.click("#logout").await;
    let (organizer_phone, _) = phone_login(&server, "bob").await;
    window.scan_in(&server, &organizer_phone).await;
    window.click("#nav-team").await;
    window
        .wait_for_text("#member-list li[data-you='true']", |text| {
            text.contains("bob")
        })
        .await;
    window.wait_for("#member-list li[data-you='false']").await;
    assert!(window.has("#invite-actions[hidden]").await);
    assert!(!window.has("#member-list button.remove-member").await);
    assert!(window.has("#invites[hidden]").await);

    // In Chinese, and back on the Team page after the settings.
    window.click("#open-settings").await;
    window.click("#language option[value='zh-CN']").await;
    window.click("#save-settings").await;
    window
        .wait_for_text("#team", |text| {
            text.contains("团队") && text.contains("组织者") && text.contains("登录方式：微信")
        })
        .await;
    window.screenshot_for_docs("team-zh-CN.png").await;

    window.close().await;
    driver.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn link_wechat_follows_the_scan_as_login_does_and_ends_linked() {
    let server = TestServer::start_dev().await;
    server
        .add_password_user("pat@example.com", "Pat", "correct horse", &["organizer"])
        .await;
    let desktop = Desktop::start();
    let driver = desktop.driver(&server.base_url).await;
    let window = driver.open_console().await;

    window.click("#tab-password").await;
    window.type_into("#login-input", "pat@example.com").await;
    window.type_into("#password-input", "correct horse").await;
    window.click("#password-submit").await;
    window
        .wait_for_text("#user-name", |name| name.contains("Pat"))
        .await;

    window.click("#nav-account").await;
    window
        .wait_for_attr(
            "#account-methods li[data-method='password']",
            "data-set",
            |set| set == "true",
        )
        .await;
    window
        .wait_for_attr(
            "#account-methods li[data-method='wechat']",
            "data-set",
            |set| set == "false",
        )
        .await;
    // With a password set, changing it asks for the current one.
    window.wait_for("#account-current-password").await;

    window.click("#link-wechat").await;
    let first = window.shown_png("#link-qr-image").await;
    window
        .wait_for_text("#link-scan-status", |text| text.contains("Waiting"))
        .await;

    // Declined on the phone: said so, and a fresh code.
    let (phone, _) = phone_login(&server, "guest-pat").await;
    let scene = last_segment(&first);
    let scanned = server
        .post_empty(&format!("/auth/scenes/{scene}/scan"), Some(&phone))
        .await;
    assert_eq!(scanned.status, 200, "{}", scanned.body);
    assert_eq!(scanned.body["purpose"], "link", "{}", scanned.body);
    window
        .wait_for_text("#link-scan-status", |text| {
            text.contains("guest-pat") && text.contains("confirm on your phone")
        })
        .await;
    let declined = server
        .post_empty(&format!("/auth/scenes/{scene}/cancel"), Some(&phone))
        .await;
    assert_eq!(declined.status, 204, "{}", declined.body);
    window
        .wait_for_text("#link-scan-notice", |text| text.contains("declined"))
        .await;
    let second = window
        .wait_for_attr("#link-qr-image", "src", |src| src != first)
        .await;

    // A WeChat that is another real account (an organizer): refused in words, nothing changes.
    let (organizer_phone, bob_id) = phone_login(&server, "bob").await;
    let scene = last_segment(&second);
    let link = |step: &str| format!("/auth/scenes/{scene}/{step}");
    let scanned = server
        .post_empty(&link("scan"), Some(&organizer_phone))
        .await;
    assert_eq!(scanned.status, 200, "{}", scanned.body);
    let refused = server
        .post_empty(&link("confirm"), Some(&organizer_phone))
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (409, "identity_in_use"),
        "{}",
        refused.body
    );
    window
        .wait_for_text("#link-scan-notice", |text| {
            text.contains("already belongs to another account")
        })
        .await;
    let third = window
        .wait_for_attr("#link-qr-image", "src", |src| src != second)
        .await;
    // Bob's WeChat is still Bob's, and Pat's account still has none.
    let bob = me(&server, &organizer_phone).await;
    assert_eq!(text(&bob.body["id"]), bob_id, "{}", bob.body);
    assert_eq!(
        window
            .wait_for("#account-methods li[data-method='wechat']")
            .await
            .attr("data-set")
            .await
            .ok()
            .flatten()
            .as_deref(),
        Some("false")
    );
    window.screenshot_for_docs("account-link.png").await;

    // The mini program's own (empty) account confirms: linked, and folded into Pat's.
    let scene = last_segment(&third);
    for step in ["scan", "confirm"] {
        let reply = server
            .post_empty(&format!("/auth/scenes/{scene}/{step}"), Some(&phone))
            .await;
        assert!(reply.status < 300, "{step}: {}", reply.body);
    }
    window
        .wait_for_text("#link-result", |text| text.contains("WeChat is linked"))
        .await;
    window
        .wait_for_attr(
            "#account-methods li[data-method='wechat']",
            "data-set",
            |set| set == "true",
        )
        .await;
    let (relogin, _) = phone_login(&server, "guest-pat").await;
    let who = me(&server, &relogin).await;
    assert_eq!(who.body["display_name"], "Pat", "{}", who.body);
    assert!(!window.has("#link-qr-image").await);

    window.close().await;
    driver.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_login_is_added_from_the_account_page() {
    let server = TestServer::start_dev().await;
    let desktop = Desktop::start();
    let driver = desktop.driver(&server.base_url).await;
    let window = driver.open_console().await;
    let (phone, _) = phone_login(&server, "alice").await;
    window.scan_in(&server, &phone).await;

    window.click("#nav-account").await;
    window
        .wait_for_attr(
            "#account-methods li[data-method='password']",
            "data-set",
            |set| set == "false",
        )
        .await;
    assert!(!window.has("#account-current-password").await);
    window
        .type_into("#account-login", "alice@example.com")
        .await;
    window
        .type_into("#account-new-password", "a long enough secret")
        .await;
    window.click("#account-password-submit").await;
    window
        .wait_for_text("#account-password-message", |text| {
            text.contains("Password login added")
        })
        .await;
    window
        .wait_for_attr(
            "#account-methods li[data-method='password']",
            "data-set",
            |set| set == "true",
        )
        .await;
    window.wait_for("#account-current-password").await;
    let login = server
        .post(
            "/auth/login",
            json!({"login": "alice@example.com", "password": "a long enough secret", "client": "console"}),
            None,
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.body);
    assert_eq!(login.body["user"]["display_name"], "alice");

    // Changing it asks for the current one; a wrong one is said in words.
    window
        .type_into("#account-login", "alice@example.com")
        .await;
    window
        .type_into("#account-current-password", "not it")
        .await;
    window
        .type_into("#account-new-password", "another long secret")
        .await;
    window.click("#account-password-submit").await;
    window
        .wait_for_text("#account-password-message", |text| {
            text.contains("The current password is wrong")
        })
        .await;
    window
        .type_into("#account-current-password", "a long enough secret")
        .await;
    window.click("#account-password-submit").await;
    window
        .wait_for_text("#account-password-message", |text| {
            text.contains("Password changed")
        })
        .await;
    // The session the old password opened elsewhere ended with it.
    let elsewhere = login.body["access_token"].as_str().unwrap();
    me(&server, elsewhere)
        .await
        .assert_error(401, "token_revoked");
    let changed = server
        .post(
            "/auth/login",
            json!({"login": "alice@example.com", "password": "another long secret", "client": "console"}),
            None,
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);

    window.close().await;
    driver.stop().await;
}
