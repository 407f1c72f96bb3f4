//! The fake's "mini program code": a standard QR (so a simulated phone can read it with any QR decoder)
//! drawn as PNG, the format real WeChat sends under its `image/jpeg` label.

use std::io::Cursor;

use image::{DynamicImage, GrayImage, ImageFormat, Luma};
use qrcode::{Color, QrCode};

/// Light modules around the code, as the QR standard asks.
const QUIET_ZONE_MODULES: usize = 4;

#[derive(Debug, thiserror::Error)]
pub(super) enum RenderError {
    #[error("the content does not fit a QR code: {0}")]
    Encode(#[from] qrcode::types::QrError),
    #[error("PNG encoding failed: {0}")]
    Png(#[from] image::ImageError),
}

/// PNG bytes of a QR holding `content`, about `width` pixels wide.
pub(super) fn render_png(content: &str, width: u32) -> Result<Vec<u8>, RenderError> {
    let code = QrCode::new(content.as_bytes())?;
    let modules = code.width();
    let colors = code.to_colors();
    let side_modules = modules + 2 * QUIET_ZONE_MODULES;
    let module_px = (width as usize / side_modules).max(1);
    let side_px = u32::try_from(side_modules * module_px).unwrap_or(u32::MAX);
    let image = GrayImage::from_fn(side_px, side_px, |x, y| {
        let column = (x as usize / module_px).checked_sub(QUIET_ZONE_MODULES);
        let row = (y as usize / module_px).checked_sub(QUIET_ZONE_MODULES);
        let dark = match (column, row) {
            (Some(column), Some(row)) if column < modules && row < modules => {
                colors[row * modules + column] == Color::Dark
            }
            _ => false,
        };
        Luma([if dark { 0 } else { 255 }])
    });
    let mut png = Vec::new();
    DynamicImage::ImageLuma8(image).write_to(&mut Cursor::new(&mut png), ImageFormat::Png)?;
    Ok(png)
}
