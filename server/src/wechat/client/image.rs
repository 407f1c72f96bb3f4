//! Mini program code images: WeChat labels them `image/jpeg` whatever they are, so the format is read
//! from the bytes, and everything leaves here as PNG.

use std::io::Cursor;

use image::{ImageFormat, ImageReader, Limits};

const PNG_MAGIC: &[u8] = &[0x89, b'P', b'N', b'G'];
const JPEG_MAGIC: &[u8] = &[0xFF, 0xD8];
/// The widest and tallest JPEG decoded. WeChat draws codes at most 1280 px wide (we ask for 430); a
/// few bytes of header can claim 65535 px a side, which is refused before its pixels are allocated.
const MAX_SIDE: u32 = 2048;
/// What decoding may allocate: the pixels of a `MAX_SIDE` square in RGB are 12 MiB.
const MAX_DECODE_ALLOC: u64 = 16 * 1024 * 1024;

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
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    let mut reader = ImageReader::with_format(Cursor::new(&bytes), ImageFormat::Jpeg);
    reader.limits(limits);
    let decoded = reader.decode()?;
    let mut png = Vec::new();
    decoded.write_to(&mut Cursor::new(&mut png), ImageFormat::Png)?;
    Ok(png)
}
