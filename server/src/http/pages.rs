//! The browser-side pieces the auth server serves: the login-ticket script conference H5 pages include
//! (a classic-script and an ES-module build of one source), the `/h5/demo` conference page that uses it, and
//! the `/m/scan/{scene}` page a `url`-mode QR opens and the `/m/invite/{code}` page a `url`-mode invite QR opens
//! (with [`PageAddOns`], dev mode adds a phone simulator to both).
//!
//! Every asset is embedded, so the binary is self-contained. HTML is never cached and runs under a strict
//! CSP with no inline script or style; scripts and CSS are revalidated on every use (`no-cache` + `ETag`),
//! because conference sites include the script by a fixed URL and a fix must reach them at once.

use crate::domain::is_scene_shaped;
use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::rejection::PathRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};

/// The shared source defines `createMeetEasyLogin(scriptUrl, scriptOptions)`; each build only says how it
/// learns its own URL and options and how it publishes the API. A module cannot read `currentScript` and a
/// classic script cannot mention `import.meta`, which is why the two wrappers exist at all.
const LOGIN_TICKET_CLASSIC: &str = concat!(
    "(function () {\n",
    include_str!("../../assets/h5/login-ticket-core.js"),
    "var script = document.currentScript;\n",
    "window.MeetEasyLogin = createMeetEasyLogin(script ? script.src : \"\", script ? script.dataset : {});\n",
    "})();\n",
);

const LOGIN_TICKET_MODULE: &str = concat!(
    include_str!("../../assets/h5/login-ticket-core.js"),
    "const MeetEasyLogin = createMeetEasyLogin(import.meta.url, {});\n",
    "export default MeetEasyLogin;\n",
    "export const { start, loginWithPassword, logout, token, inMiniProgram, reauthenticateInMiniProgram, \
     MeetEasyLoginError } = MeetEasyLogin;\n",
);

const DEMO_HTML: &str = include_str!("../../assets/h5/demo.html");
const DEMO_JS: &str = include_str!("../../assets/h5/demo.js");
/// Chooses zh-CN or English for every page here, from the browser's languages.
const I18N_JS: &str = include_str!("../../assets/h5/i18n.js");
const STYLE_CSS: &str = include_str!("../../assets/h5/style.css");
const SCAN_HTML: &str = include_str!("../../assets/m/scan.html");
const NOT_FOUND_HTML: &str = include_str!("../../assets/m/not-found.html");
const INVITE_HTML: &str = include_str!("../../assets/m/invite.html");
const INVITE_JS: &str = include_str!("../../assets/m/invite.js");

/// Where an add-on (dev mode's phone simulator) goes in the scan page.
const SCAN_PAGE_SLOT: &str = "<!-- dev-simulator -->";

const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// What a build adds to the server's own pages. The product adds nothing; dev mode
/// (`meeteasy-devtools`) adds its phone simulator, so no simulator code is in the product.
#[derive(Debug, Clone, Default)]
pub struct PageAddOns {
    /// HTML put into the scan page.
    pub scan_page: &'static str,
    /// HTML put into the invite page.
    pub invite_page: &'static str,
    /// Scripts served at these paths, revalidated like the product's own.
    pub scripts: Vec<(&'static str, &'static str)>,
}

/// The pages and scripts, for the app to merge, with `add_ons` in them.
pub fn routes<S: Clone + Send + Sync + 'static>(add_ons: &PageAddOns) -> Router<S> {
    let scan_page = Bytes::from(SCAN_HTML.replace(SCAN_PAGE_SLOT, add_ons.scan_page));
    let invite_page = Bytes::from(INVITE_HTML.replace(SCAN_PAGE_SLOT, add_ons.invite_page));
    let router = Router::new()
        .route(
            "/h5/login-ticket.js",
            asset(LOGIN_TICKET_CLASSIC, JAVASCRIPT),
        )
        .route(
            "/h5/login-ticket.mjs",
            asset(LOGIN_TICKET_MODULE, JAVASCRIPT),
        )
        .route("/h5/demo.js", asset(DEMO_JS, JAVASCRIPT))
        .route("/h5/i18n.js", asset(I18N_JS, JAVASCRIPT))
        .route("/m/invite.js", asset(INVITE_JS, JAVASCRIPT))
        // Invite codes have a scene's shape (32 of [0-9A-Za-z]).
        .route(
            "/m/invite/{code}",
            get(move |code: ScenePath| if_scene_shaped(code, invite_page.clone())),
        )
        .route("/h5/style.css", asset(STYLE_CSS, CSS))
        .route(
            "/h5/demo",
            get(|| async { html(StatusCode::OK, Bytes::from_static(DEMO_HTML.as_bytes())) }),
        )
        .route(
            "/m/scan/{scene}",
            get(move |scene: ScenePath| if_scene_shaped(scene, scan_page.clone())),
        );
    add_ons
        .scripts
        .iter()
        .fold(router, |router, (path, script)| {
            router.route(path, asset(script, JAVASCRIPT))
        })
}

