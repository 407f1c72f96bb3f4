//! Standard QR codes as PNG bytes: the `url`-mode scan code, and the fake WeChat's stand-in for a
//! mini program code.

use image::{GrayImage, ImageFormat, Luma};
use qrcode::{Color, QrCode};

/// Pixels a QR module takes, and the white border (in modules) scanners need around a code.
const MODULE_PIXELS: u32 = 8;
const QUIET_ZONE: u32 = 4;

#[derive(Debug, thiserror::Error)]
pub enum QrError {
    #[error("the text is too long for a QR code: {0}")]
    TooLong(#[from] qrcode::types::QrError),
    #[error("cannot encode the QR as PNG: {0}")]
    Png(#[from] image::ImageError),
}

/// Renders `content` as a black-on-white PNG with a quiet zone, about 8 pixels a module.
pub fn png(content: &str) -> Result<Vec<u8>, QrError> {
    let code = QrCode::new(content.as_bytes())?;
    let modules = code.to_colors();
    // A QR is at most 177 modules wide, so this conversion cannot truncate.
    let width = u32::try_from(code.width()).unwrap_or(u32::MAX);
    let side = (width + 2 * QUIET_ZONE) * MODULE_PIXELS;
    let image = GrayImage::from_fn(side, side, |x, y| {
        let (column, row) = (x / MODULE_PIXELS, y / MODULE_PIXELS);
        let inside = (QUIET_ZONE..QUIET_ZONE + width).contains(&column) && (QUIET_ZONE..QUIET_ZONE + width).contains(&row);
        let dark = inside && modules[((row - QUIET_ZONE) * width + (column - QUIET_ZONE)) as usize] == Color::Dark;
        Luma([if dark { 0 } else { 255 }])
    });
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, ImageFormat::Png)?;
    Ok(bytes.into_inner())
}
