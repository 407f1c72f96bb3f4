//! Reading the console's QR as a phone camera would, and finding the scene in what it encodes.

use std::path::Path;

use super::PhoneError;

/// The text of the one QR code in the image at `path`.
pub(super) fn read_qr(path: &Path) -> Result<String, PhoneError> {
    let bytes = std::fs::read(path).map_err(|source| PhoneError::ReadQr {
        path: path.to_owned(),
        source,
    })?;
    let image = image::load_from_memory(&bytes)
        .map_err(|error| PhoneError::QrUnreadable(format!("{}: {error}", path.display())))?
        .to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    let grid = grids.first().ok_or_else(|| {
        PhoneError::QrUnreadable(format!("no QR code found in {}", path.display()))
    })?;
    grid.decode()
        .map(|(_meta, content)| content)
        .map_err(|error| PhoneError::QrUnreadable(error.to_string()))
}

/// The scene in a QR's content: `<public_url>/m/scan/<scene>` (url mode) or
/// `wxacode:<page>?scene=<scene>` (what the fake WeChat's mini program codes hold).
pub(super) fn scene_in(content: &str) -> Result<String, PhoneError> {
    let scene = if let Some(wxacode) = content.strip_prefix("wxacode:") {
        wxacode.split_once('?').and_then(|(_page, query)| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix("scene="))
        })
    } else {
        content
            .split_once("/m/scan/")
            .map(|(_origin, rest)| rest.split(['?', '#', '/']).next().unwrap_or_default())
    };
    scene
        .filter(|scene| !scene.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| PhoneError::NotAScanCode(content.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::scene_in;

    #[test]
    fn scenes_are_found_in_both_qr_modes() {
        assert_eq!(
            scene_in("https://auth.example.com/m/scan/AbC123").unwrap(),
            "AbC123"
        );
        assert_eq!(
            scene_in("http://127.0.0.1:8080/m/scan/AbC123?x=1").unwrap(),
            "AbC123"
        );
        assert_eq!(
            scene_in("wxacode:pages/scan/index?scene=AbC123").unwrap(),
            "AbC123"
        );
        assert_eq!(
            scene_in("wxacode:pages/scan/index?a=1&scene=Zz9").unwrap(),
            "Zz9"
        );
        for other in [
            "https://example.com/",
            "wxacode:pages/scan/index",
            "wxacode:p?scene=",
            "hello",
        ] {
            assert!(scene_in(other).is_err(), "{other}");
        }
    }
}
