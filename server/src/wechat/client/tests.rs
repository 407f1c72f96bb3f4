//! The client's pure parts (how call failures map to domain errors, image sniffing), and the client
//! against stand-ins for WeChat that answer what the fake WeChat never does: oversized bodies and
//! the like. (The client against the fake WeChat is tested in `meeteasy-devtools`, where the fake
//! lives.)

use std::time::Duration;

use super::call::{CallError, Endpoint};
use crate::config::{AppSettings, EnvVersion, QrMode};
use crate::store::StoreError;
use crate::wechat::WeChatError;
use meeteasy_protocol::Secret;

const TIMEOUT: Duration = Duration::from_millis(1500);

pub(super) fn app_settings() -> AppSettings {
    AppSettings {
        key: "attendee".into(),
        appid: "wxattendee0000001".into(),
        secret: Secret::new("attendee-secret-0123456789abcdef"),
        scan_page: "pages/scan/index".into(),
        invite_page: "pages/invite/index".into(),
        qr_mode: QrMode::Wxacode,
        env_version: EnvVersion::Release,
    }
}

#[test]
fn only_a_failing_token_store_is_reported_as_the_store() {
    let app = app_settings();
    let store_down = CallError::Store(StoreError::Unavailable("connection refused".into()));
    assert!(matches!(
        store_down.into_wechat_error(Endpoint::UnlimitedQrCode, &app),
        WeChatError::Store(_)
    ));
    let wechat_down = CallError::TimedOut(TIMEOUT);
    assert!(matches!(
        wechat_down.into_wechat_error(Endpoint::UnlimitedQrCode, &app),
        WeChatError::Unavailable(_)
    ));
}

mod image_sniffing {
    use std::io::Cursor;

    use image::{GrayImage, ImageFormat, Luma};

    use super::super::call::{CallError, Reply};
    use super::super::image::{QrImageError, into_png};
    use super::super::image_or_error;

    fn encoded(format: ImageFormat) -> Vec<u8> {
        let picture = GrayImage::from_fn(40, 40, |x, _| Luma([if x < 20 { 0 } else { 255 }]));
        let mut bytes = Vec::new();
        picture
            .write_to(&mut Cursor::new(&mut bytes), format)
            .unwrap();
        bytes
    }

    #[test]
    fn png_passes_through_and_jpeg_becomes_png() {
        let png = encoded(ImageFormat::Png);
        assert_eq!(into_png(png.clone()).unwrap(), png);
        let jpeg = encoded(ImageFormat::Jpeg);
        assert!(jpeg.starts_with(&[0xFF, 0xD8]));
        let converted = into_png(jpeg).unwrap();
        assert!(converted.starts_with(&[0x89, b'P', b'N', b'G']));
        let decoded = image::load_from_memory_with_format(&converted, ImageFormat::Png)
            .unwrap()
            .to_luma8();
        assert_eq!(decoded.dimensions(), (40, 40));
        assert!(decoded.get_pixel(5, 5).0[0] < 60 && decoded.get_pixel(35, 5).0[0] > 200);
        assert!(into_png(b"GIF89a....".to_vec()).is_err());
    }

    fn reply(content_type: &str, body: &[u8]) -> Reply {
        Reply {
            content_type: Some(content_type.into()),
            body: body.to_vec(),
        }
    }

    /// A JPEG a few hundred bytes long can claim a huge picture: one past the limits is refused
    /// before its pixels are allocated.
    #[test]
    fn a_jpeg_larger_than_any_code_is_not_decoded() {
        let picture = GrayImage::from_fn(2100, 8, |x, _| Luma([(x % 256) as u8]));
        let mut jpeg = Vec::new();
        picture
            .write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg)
            .unwrap();
        let refused = into_png(jpeg);
        assert!(
            matches!(
                refused,
                Err(QrImageError::Conversion(image::ImageError::Limits(_)))
            ),
            "{refused:?}"
        );
    }

    #[test]
    fn json_errors_are_found_by_label_or_by_body() {
        let error = br#"{"errcode":41030,"errmsg":"invalid page rid: 1-2-3"}"#;
        for labelled in [
            reply("application/json; encoding=utf-8", error),
            reply("image/jpeg", error),
        ] {
            assert!(matches!(
                image_or_error(labelled),
                Err(CallError::Errcode { errcode: 41030, .. })
            ));
        }
        assert!(matches!(
            image_or_error(reply("application/json", b"{}")),
            Err(CallError::Transport(_))
        ));
        let png = encoded(ImageFormat::Png);
        assert_eq!(image_or_error(reply("image/jpeg", &png)).unwrap(), png);
    }
}

