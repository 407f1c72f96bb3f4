//! The H5 side in a real headless Chromium against a real dev-mode server: the login-ticket script on the
//! demo page and on conference sites of other origins, a link for another account on a logged-in page
//! (login CSRF), password login and logout, and the scan page's dev-mode phone simulator.

use std::time::Duration;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use fantoccini::Locator;
use meeteasy_protocol::{CreateSceneResponse, WeChatLoginResponse};
use meeteasy_tests::api::Reply;
use meeteasy_tests::browser::Browser;
use meeteasy_tests::server::TestServer;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::flows::create_scene;

/// How long a page may take to settle: a script fetch, an exchange, a redirect.
const PAGE_TIMEOUT: Duration = Duration::from_secs(15);

/// Where the demo page's script keeps the session (the script's default key).
const SESSION_KEY: &str = "meeteasy.session";

/// The demo page's settled state (`logged-in`, `prompt`, `redirecting`), once it is no longer loading.
async fn demo_state(browser: &Browser) -> String {
    let state = browser
        .wait_for(
            "the demo page to settle",
            "const state = document.getElementById('page')?.dataset.state; \
             return state && state !== 'loading' && state !== 'redirecting' ? state : null;",
            PAGE_TIMEOUT,
        )
        .await
        .expect("the demo page settles");
    state.as_str().expect("a state string").to_owned()
}

async fn text_of(browser: &Browser, css: &str) -> String {
    browser
        .client()
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|error| panic!("no {css}: {error}"))
        .text()
        .await
        .expect("element text")
}

async fn script_value(browser: &Browser, script: &str) -> Value {
    browser
        .client()
        .execute(script, Vec::new())
        .await
        .expect("the script runs")
}

/// The error code the prompt shows (`data-error` of its reason), or null.
async fn prompt_reason(browser: &Browser) -> Value {
    script_value(
        browser,
        "return document.getElementById('prompt-reason').dataset.error ?? null;",
    )
    .await
}

async fn stored_token(browser: &Browser) -> Option<String> {
    let stored = script_value(
        browser,
        &format!("return localStorage.getItem('{SESSION_KEY}');"),
    )
    .await;
    let stored: Value = serde_json::from_str(stored.as_str()?).expect("the stored session is JSON");
    stored["token"].as_str().map(str::to_owned)
}

async fn current_url(browser: &Browser) -> reqwest::Url {
    let url = browser
        .client()
        .current_url()
        .await
        .expect("the current URL");
    reqwest::Url::parse(url.as_str()).expect("a URL")
}

fn assert_no_ticket_in(url: &reqwest::Url) {
    assert!(
        url.query_pairs()
            .all(|(name, _)| name != "login_ticket" && name != "_t"),
        "the ticket is still in the address bar: {url}"
    );
}

async fn fill(browser: &Browser, css: &str, text: &str) {
    let field = browser
        .client()
        .find(Locator::Css(css))
        .await
        .expect("the field");
    field.clear().await.expect("cleared");
    field.send_keys(text).await.expect("typed");
}

async fn click(browser: &Browser, css: &str) {
    browser
        .client()
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|error| panic!("no {css}: {error}"))
        .click()
        .await
        .expect("clicked");
}

fn ticket_url(page: &str, login: &WeChatLoginResponse) -> String {
    format!(
        "{page}?login_ticket={}&_t=1700000000123",
        login.login_ticket
    )
}

#[tokio::test]
async fn a_ticket_logs_the_demo_page_in_once_and_leaves_no_trace_in_the_address_bar() {
    let (server, browser, demo) = demo_in_chromium().await;
    let login = server.dev_login("alice").await;
    let url = ticket_url(&demo, &login);

    assert_eq!(open_with_ticket(&browser, &demo, &login).await, "logged-in");
    assert_eq!(
        text_of(&browser, "#user-name").await,
        login.user.display_name
    );
    assert_eq!(
        text_of(&browser, "#user-roles").await,
        login.user.roles.join(", ")
    );
    let address = current_url(&browser).await;
    assert_no_ticket_in(&address);
    assert_eq!(address.path(), "/h5/demo");

    let token = stored_token(&browser).await.expect("the JWT is kept");
    let verified = server
        .post("/auth/jwt/verify", json!({"token": token}), None)
        .await;
    assert_eq!(verified.status, 200, "{verified:?}");
    assert_eq!(verified.body["claims"]["aud"], "h5");
    assert_eq!(verified.body["claims"]["sub"], login.user.id.as_str());

    // A reload finds no ticket to re-send (it would be `ticket_used`) and resumes the session.
    browser.client().refresh().await.expect("reloaded");
    assert_eq!(demo_state(&browser).await, "logged-in");
    assert_no_ticket_in(&current_url(&browser).await);

    // The same link in a second tab: the ticket is spent, but the stored session holds, so the page
    // stays logged in (and says why the ticket did not work).
    in_a_new_tab(&browser).await;
    browser
        .client()
        .goto(&url)
        .await
        .expect("the demo page opens again");
    assert_eq!(demo_state(&browser).await, "logged-in");
    assert_eq!(
        text_of(&browser, "#user-name").await,
        login.user.display_name
    );
    let note = "return document.getElementById('ticket-note').dataset.error;";
    assert_eq!(script_value(&browser, note).await, "ticket_used");
    assert_no_ticket_in(&current_url(&browser).await);

    // With no stored session, the spent ticket leaves the prompt.
    script_value(&browser, "localStorage.clear(); return null;").await;
    browser
        .client()
        .goto(&url)
        .await
        .expect("the demo page opens once more");
    assert_eq!(demo_state(&browser).await, "prompt");
    assert_eq!(prompt_reason(&browser).await, "ticket_used");
    assert_no_ticket_in(&current_url(&browser).await);

    browser.shutdown().await.expect("Chromium stops");
}

