//! The client's pure parts (how call failures map to domain errors, image sniffing), and the client
//! against stand-ins for WeChat that answer what the fake WeChat never does: oversized bodies and
//! the like. (The client against the fake WeChat is tested in `meeteasy-devtools`, where the fake
//! lives.)

use std::time::Duration;

use super::call::CallError;
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
        store_down.into_wechat_error("getwxacodeunlimit", &app),
        WeChatError::Store(_)
    ));
    let wechat_down = CallError::TimedOut(TIMEOUT);
    assert!(matches!(
        wechat_down.into_wechat_error("getwxacodeunlimit", &app),
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
    use std::convert::Infallible;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::body::{Body, Bytes};
    use axum::response::Redirect;
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use serde_json::json;

    use super::super::WeChatClient;
    use super::super::call::{IMAGE_ANSWER_LIMIT, JSON_ANSWER_LIMIT};
    use super::{TIMEOUT, app_settings};
    use crate::config::WeChatSettings;
    use crate::domain::FaultyStore;
    use crate::wechat::{WeChat, WeChatError};

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
            let mut png = vec![0x89, b'P', b'N', b'G'];
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
}