/// The client against a stand-in for WeChat on loopback, answering with a router of the test's.
mod against_stand_ins {
    use std::collections::{HashMap, VecDeque};
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use axum::body::{Body, Bytes};
    use axum::extract::Query;
    use axum::response::Redirect;
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use serde_json::json;

    use super::super::WeChatClient;
    use super::super::call::{IMAGE_ANSWER_LIMIT, JSON_ANSWER_LIMIT};
    use super::super::token;
    use super::{TIMEOUT, app_settings};
    use crate::config::WeChatSettings;
    use crate::domain::FaultyStore;
    use crate::wechat::{WeChat, WeChatError};

    const PNG_MAGIC: [u8; 4] = [0x89, b'P', b'N', b'G'];

    async fn client_of(wechat: Router) -> WeChatClient {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, wechat).await });
        let settings = WeChatSettings {
            base_url,
            timeout: TIMEOUT,
        };
        WeChatClient::new(&settings, FaultyStore::new()).unwrap()
    }

    /// An access token for any app, good for two hours.
    async fn stable_token() -> Json<serde_json::Value> {
        Json(json!({"access_token": "token-1", "expires_in": 7200}))
    }

    fn unavailable_saying(error: WeChatError, words: &str) {
        assert!(
            matches!(&error, WeChatError::Unavailable(message) if message.contains(words)),
            "{error:?} does not say {words:?}"
        );
    }

    /// An answer that never ends is refused once past the limit, not read until the deadline.
    #[tokio::test]
    async fn an_endless_json_answer_is_cut_at_its_limit() {
        let endless = || async {
            let blanks = Bytes::from(vec![b' '; 8192]);
            Body::from_stream(futures_util::stream::repeat_with(move || {
                Ok::<_, Infallible>(blanks.clone())
            }))
        };
        let client = client_of(Router::new().route("/sns/jscode2session", get(endless))).await;
        let started = tokio::time::Instant::now();
        let error = client
            .code_to_session(&app_settings(), "code")
            .await
            .unwrap_err();
        unavailable_saying(
            error,
            &format!("larger than {} KiB", JSON_ANSWER_LIMIT / 1024),
        );
        assert!(
            started.elapsed() < TIMEOUT / 2,
            "took {:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn an_image_over_its_limit_is_refused() {
        let oversized = || async {
            let mut png = PNG_MAGIC.to_vec();
            png.resize(IMAGE_ANSWER_LIMIT + 1, 0);
            ([("content-type", "image/jpeg")], png)
        };
        let wechat = Router::new()
            .route("/cgi-bin/stable_token", post(stable_token))
            .route("/wxa/getwxacodeunlimit", post(oversized));
        let error = client_of(wechat)
            .await
            .unlimited_qr_code(&app_settings(), "pages/scan/index", "scene")
            .await
            .unwrap_err();
        unavailable_saying(
            error,
            &format!("larger than {} KiB", IMAGE_ANSWER_LIMIT / 1024),
        );
    }

    /// A redirect is not followed: the request carries the AppSecret and the login code.
    #[tokio::test]
    async fn a_redirect_is_an_error_and_not_followed() {
        let followed = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&followed);
        let elsewhere = move || async move {
            counted.fetch_add(1, Ordering::Relaxed);
            Json(json!({"openid": "openid-alice"}))
        };
        let redirect = || async { Redirect::temporary("/elsewhere") };
        let wechat = Router::new()
            .route("/sns/jscode2session", get(redirect))
            .route("/elsewhere", get(elsewhere));
        let error = client_of(wechat)
            .await
            .code_to_session(&app_settings(), "code")
            .await
            .unwrap_err();
        unavailable_saying(error, "redirect");
        assert_eq!(followed.load(Ordering::Relaxed), 0);
    }

    /// A WeChat whose `stable_token` hands out token-1 until a forced refresh (noted in `forced`,
    /// one entry per fetch) replaces it with token-2, and whose getwxacodeunlimit refuses token-1
    /// as stale.
    fn wechat_handing_back_a_refused_token(forced: &Arc<Mutex<Vec<bool>>>) -> Router {
        let asked = Arc::clone(forced);
        let stable_token = move |Json(request): Json<serde_json::Value>| async move {
            let force_refresh = request["force_refresh"] == json!(true);
            asked.lock().unwrap().push(force_refresh);
            let token = if force_refresh { "token-2" } else { "token-1" };
            Json(json!({"access_token": token, "expires_in": 7200}))
        };
        let qr_code = |Query(query): Query<HashMap<String, String>>| async move {
            match query.get("access_token").map(String::as_str) {
                Some("token-2") => ([("content-type", "image/jpeg")], PNG_MAGIC.to_vec()),
                _refused => (
                    [("content-type", "application/json")],
                    br#"{"errcode":40001,"errmsg":"invalid credential"}"#.to_vec(),
                ),
            }
        };
        Router::new()
            .route("/cgi-bin/stable_token", post(stable_token))
            .route("/wxa/getwxacodeunlimit", post(qr_code))
    }

    /// WeChat refuses the cached token, and `stable_token` hands the same one back (as another
    /// instance's cache or a plain refresh may): a forced refresh gets a new one, and the call
    /// is retried with it rather than with the token refused.
    #[tokio::test]
    async fn a_refused_token_handed_back_is_replaced_by_a_forced_refresh() {
        let forced = Arc::new(Mutex::new(Vec::new()));
        let png = client_of(wechat_handing_back_a_refused_token(&forced))
            .await
            .unlimited_qr_code(&app_settings(), "pages/scan/index", "scene")
            .await
            .unwrap();
        assert_eq!(png, PNG_MAGIC);
        assert_eq!(
            *forced.lock().unwrap(),
            [false, false, true],
            "a fetch, a plain refresh, a forced one"
        );
    }

    /// Forced refreshes are few (20 a day): calls refused at once force one between them.
    #[tokio::test]
    async fn calls_refused_together_force_one_refresh() {
        let forced = Arc::new(Mutex::new(Vec::new()));
        let client = client_of(wechat_handing_back_a_refused_token(&forced)).await;
        let app = app_settings();
        let calls = (0..20).map(|n| {
            let (client, app) = (&client, &app);
            async move {
                client
                    .unlimited_qr_code(app, "pages/scan/index", &format!("scene{n}"))
                    .await
            }
        });
        let answers = futures_util::future::join_all(calls).await;
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
        let forced = forced.lock().unwrap();
        assert_eq!(
            forced.iter().filter(|&&force| force).count(),
            1,
            "{forced:?}"
        );
    }

    /// WeChat refuses every token, though `stable_token` hands each out as live, and a forced
    /// refresh makes a new one it refuses too: forcing does not cure this. Each call forces one
    /// refresh until the app's daily budget is spent; then a call fails as WeChat's, saying why,
    /// rather than spend the rest of the 20 a day WeChat allows.
    #[tokio::test]
    async fn forced_refreshes_stop_once_the_day_s_budget_is_spent() {
        let forced = Arc::new(Mutex::new(Vec::new()));
        let asked = Arc::clone(&forced);
        let generation = Arc::new(AtomicUsize::new(0));
        let stable_token = move |Json(request): Json<serde_json::Value>| async move {
            let force_refresh = request["force_refresh"] == json!(true);
            asked.lock().unwrap().push(force_refresh);
            let current = if force_refresh {
                generation.fetch_add(1, Ordering::Relaxed) + 1
            } else {
                generation.load(Ordering::Relaxed)
            };
            Json(json!({"access_token": format!("token-{current}"), "expires_in": 7200}))
        };
        let refused = || async {
            (
                [("content-type", "application/json")],
                br#"{"errcode":40001,"errmsg":"invalid credential"}"#.to_vec(),
            )
        };
        let wechat = Router::new()
            .route("/cgi-bin/stable_token", post(stable_token))
            .route("/wxa/getwxacodeunlimit", post(refused));
        let client = client_of(wechat).await;
        let app = app_settings();
        let forced_count = || forced.lock().unwrap().iter().filter(|&&f| f).count();
        for call in 1..=token::FORCED_REFRESHES {
            let answer = client.unlimited_qr_code(&app, "pages/scan/index", "scene");
            unavailable_saying(answer.await.unwrap_err(), "40001");
            assert_eq!(forced_count(), usize::try_from(call).unwrap());
        }

        let spent = client.unlimited_qr_code(&app, "pages/scan/index", "scene");
        unavailable_saying(spent.await.unwrap_err(), "forced 10 times today already");
        assert_eq!(forced_count(), 10, "no forced refresh past the budget");
    }

    /// A retry after a system error that finds the code used is WeChat's failure (the try it
    /// called a system error may have used the code), not a bad code that counts against the
    /// sender's address; a code used at the first try still is.
    #[tokio::test]
    async fn a_code_used_before_its_retry_is_not_a_bad_code() {
        let tries = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&tries);
        let code2session = move || async move {
            let errcode = match counted.fetch_add(1, Ordering::Relaxed) {
                0 => -1,
                _later => 40163,
            };
            Json(json!({"errcode": errcode, "errmsg": "rid: 1-2-3"}))
        };
        let client = client_of(Router::new().route("/sns/jscode2session", get(code2session))).await;
        let error = client
            .code_to_session(&app_settings(), "code")
            .await
            .unwrap_err();
        unavailable_saying(error, "40163");
        assert_eq!(tries.load(Ordering::Relaxed), 2);

        let error = client
            .code_to_session(&app_settings(), "code")
            .await
            .unwrap_err();
        assert_eq!(error, WeChatError::CodeInvalid(40163));
    }

    /// What the code under test logs at error level, on this thread (a current-thread runtime
    /// runs the stand-ins and the client's tasks here too).
    #[derive(Clone, Default)]
    struct ErrorLog(Arc<Mutex<Vec<u8>>>);

    impl ErrorLog {
        fn capture(&self) -> tracing::subscriber::DefaultGuard {
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::ERROR)
                .with_ansi(false)
                .with_writer(self.clone())
                .finish();
            tracing::subscriber::set_default(subscriber)
        }

        fn lines(&self) -> Vec<String> {
            String::from_utf8_lossy(&self.0.lock().unwrap())
                .lines()
                .map(str::to_owned)
                .collect()
        }
    }

    impl std::io::Write for ErrorLog {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl tracing_subscriber::fmt::MakeWriter<'_> for ErrorLog {
        type Writer = Self;

        fn make_writer(&self) -> Self {
            self.clone()
        }
    }

    /// A wrong AppSecret is logged at error level with what to fix, once, and again only when it
    /// comes back after the app worked; a bad code (the user's doing) is not logged so.
    #[tokio::test]
    async fn a_misconfiguration_is_logged_once_with_what_to_fix() {
        let answers = Arc::new(Mutex::new(VecDeque::from([
            json!({"errcode": 40125, "errmsg": "invalid appsecret rid: 1-2-3"}),
            json!({"errcode": 40125, "errmsg": "invalid appsecret rid: 1-2-4"}),
            json!({"errcode": 40029, "errmsg": "invalid code rid: 1-2-5"}),
            json!({"openid": "openid-alice"}),
            json!({"errcode": 40125, "errmsg": "invalid appsecret rid: 1-2-6"}),
        ])));
        let code2session = move || async move { Json(answers.lock().unwrap().pop_front()) };
        let client = client_of(Router::new().route("/sns/jscode2session", get(code2session))).await;
        let log = ErrorLog::default();
        let _capturing = log.capture();
        let app = app_settings();
        for _answer in 0..5 {
            let _outcome = client.code_to_session(&app, "code").await;
        }
        let lines = log.lines();
        assert_eq!(lines.len(), 2, "{lines:#?}");
        for line in &lines {
            assert!(
                line.contains("ERROR")
                    && line.contains("AppSecret is wrong")
                    && line.contains("errcode=40125")
                    && line.contains("app=attendee"),
                "{line}"
            );
        }
    }

    /// 40001 is a wrong AppSecret from the token call, and a stale token (not the operator's
    /// doing) from the others.
    #[tokio::test]
    async fn errcode_40001_is_a_misconfiguration_only_from_the_token_call() {
        let wrong_secret =
            || async { Json(json!({"errcode": 40001, "errmsg": "invalid credential"})) };
        let log = ErrorLog::default();
        let _capturing = log.capture();
        let _refused = client_of(Router::new().route("/cgi-bin/stable_token", post(wrong_secret)))
            .await
            .unlimited_qr_code(&app_settings(), "pages/scan/index", "scene")
            .await
            .unwrap_err();
        let lines = log.lines();
        assert!(
            lines.len() == 1 && lines[0].contains("api=\"stable_token\" errcode=40001"),
            "{lines:#?}"
        );

        let stale = || async { Json(json!({"errcode": 40001, "errmsg": "invalid credential"})) };
        let wechat = Router::new()
            .route("/cgi-bin/stable_token", post(stable_token))
            .route("/wxa/getwxacodeunlimit", post(stale));
        let _refused = client_of(wechat)
            .await
            .unlimited_qr_code(&app_settings(), "pages/scan/index", "scene")
            .await
            .unwrap_err();
        assert_eq!(log.lines().len(), 1, "{:#?}", log.lines());
    }
}