/// How many logouts the server has answered with 204 (each revoked a session).
fn logouts(server: &TestServer) -> u64 {
    server
        .service()
        .metrics()
        .render()
        .lines()
        .find_map(|line| {
            line.strip_prefix(r#"meeteasy_http_requests_total{route="/auth/logout",status="204"} "#)
        })
        .map_or(0, |count| count.parse().expect("a count"))
}

/// A fresh ticket of `login`'s user, in a login response's shape for [`ticket_url`].
async fn another_ticket(server: &TestServer, login: &WeChatLoginResponse) -> WeChatLoginResponse {
    let minted = server
        .post_empty("/auth/login-ticket", Some(&login.access_token))
        .await;
    assert_eq!(minted.status, 201, "{minted:?}");
    WeChatLoginResponse {
        login_ticket: minted.body["login_ticket"]
            .as_str()
            .expect("a ticket")
            .to_owned(),
        ..login.clone()
    }
}

/// The page kept the session of `token` (stored, and live on the server) and logged the link's
/// session out: one logout more than `logouts_before`.
async fn kept_with_the_link_logged_out(
    server: &TestServer,
    browser: &Browser,
    token: &str,
    logouts_before: u64,
) {
    let stored = stored_token(browser).await;
    assert_eq!(stored.as_deref(), Some(token), "the page keeps its session");
    let lives = token_subject(server, token).await;
    assert_eq!(lives.status, 200, "the kept session lives: {lives:?}");
    assert_eq!(
        logouts(server),
        logouts_before + 1,
        "the link's session is logged out"
    );
}

async fn token_subject(server: &TestServer, token: &str) -> Reply {
    server
        .post("/auth/jwt/verify", json!({"token": token}), None)
        .await
}

/// Opens the demo page `demo` with `login`'s ticket; returns the state it settles in.
async fn open_with_ticket(browser: &Browser, demo: &str, login: &WeChatLoginResponse) -> String {
    browser
        .client()
        .goto(&ticket_url(demo, login))
        .await
        .expect("the demo page opens");
    demo_state(browser).await
}

/// Opens a new tab and goes on in it; returns the tab it left.
async fn in_a_new_tab(browser: &Browser) -> fantoccini::wd::WindowHandle {
    let left = browser.client().window().await.expect("this tab");
    let tab = browser.client().new_window(true).await.expect("a new tab");
    browser
        .client()
        .switch_to_window(tab.handle)
        .await
        .expect("switched to the new tab");
    left
}

/// A dev server, Chromium, and the demo page's URL there.
async fn demo_in_chromium() -> (TestServer, Browser, String) {
    let server = TestServer::start_dev().await;
    let browser = Browser::start().await.expect("Chromium starts");
    let demo = server.url("/h5/demo");
    (server, browser, demo)
}

/// Login CSRF: a page logged in as Ann, opened with a ticket Eve minted, must not quietly become Eve's.
#[tokio::test]
async fn a_link_for_another_account_asks_before_the_logged_in_page_switches() {
    let (server, browser, demo) = demo_in_chromium().await;
    let (ann, eve) = (server.dev_login("ann").await, server.dev_login("eve").await);

    assert_eq!(open_with_ticket(&browser, &demo, &ann).await, "logged-in");
    let ann_token = stored_token(&browser).await.expect("Ann's session is kept");

    // Eve's link: the page asks, still Ann's meanwhile.
    assert_eq!(
        open_with_ticket(&browser, &demo, &eve).await,
        "switch-account"
    );
    assert_eq!(text_of(&browser, "#current-name").await, "ann");
    assert_eq!(text_of(&browser, "#offered-name").await, "eve");
    let focused = browser.client().active_element().await.expect("focus");
    assert_eq!(
        focused.attr("id").await.ok().flatten().as_deref(),
        Some("switch-heading"),
        "the question takes the focus"
    );
    assert_no_ticket_in(&current_url(&browser).await);
    assert_eq!(
        stored_token(&browser).await.as_deref(),
        Some(ann_token.as_str())
    );

    // Staying Ann logs Eve's offered session out on the server.
    let logouts_before = logouts(&server);
    click(&browser, "#keep-account").await;
    wait_for_demo_state(&browser, "logged-in").await;
    assert_eq!(text_of(&browser, "#user-name").await, "ann");
    assert_eq!(
        stored_token(&browser).await.as_deref(),
        Some(ann_token.as_str())
    );
    let still_ann = token_subject(&server, &ann_token).await;
    assert_eq!(still_ann.status, 200, "Ann's session lives: {still_ann:?}");
    assert_eq!(
        logouts(&server),
        logouts_before + 1,
        "one session revoked, and it was not Ann's: Eve's"
    );

    // Asked again, and switching: the page becomes Eve's and Ann's session ends.
    let eve_again = another_ticket(&server, &eve).await;
    assert_eq!(
        open_with_ticket(&browser, &demo, &eve_again).await,
        "switch-account"
    );
    click(&browser, "#accept-account").await;
    wait_for_demo_state(&browser, "logged-in").await;
    assert_eq!(text_of(&browser, "#user-name").await, "eve");
    let eve_token = stored_token(&browser).await.expect("Eve's session is kept");
    let verified = token_subject(&server, &eve_token).await;
    assert_eq!(
        verified.body["claims"]["sub"],
        eve.user.id.as_str(),
        "{verified:?}"
    );
    token_subject(&server, &ann_token)
        .await
        .assert_error(401, "token_revoked");

    // A link of the account the page already holds logs in without a question: the page keeps
    // its session, and the link's is logged out, not left live.
    let logouts_before = logouts(&server);
    let eve_once_more = another_ticket(&server, &eve).await;
    assert_eq!(
        open_with_ticket(&browser, &demo, &eve_once_more).await,
        "logged-in"
    );
    assert_eq!(text_of(&browser, "#user-name").await, "eve");
    kept_with_the_link_logged_out(&server, &browser, &eve_token, logouts_before).await;

    browser.shutdown().await.expect("Chromium stops");
}

/// A fresh link of the page's own user while the page's session is about to end (a second "Open in
/// browser" from the console, hours after the first): the page keeps the session that lasts,
/// rather than drop the new one and lose its login minutes later. The stored one is not logged out
/// (pages it logged in derive from it): it ends by itself.
#[tokio::test]
async fn a_link_of_the_page_s_own_user_that_outlasts_its_session_replaces_it() {
    let (server, browser, demo) = demo_in_chromium().await;
    let ann = server.dev_login("ann").await;
    assert_eq!(open_with_ticket(&browser, &demo, &ann).await, "logged-in");
    let old_token = stored_token(&browser).await.expect("Ann's session is kept");
    // The stored session has five minutes left.
    let aged = format!(
        "const stored = JSON.parse(localStorage.getItem('{SESSION_KEY}'));
         stored.expiresAt = Math.floor(Date.now() / 1000) + 300;
         localStorage.setItem('{SESSION_KEY}', JSON.stringify(stored));
         return true;"
    );
    script_value(&browser, &aged).await;

    let fresh = another_ticket(&server, &ann).await;
    assert_eq!(open_with_ticket(&browser, &demo, &fresh).await, "logged-in");
    let kept = stored_token(&browser).await.expect("a session is kept");
    assert_ne!(kept, old_token, "the page keeps the session that lasts");
    assert_eq!(token_subject(&server, &kept).await.status, 200);
    assert_eq!(token_subject(&server, &old_token).await.status, 200);

    browser.shutdown().await.expect("Chromium stops");
}

/// The stored session is shared by the site's tabs. A tab still showing Ann after another tab
/// switched to Eve must not act as Eve: its logout leaves Eve's session (and her tab) alone.
#[tokio::test]
async fn a_tab_still_showing_ann_after_another_switched_to_eve_does_not_act_as_eve() {
    let (server, browser, demo) = demo_in_chromium().await;
    let (ann, eve) = (server.dev_login("ann").await, server.dev_login("eve").await);
    assert_eq!(open_with_ticket(&browser, &demo, &ann).await, "logged-in");
    let anns_tab = in_a_new_tab(&browser).await;
    assert_eq!(
        open_with_ticket(&browser, &demo, &eve).await,
        "switch-account"
    );
    click(&browser, "#accept-account").await;
    wait_for_demo_state(&browser, "logged-in").await;
    let eve_token = stored_token(&browser).await.expect("Eve's session is kept");

    browser
        .client()
        .switch_to_window(anns_tab)
        .await
        .expect("back to the first tab");
    assert_eq!(text_of(&browser, "#user-name").await, "ann");
    click(&browser, "#logout").await;
    wait_for_demo_state(&browser, "prompt").await;
    let eve_lives = token_subject(&server, &eve_token).await;
    assert_eq!(eve_lives.status, 200, "Eve's session lives: {eve_lives:?}");
    assert_eq!(
        stored_token(&browser).await.as_deref(),
        Some(eve_token.as_str()),
        "and stays stored for her tab"
    );

    browser.shutdown().await.expect("Chromium stops");
}

/// Waits, by asking the server, until every ticket issued before this call has expired: mints probe
/// tickets now (so they expire no earlier than those), then spends them one by one until the server
/// answers `ticket_expired`.
async fn wait_for_tickets_to_expire(server: &TestServer, bearer: &str) {
    const PROBES: usize = 50;
    let mut probes = Vec::with_capacity(PROBES);
    for _ in 0..PROBES {
        let minted = server.post_empty("/auth/login-ticket", Some(bearer)).await;
        assert_eq!(minted.status, 201, "{minted:?}");
        probes.push(
            minted.body["login_ticket"]
                .as_str()
                .expect("a ticket")
                .to_owned(),
        );
    }
    for probe in probes {
        let reply = server
            .post(
                "/auth/login-ticket/exchange",
                json!({"login_ticket": probe}),
                None,
            )
            .await;
        match reply.code() {
            "ticket_expired" => return,
            "" => assert_eq!(reply.status, 200, "{reply:?}"),
            _ => panic!("unexpected answer to a probe: {reply:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("tickets with a 1 s lifetime did not expire within {PROBES} probes");
}

#[tokio::test]
async fn an_expired_ticket_shows_the_login_prompt() {
    let server =
        TestServer::start_with(|settings| settings.lifetimes.login_ticket = Duration::from_secs(1))
            .await;
    let login = server.dev_login("erin").await;
    wait_for_tickets_to_expire(&server, &login.access_token).await;
    let browser = Browser::start().await.expect("Chromium starts");

    let demo = server.url("/h5/demo");
    assert_eq!(open_with_ticket(&browser, &demo, &login).await, "prompt");
    assert_eq!(prompt_reason(&browser).await, "ticket_expired");
    assert_no_ticket_in(&current_url(&browser).await);
    assert_eq!(stored_token(&browser).await, None);

    browser.shutdown().await.expect("Chromium stops");
}

/// The pages are written in English and switch to the reader's language when i18n.js runs: until
/// it has, the texts it replaces are hidden (style.css), so a zh-CN reader never sees the English
/// first, and should it never run they show after a second. Read in one script, with the page's
/// ready mark taken off and put back, so the check waits on nothing.
#[tokio::test]
async fn the_pages_texts_stay_hidden_until_they_are_in_the_reader_s_language() {
    let (_server, browser, demo) = demo_in_chromium().await;
    browser.client().goto(&demo).await.expect("opens");
    let ready = "return document.documentElement.hasAttribute('data-i18n-ready');";
    let ready = browser
        .wait_for("i18n.js to run", ready, PAGE_TIMEOUT)
        .await;
    ready.expect("the page marks its language in");
    let visibility = script_value(
        &browser,
        "const root = document.documentElement;
         const heading = document.querySelector('h1[data-i18n]');
         const shown = () => getComputedStyle(heading).visibility;
         const ready = shown();
         root.removeAttribute('data-i18n-ready');
         const waiting = shown();
         heading.getAnimations().forEach((animation) => animation.finish());
         const fallback = shown();
         root.setAttribute('data-i18n-ready', '');
         return [ready, waiting, fallback, shown()];",
    )
    .await;
    assert_eq!(
        visibility,
        serde_json::json!(["visible", "hidden", "visible", "visible"])
    );
    browser.shutdown().await.expect("Chromium stops");
}

/// A refused ticket sends the browser to the login page, which says why once: a logout later on
/// that page has nothing to do with the link.
#[tokio::test]
async fn a_garbage_ticket_sends_the_browser_to_the_login_page() {
    let (server, browser, demo) = demo_in_chromium().await;
    let password = "correct horse battery";
    server
        .add_password_user("ida@example.com", "Ida", password, &[])
        .await;

    let url = format!("{demo}?login_ticket=not-a-ticket&_t=1");
    browser.client().goto(&url).await.expect("opens");
    let landed = browser
        .wait_for(
            "the redirect to the login page",
            "return location.search === '?login' ? location.pathname + location.search : null;",
            PAGE_TIMEOUT,
        )
        .await
        .expect("redirected");
    assert_eq!(landed, "/h5/demo?login");
    assert_eq!(demo_state(&browser).await, "prompt");
    assert_eq!(prompt_reason(&browser).await, "login_required");

    fill(&browser, "#login", "ida@example.com").await;
    fill(&browser, "#password", password).await;
    click(&browser, "#login-submit").await;
    wait_for_demo_state(&browser, "logged-in").await;
    click(&browser, "#logout").await;
    wait_for_demo_state(&browser, "prompt").await;
    assert_eq!(prompt_reason(&browser).await, Value::Null);

    browser.shutdown().await.expect("Chromium stops");
}

/// Runs `setup` (JavaScript that may store a session, put a ticket in the address bar or replace
/// `window.fetch`) on the open page, then loads a fresh instance of the classic script there and
/// starts it, with one quick retry: answers what `start()` resolved with as `{status, error, user}`
/// (the error's code and the user's id, or null), or `{rejected}` should it have rejected.
async fn start_a_fresh_script(browser: &Browser, setup: &str) -> Value {
    let script = format!(
        "const done = arguments[arguments.length - 1];
         (async () => {{
           {setup}
           try {{
             delete window.MeetEasyLogin;
             await new Promise((loaded, failed) => {{
               const script = document.createElement('script');
               script.src = '/h5/login-ticket.js?fresh';
               script.onload = loaded;
               script.onerror = failed;
               document.head.append(script);
             }});
             const outcome = await window.MeetEasyLogin.start({{ retries: 1, retryDelayMs: 10 }});
             done({{
               status: outcome.status,
               error: outcome.error ? outcome.error.error : null,
               user: outcome.user ? outcome.user.id : null,
             }});
           }} catch (error) {{
             done({{ rejected: String(error) }});
           }}
         }})();"
    );
    browser
        .client()
        .execute_async(&script, Vec::new())
        .await
        .expect("the script answers")
}

/// Puts `ticket` into the demo page's address bar, for a fresh script to find (see
/// [`start_a_fresh_script`]).
fn ticket_in_the_address_bar(ticket: &str) -> String {
    format!("history.replaceState(null, '', '/h5/demo?login_ticket={ticket}&_t=1');")
}

/// A success that is no JSON object (a catch-all answering `/auth/me` with its HTML page, or with an
/// empty 200, on a misrouted proxy) is an unexpected answer: `start()` resolves with the prompt
/// saying so, as documented, rather than rejecting and leaving the page on "Checking your login…".
#[tokio::test]
async fn a_success_that_is_not_json_is_an_unexpected_answer() {
    let (_server, browser, demo) = demo_in_chromium().await;
    browser.client().goto(&demo).await.expect("opens");
    wait_for_demo_state(&browser, "prompt").await;
    // A fresh instance of the script, whose calls all meet such a page, on a page holding a session.
    for body in ["'<!doctype html><p>Welcome</p>'", "''"] {
        let setup = format!(
            "localStorage.setItem('{SESSION_KEY}', JSON.stringify(
               {{ token: 'a.b.c', expiresAt: Math.floor(Date.now() / 1000) + 600, user: 'u1' }}));
             window.fetch = async () => new Response({body},
               {{ status: 200, headers: {{ 'Content-Type': 'text/html' }} }});"
        );
        assert_eq!(
            start_a_fresh_script(&browser, &setup).await,
            json!({"status": "prompt", "error": "unexpected_response", "user": null}),
            "{body}"
        );
    }
    browser.shutdown().await.expect("Chromium stops");
}

/// A link of the page's own user, minted with the page's session, while the server cannot say whose
/// that session is (`GET /auth/me` answers 503 however often it is asked): the page knows, since it
/// stored the user with the session, so it asks nothing, keeps its session and logs the link's out.
/// Asking would be harmful: a tap on Switch logs the stored session out, and the link's with it, since
/// that one derives from it, and the page would show a login whose token is dead.
#[tokio::test]
async fn a_link_of_the_page_s_own_user_asks_nothing_when_the_server_cannot_say_whose_the_session_is()
 {
    let (server, browser, demo) = demo_in_chromium().await;
    let ann = server.dev_login("ann").await;
    assert_eq!(open_with_ticket(&browser, &demo, &ann).await, "logged-in");
    let ann_token = stored_token(&browser).await.expect("Ann's session is kept");
    let minted = server
        .post_empty("/auth/login-ticket", Some(&ann_token))
        .await;
    assert_eq!(minted.status, 201, "{minted:?}");
    let ticket = minted.body["login_ticket"].as_str().expect("a ticket");

    let logouts_before = logouts(&server);
    let me_unavailable = "const serverFetch = window.fetch.bind(window);
         window.fetch = (url, init) => new URL(url).pathname === '/auth/me'
           ? Promise.resolve(new Response(
               JSON.stringify({ error: 'store_unavailable', message: 'The store cannot be reached.' }),
               { status: 503, headers: { 'Content-Type': 'application/json' } }))
           : serverFetch(url, init);";
    let setup = ticket_in_the_address_bar(ticket) + me_unavailable;
    assert_eq!(
        start_a_fresh_script(&browser, &setup).await,
        json!({"status": "logged_in", "error": null, "user": ann.user.id.as_str()})
    );
    kept_with_the_link_logged_out(&server, &browser, &ann_token, logouts_before).await;

    browser.shutdown().await.expect("Chromium stops");
}

/// At its connection limit the server refuses a request with `429 too_many_requests` and
/// `Retry-After: 1` before handling anything: the script waits that second and asks again, so the
/// ticket, already out of the address bar, still logs the page in. A longer wait (an address over a
/// rate limit) is the user's to know of: the page says so rather than wait.
#[tokio::test]
async fn a_brief_refusal_of_the_exchange_is_waited_out_and_the_ticket_still_logs_in() {
    let (server, browser, demo) = demo_in_chromium().await;
    browser.client().goto(&demo).await.expect("opens");
    wait_for_demo_state(&browser, "prompt").await;
    for (retry_after, name) in [(1, "gus"), (60, "hal")] {
        let login = server.dev_login(name).await;
        // Each on a page holding no session, which a ticket it cannot exchange would leave standing.
        let refused_once = format!(
            "localStorage.removeItem('{SESSION_KEY}');
             const serverFetch = window.fetch.bind(window);
             let exchanges = 0;
             window.fetch = (url, init) =>
               new URL(url).pathname === '/auth/login-ticket/exchange' && (exchanges += 1) === 1
                 ? Promise.resolve(new Response(
                     JSON.stringify({{ error: 'too_many_requests', message: 'retry shortly' }}),
                     {{ status: 429, headers: {{ 'Content-Type': 'application/json', 'Retry-After': '{retry_after}' }} }}))
                 : serverFetch(url, init);"
        );
        let setup = ticket_in_the_address_bar(&login.login_ticket) + &refused_once;
        let outcome = start_a_fresh_script(&browser, &setup).await;
        if retry_after == 1 {
            let logged_in =
                json!({"status": "logged_in", "error": null, "user": login.user.id.as_str()});
            assert_eq!(outcome, logged_in);
        } else {
            let told = json!({"status": "prompt", "error": "too_many_requests", "user": null});
            assert_eq!(outcome, told);
        }
    }
    browser.shutdown().await.expect("Chromium stops");
}

/// The ticket's exchange reached the server, which spent the ticket, but its answer was lost (the
/// connection dropped): the script's retry meets `ticket_used`, caused by its own first attempt. The
/// page must not say the link was already used (as if in another tab) but that it may have worked and
/// is to be opened again.
#[tokio::test]
async fn a_ticket_spent_by_an_exchange_whose_answer_was_lost_is_not_called_already_used() {
    let (server, browser, demo) = demo_in_chromium().await;
    browser.client().goto(&demo).await.expect("opens");
    wait_for_demo_state(&browser, "prompt").await;
    let login = server.dev_login("erin").await;

    let answer_lost = "const serverFetch = window.fetch.bind(window);
         let exchanges = 0;
         window.fetch = async (url, init) => {
           const answer = await serverFetch(url, init);
           if (new URL(url).pathname === '/auth/login-ticket/exchange' && (exchanges += 1) === 1) {
             throw new TypeError('the connection dropped before the answer arrived');
           }
           return answer;
         };";
    let setup = ticket_in_the_address_bar(&login.login_ticket) + answer_lost;
    assert_eq!(
        start_a_fresh_script(&browser, &setup).await,
        json!({"status": "prompt", "error": "exchange_outcome_unknown", "user": null})
    );
    assert_eq!(stored_token(&browser).await, None);
    // The first attempt did spend it.
    server
        .post(
            "/auth/login-ticket/exchange",
            json!({"login_ticket": login.login_ticket}),
            None,
        )
        .await
        .assert_error(401, "ticket_used");

    browser.shutdown().await.expect("Chromium stops");
}

#[tokio::test]
async fn password_login_survives_a_reload_and_logout_revokes_it() {
    let server = TestServer::start_dev().await;
    let user = server
        .add_password_user(
            "ada@example.com",
            "Ada Lovelace",
            "correct horse battery",
            &[],
        )
        .await;
    let browser = Browser::start().await.expect("Chromium starts");

    browser
        .client()
        .goto(&server.url("/h5/demo"))
        .await
        .expect("opens");
    assert_eq!(demo_state(&browser).await, "prompt");
    assert_eq!(
        prompt_reason(&browser).await,
        Value::Null,
        "a first visit explains nothing"
    );

    fill(&browser, "#login", "ada@example.com").await;
    fill(&browser, "#password", "wrong horse").await;
    click(&browser, "#login-submit").await;
    let refused = browser
        .wait_for(
            "the form's error",
            "const error = document.getElementById('form-error'); return error.hidden ? null : error.dataset.error;",
            PAGE_TIMEOUT,
        )
        .await
        .expect("an error shows");
    assert_eq!(refused, "invalid_credentials");
    assert!(!text_of(&browser, "#form-error").await.is_empty());

    fill(&browser, "#password", "correct horse battery").await;
    click(&browser, "#login-submit").await;
    wait_for_demo_state(&browser, "logged-in").await;
    assert_eq!(text_of(&browser, "#user-name").await, user.display_name);
    assert_eq!(text_of(&browser, "#user-roles").await, "none");
    let token = stored_token(&browser).await.expect("the JWT is kept");

    browser.client().refresh().await.expect("reloaded");
    assert_eq!(
        demo_state(&browser).await,
        "logged-in",
        "the session survives a reload"
    );

    click(&browser, "#logout").await;
    wait_for_demo_state(&browser, "prompt").await;
    assert_eq!(stored_token(&browser).await, None);
    server
        .post("/auth/jwt/verify", json!({"token": token}), None)
        .await
        .assert_error(401, "token_revoked");
    browser.client().refresh().await.expect("reloaded");
    assert_eq!(
        demo_state(&browser).await,
        "prompt",
        "logged out stays logged out"
    );

    browser.shutdown().await.expect("Chromium stops");
}

/// The demo page's state once it has become `wanted` (after a click, the old state is still showing).
/// Waits (up to [`PAGE_TIMEOUT`]) for the demo page to reach the state `wanted`.
async fn wait_for_demo_state(browser: &Browser, wanted: &str) {
    let script = format!(
        "return document.getElementById('page')?.dataset.state === '{wanted}' ? true : null;"
    );
    browser
        .wait_for(
            &format!("the page to become {wanted}"),
            &script,
            PAGE_TIMEOUT,
        )
        .await
        .expect("the page changes state");
}

/// How a conference site includes the auth server's script.
#[derive(Clone, Copy)]
enum Include {
    /// `<script src=".../h5/login-ticket.js">`, which publishes `window.MeetEasyLogin`.
    ClassicScript,
    /// `import MeetEasyLogin from ".../h5/login-ticket.mjs"`: a cross-origin module, fetched in CORS
    /// mode, so only a listed origin can load it at all.
    Module,
}

/// A conference site on its own loopback origin that uses the auth server's script.
async fn conference_site(listener: TcpListener, auth_base_url: String, include: Include) {
    let (head, import) = match include {
        Include::ClassicScript => (
            format!(
                r#"<script src="{auth_base_url}/h5/login-ticket.js"></script>
<script src="/site.js"></script>"#
            ),
            String::new(),
        ),
        Include::Module => (
            r#"<script type="module" src="/site.js"></script>"#.to_owned(),
            format!(r#"import MeetEasyLogin from "{auth_base_url}/h5/login-ticket.mjs";"#),
        ),
    };
    let page = format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Conference</title>
{head}
</head><body><p id="result">loading</p></body></html>"#
    );
    let site_script = format!(
        r#"{import}
MeetEasyLogin.start({{ retries: 1, retryDelayMs: 50 }}).then(function (outcome) {{
  var result = document.getElementById("result");
  result.dataset.status = outcome.status;
  result.dataset.error = outcome.error ? outcome.error.error : "";
  result.textContent = outcome.status === "logged_in" ? "Welcome " + outcome.user.display_name : "Please log in";
}});
"#
    );
    let site = Router::new()
        .route("/", get(move || async move { Html(page) }))
        .route(
            "/site.js",
            get(move || async move { ([("content-type", "text/javascript")], site_script) }),
        );
    axum::serve(listener, site)
        .await
        .expect("the conference site serves");
}

/// What the conference page shows once the script has settled: (status, error code, text).
async fn site_result(browser: &Browser) -> (String, String, String) {
    let result = browser
        .wait_for(
            "the conference page to settle",
            "const result = document.getElementById('result'); \
             return result?.dataset.status ? [result.dataset.status, result.dataset.error, result.textContent] : null;",
            PAGE_TIMEOUT,
        )
        .await
        .expect("the conference page settles");
    let field = |index: usize| result[index].as_str().expect("a string").to_owned();
    (field(0), field(1), field(2))
}

/// Opens `site_origin` with `login`'s ticket and checks the site logged in with it, leaving no
/// ticket in the address bar.
async fn opens_logged_in(browser: &Browser, site_origin: &str, login: &WeChatLoginResponse) {
    browser
        .client()
        .goto(&ticket_url(site_origin, login))
        .await
        .expect("opens");
    let (status, error, text) = site_result(browser).await;
    assert_eq!(
        (status.as_str(), error.as_str()),
        ("logged_in", ""),
        "{text}"
    );
    assert_eq!(text, format!("Welcome {}", login.user.display_name));
    assert_no_ticket_in(&current_url(browser).await);
}

#[tokio::test]
async fn a_conference_site_on_a_listed_origin_logs_in_and_an_unlisted_one_cannot() {
    let allowed = TcpListener::bind(("127.0.0.1", 0)).await.expect("a port");
    let denied = TcpListener::bind(("127.0.0.1", 0)).await.expect("a port");
    let allowed_origin = format!("http://{}", allowed.local_addr().expect("bound"));
    let denied_origin = format!("http://{}", denied.local_addr().expect("bound"));
    let listed = allowed_origin.clone();
    let server = TestServer::start_with(move |settings| settings.h5_origins = vec![listed]).await;
    let allowed_site = tokio::spawn(conference_site(
        allowed,
        server.base_url.clone(),
        Include::ClassicScript,
    ));
    let denied_site = tokio::spawn(conference_site(
        denied,
        server.base_url.clone(),
        Include::ClassicScript,
    ));
    let browser = Browser::start().await.expect("Chromium starts");

    let frank = server.dev_login("frank").await;
    opens_logged_in(&browser, &allowed_origin, &frank).await;
    // The session is the site's own (its origin's storage) and resumes there over CORS with a Bearer.
    browser.client().refresh().await.expect("reloaded");
    assert_eq!(site_result(&browser).await.0, "logged_in");

    let grace = server.dev_login("grace").await;
    browser
        .client()
        .goto(&ticket_url(&denied_origin, &grace))
        .await
        .expect("opens");
    let (status, error, text) = site_result(&browser).await;
    assert_eq!(
        (status.as_str(), error.as_str()),
        ("prompt", "network_error"),
        "{text}"
    );
    assert_eq!(text, "Please log in");
    assert_no_ticket_in(&current_url(&browser).await);
    // CORS stopped the exchange at the preflight: the ticket never reached the server.
    let unspent = server
        .post(
            "/auth/login-ticket/exchange",
            json!({"login_ticket": grace.login_ticket}),
            None,
        )
        .await;
    assert_eq!(unspent.status, 200, "{unspent:?}");

    browser.shutdown().await.expect("Chromium stops");
    allowed_site.abort();
    denied_site.abort();
}

#[tokio::test]
async fn a_listed_conference_site_can_import_the_es_module_from_the_auth_server() {
    let site = TcpListener::bind(("127.0.0.1", 0)).await.expect("a port");
    let site_origin = format!("http://{}", site.local_addr().expect("bound"));
    let listed = site_origin.clone();
    let server = TestServer::start_with(move |settings| settings.h5_origins = vec![listed]).await;
    let site = tokio::spawn(conference_site(
        site,
        server.base_url.clone(),
        Include::Module,
    ));
    let browser = Browser::start().await.expect("Chromium starts");

    let heidi = server.dev_login("heidi").await;
    opens_logged_in(&browser, &site_origin, &heidi).await;

    browser.shutdown().await.expect("Chromium stops");
    site.abort();
}

/// Opens the scan page of `scene` and scans it as dev user `name`.
async fn simulate_scan(
    browser: &Browser,
    server: &TestServer,
    scene: &CreateSceneResponse,
    name: &str,
) {
    browser
        .client()
        .goto(&server.url(&format!("/m/scan/{}", scene.scene)))
        .await
        .expect("opens");
    fill(browser, "#dev-name", name).await;
    click(browser, "#scan").await;
    browser
        .wait_for(
            "the confirm screen",
            "return document.getElementById('simulator').dataset.state === 'confirm';",
            PAGE_TIMEOUT,
        )
        .await
        .expect("the confirm screen shows");
}

async fn simulator_message(browser: &Browser, css: &str, attribute: &str) -> String {
    let script = format!(
        "const message = document.querySelector('{css}'); return message.hidden ? null : message.dataset.{attribute};"
    );
    let value = browser
        .wait_for(&format!("{css} to show"), &script, PAGE_TIMEOUT)
        .await;
    value
        .expect("a message shows")
        .as_str()
        .expect("a string")
        .to_owned()
}

#[tokio::test]
async fn the_dev_scan_page_simulates_the_phone() {
    let server = TestServer::start_dev().await;
    let browser = Browser::start().await.expect("Chromium starts");

    let confirmed = create_scene(&server).await;
    simulate_scan(&browser, &server, &confirmed, "alice").await;
    assert_eq!(text_of(&browser, "#console-device").await, "Front desk");
    assert_eq!(text_of(&browser, "#console-ip").await, "127.0.0.1");
    assert!(!text_of(&browser, "#console-time").await.is_empty());
    click(&browser, "#confirm-login").await;
    assert_eq!(
        simulator_message(&browser, "#outcome", "outcome").await,
        "confirmed"
    );
    let islogin = format!("/auth/scenes/{}/islogin?wait=0", confirmed.scene);
    let console = server.get(&islogin, Some(&confirmed.poll_token)).await;
    assert_eq!(console.body["status"], "confirmed", "{console:?}");
    assert_eq!(console.body["user"]["display_name"], "alice");

    let declined = create_scene(&server).await;
    simulate_scan(&browser, &server, &declined, "alice").await;
    click(&browser, "#decline-login").await;
    assert_eq!(
        simulator_message(&browser, "#outcome", "outcome").await,
        "declined"
    );
    let islogin = format!("/auth/scenes/{}/islogin?wait=0", declined.scene);
    server
        .get(&islogin, Some(&declined.poll_token))
        .await
        .assert_error(403, "access_denied");

    let by_guest = create_scene(&server).await;
    simulate_scan(&browser, &server, &by_guest, "guest-zoe").await;
    click(&browser, "#confirm-login").await;
    assert_eq!(
        simulator_message(&browser, "#scan-error", "error").await,
        "not_organizer"
    );

    // A second phone on a scene someone already scanned.
    let claimed = create_scene(&server).await;
    simulate_scan(&browser, &server, &claimed, "alice").await;
    browser
        .client()
        .goto(&server.url(&format!("/m/scan/{}", claimed.scene)))
        .await
        .expect("opens");
    fill(&browser, "#dev-name", "bob").await;
    click(&browser, "#scan").await;
    assert_eq!(
        simulator_message(&browser, "#scan-error", "error").await,
        "scene_claimed"
    );

    browser.shutdown().await.expect("Chromium stops");
}
