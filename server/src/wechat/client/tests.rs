//! The client's pure parts: how call failures map to domain errors, and image sniffing. (The client
//! against the fake WeChat is tested in `meeteasy-devtools`, where the fake lives.)

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
    use super::super::image::into_png;
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
