//! Mini program code images: WeChat labels them `image/jpeg` whatever they are, so the format is read
//! from the bytes, and everything leaves here as PNG.

use std::io::Cursor;

use image::ImageFormat;

const PNG_MAGIC: &[u8] = &[0x89, b'P', b'N', b'G'];
const JPEG_MAGIC: &[u8] = &[0xFF, 0xD8];

#[derive(Debug, thiserror::Error)]
pub(super) enum QrImageError {
    #[error("the image is neither PNG nor JPEG (starts with {0:02x?})")]
    UnknownFormat(Vec<u8>),
    #[error("the JPEG image cannot be converted to PNG: {0}")]
    Conversion(#[from] image::ImageError),
}

/// The image as PNG bytes: PNG as it is, JPEG re-encoded.
pub(super) fn into_png(bytes: Vec<u8>) -> Result<Vec<u8>, QrImageError> {
    if bytes.starts_with(PNG_MAGIC) {
        return Ok(bytes);
    }
    if !bytes.starts_with(JPEG_MAGIC) {
        return Err(QrImageError::UnknownFormat(
            bytes.iter().take(8).copied().collect(),
        ));
    }
    let decoded = image::load_from_memory_with_format(&bytes, ImageFormat::Jpeg)?;
    let mut png = Vec::new();
    decoded.write_to(&mut Cursor::new(&mut png), ImageFormat::Png)?;
    Ok(png)
}