fn html(status: StatusCode, body: Bytes) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

fn not_found() -> Response {
    html(
        StatusCode::NOT_FOUND,
        Bytes::from_static(NOT_FOUND_HTML.as_bytes()),
    )
}

/// A path's last segment, as a handler of a page reads it.
type ScenePath = Result<Path<String>, PathRejection>;

/// `page` for a path whose last segment has a scene's shape, else the 404 page (the page's own
/// script reads the segment).
async fn if_scene_shaped(segment: ScenePath, page: Bytes) -> Response {
    match segment {
        Ok(Path(segment)) if is_scene_shaped(&segment) => html(StatusCode::OK, page),
        Ok(_) | Err(_) => not_found(),
    }
}

/// A script or stylesheet, revalidated by its content hash.
fn asset<S: Clone + Send + Sync + 'static>(
    body: &'static str,
    content_type: &'static str,
) -> MethodRouter<S> {
    let etag = entity_tag(body);
    get(move |request_headers: HeaderMap| async move {
        let headers = [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::ETAG, etag.clone()),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ];
        if matches_entity_tag(&request_headers, &etag) {
            (StatusCode::NOT_MODIFIED, headers).into_response()
        } else {
            (StatusCode::OK, headers, body).into_response()
        }
    })
}

/// A strong entity tag from the content (64-bit FNV-1a: only needs to change when the content does).
fn entity_tag(body: &str) -> HeaderValue {
    let hash = body.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    HeaderValue::from_str(&format!("\"{hash:016x}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

fn matches_entity_tag(request_headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let Some(etag) = etag.to_str().ok() else {
        return false;
    };
    request_headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|candidate| candidate.trim().trim_start_matches("W/"))
        .any(|candidate| candidate == etag || candidate == "*")
}

#[cfg(test)]
mod tests {
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    const SCENE: &str = "0123456789abcdefghijABCDEFGHIJxy";

    /// Stands in for dev mode's simulator, which lives in `meeteasy-devtools`.
    fn simulator() -> PageAddOns {
        PageAddOns {
            scan_page: r#"<div id="simulator"></div><script type="module" src="/m/scan.js"></script>"#,
            invite_page: r#"<div id="simulator"></div><script src="/m/invite-simulator.js"></script>"#,
            scripts: vec![("/m/scan.js", "export {};\n")],
        }
    }

    async fn get_page(dev: bool, uri: &str, if_none_match: Option<&str>) -> (Response, String) {
        let add_ons = if dev {
            simulator()
        } else {
            PageAddOns::default()
        };
        let mut request = Request::get(uri);
        if let Some(etag) = if_none_match {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        let response = routes::<()>(&add_ons)
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        let body = to_bytes(body, 1 << 20).await.unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        (Response::from_parts(parts, Body::empty()), text)
    }

    fn header_of(response: &Response, name: header::HeaderName) -> &str {
        response
            .headers()
            .get(&name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }

    fn assert_html_headers(response: &Response) {
        assert_eq!(
            header_of(response, header::CONTENT_TYPE),
            "text/html; charset=utf-8"
        );
        assert_eq!(header_of(response, header::CACHE_CONTROL), "no-store");
        assert_eq!(header_of(response, header::REFERRER_POLICY), "no-referrer");
        let policy = header_of(response, header::CONTENT_SECURITY_POLICY);
        assert!(policy.starts_with("default-src 'self';"), "{policy}");
        assert!(!policy.contains("unsafe"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    }

    /// The CSP forbids inline script and style, so the HTML must have none of either.
    fn assert_no_inline_code(page: &str) {
        for (index, _) in page.match_indices("<script") {
            let tag = &page[index..index + page[index..].find('>').unwrap()];
            assert!(tag.contains(" src=\""), "inline script: {tag}");
        }
        assert!(!page.contains("<style"), "inline stylesheet");
        assert!(!page.contains(" style=\""), "inline style attribute");
        assert!(!page.contains(" onclick="), "inline event handler");
    }

    #[tokio::test]
    async fn demo_page_is_never_cached_and_allows_no_inline_code() {
        let (response, page) = get_page(false, "/h5/demo", None).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_html_headers(&response);
        assert_no_inline_code(&page);
        assert!(page.contains("src=\"/h5/demo.js\""));
    }

    #[tokio::test]
    async fn scripts_are_revalidated_by_entity_tag() {
        for path in ["/h5/login-ticket.js", "/h5/login-ticket.mjs", "/h5/demo.js"] {
            let (response, script) = get_page(false, path, None).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(header_of(&response, header::CONTENT_TYPE), JAVASCRIPT);
            assert_eq!(header_of(&response, header::CACHE_CONTROL), "no-cache");
            assert_eq!(
                header_of(&response, header::X_CONTENT_TYPE_OPTIONS),
                "nosniff"
            );
            assert!(!script.is_empty());
            let etag = header_of(&response, header::ETAG).to_owned();

            let (revalidated, body) = get_page(false, path, Some(&etag)).await;
            assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED, "{path}");
            assert!(body.is_empty());
            let (stale, _) = get_page(false, path, Some("\"0000\"")).await;
            assert_eq!(stale.status(), StatusCode::OK, "{path}");
        }
    }

    #[tokio::test]
    async fn the_two_script_builds_share_one_source_and_differ_in_how_they_publish() {
        let (_, classic) = get_page(false, "/h5/login-ticket.js", None).await;
        let (_, module) = get_page(false, "/h5/login-ticket.mjs", None).await;
        let core = include_str!("../../assets/h5/login-ticket-core.js");
        assert!(classic.contains(core) && module.contains(core));
        assert!(classic.contains("window.MeetEasyLogin ="));
        assert!(!classic.contains("import.meta") && !classic.contains("\nexport "));
        assert!(module.contains("\nexport default MeetEasyLogin;"));
        let (a, _) = get_page(false, "/h5/login-ticket.js", None).await;
        let (b, _) = get_page(false, "/h5/login-ticket.mjs", None).await;
        assert_ne!(a.headers().get(header::ETAG), b.headers().get(header::ETAG));
    }

    #[tokio::test]
    async fn scan_page_in_production_only_says_to_use_wechat() {
        let (response, page) = get_page(false, &format!("/m/scan/{SCENE}"), None).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_html_headers(&response);
        assert!(page.contains("WeChat"));
        assert_no_inline_code(&page);
        assert!(
            page.contains("src=\"/h5/i18n.js\""),
            "speaks the browser's language"
        );
        assert!(
            !page.contains("/m/scan.js"),
            "no simulator outside dev mode"
        );
        let (script, _) = get_page(false, "/m/scan.js", None).await;
        assert_eq!(script.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn scan_page_takes_the_simulator_add_on_in_its_slot() {
        let (response, page) = get_page(true, &format!("/m/scan/{SCENE}"), None).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_html_headers(&response);
        assert_no_inline_code(&page);
        assert!(page.contains("id=\"simulator\""));
        assert!(page.contains("src=\"/m/scan.js\""));
        assert!(!page.contains(SCAN_PAGE_SLOT));
        let (script, _) = get_page(true, "/m/scan.js", None).await;
        assert_eq!(script.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn a_malformed_scene_gets_a_short_not_found_page() {
        let too_long = format!("{SCENE}z");
        let bad = [
            &SCENE[1..],
            too_long.as_str(),
            "0123456789abcdefghijABCDEFGHIJx-",
            "0123456789abcdefghijABCDEFGHIJx%2F",
            "%FF%FE",
            "0123456789abcdefghijABCDEFGHIJ%C3%A9",
        ];
        for scene in bad {
            let (response, page) = get_page(true, &format!("/m/scan/{scene}"), None).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{scene}");
            assert_html_headers(&response);
            assert!(page.contains("not valid"), "{scene}");
        }
    }

    #[tokio::test]
    async fn invite_page_in_production_shows_the_invite_and_says_to_use_wechat() {
        let (response, page) = get_page(false, &format!("/m/invite/{SCENE}"), None).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_html_headers(&response);
        assert_no_inline_code(&page);
        assert!(page.contains("WeChat"));
        assert!(page.contains("src=\"/m/invite.js\""));
        assert!(
            page.contains("src=\"/h5/i18n.js\""),
            "the pages' one language script"
        );
        assert!(!page.contains("simulator"), "no simulator outside dev mode");
        let (script, body) = get_page(false, "/m/invite.js", None).await;
        assert_eq!(script.status(), StatusCode::OK);
        assert!(body.contains("/auth/invites/inspect"));
        // Both languages, chosen by the browser's.
        let (_, i18n) = get_page(false, "/h5/i18n.js", None).await;
        assert!(i18n.contains("navigator.languages") && i18n.contains("加入 MeetEasy 组织者团队"));
        let (bad, _) = get_page(false, "/m/invite/short", None).await;
        assert_eq!(bad.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn invite_page_takes_the_simulator_add_on_in_its_slot() {
        let (response, page) = get_page(true, &format!("/m/invite/{SCENE}"), None).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_no_inline_code(&page);
        assert!(page.contains("id=\"simulator\""));
        assert!(!page.contains(SCAN_PAGE_SLOT));
    }
}
