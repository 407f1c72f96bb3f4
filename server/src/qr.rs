//! Standard QR codes as PNG bytes (the `url`-mode scan and invite codes, the fake WeChat's stand-in
//! for a mini program code) and as text for a terminal (the operator's `invite`). One encoder for
//! all, so a phone reads them the same way.

use std::io::Cursor;

use image::{GrayImage, ImageFormat, Luma};
use qrcode::render::unicode::Dense1x2;
use qrcode::{Color, QrCode};

/// WeChat's default mini program code width: `url`-mode codes are drawn about as large as `wxacode` ones.
pub const DEFAULT_WIDTH: u32 = 430;
/// The light border, in modules, the QR standard asks for around a code so scanners find it.
const QUIET_ZONE_MODULES: u32 = 4;

#[derive(Debug, thiserror::Error)]
pub enum QrError {
    #[error("the text does not fit a QR code: {0}")]
    TooLong(#[from] qrcode::types::QrError),
    #[error("cannot encode the QR as PNG: {0}")]
    Png(#[from] image::ImageError),
}

/// Renders `content` as a black-on-white PNG with its quiet zone, at most `width` pixels wide (more
/// only when `width` leaves less than one pixel a module). Modules are whole pixels, so the code stays
/// sharp.
pub fn png(content: &str, width: u32) -> Result<Vec<u8>, QrError> {
    let code = QrCode::new(content.as_bytes())?;
    let colors = code.to_colors();
    // A QR is at most 177 modules wide, so this conversion cannot fail.
    let modules = u32::try_from(code.width()).unwrap_or(u32::MAX);
    let side_modules = modules + 2 * QUIET_ZONE_MODULES;
    let module_pixels = (width / side_modules).max(1);
    let side_pixels = side_modules * module_pixels;
    let code_area = QUIET_ZONE_MODULES..QUIET_ZONE_MODULES + modules;
    let image = GrayImage::from_fn(side_pixels, side_pixels, |x, y| {
        let (column, row) = (x / module_pixels, y / module_pixels);
        let dark = code_area.contains(&column)
            && code_area.contains(&row)
            && colors
                .get(((row - QUIET_ZONE_MODULES) * modules + column - QUIET_ZONE_MODULES) as usize)
                == Some(&Color::Dark);
        Luma([if dark { 0 } else { 255 }])
    });
    let mut png = Vec::new();
    image.write_to(&mut Cursor::new(&mut png), ImageFormat::Png)?;
    Ok(png)
}

/// Renders `content` as lines of half-block characters, two rows of modules a line, in black on
/// white whatever the terminal's colours (ANSI escapes around each line): a code drawn light on a
/// dark terminal would be inverted, which not every scanner reads.
pub fn terminal(content: &str) -> Result<String, QrError> {
    const BLACK_ON_WHITE: &str = "\x1b[30;107m";
    const RESET: &str = "\x1b[0m";
    let drawn = QrCode::new(content.as_bytes())?
        .render::<Dense1x2>()
        .quiet_zone(true)
        .build();
    Ok(drawn
        .lines()
        .map(|line| format!("{BLACK_ON_WHITE}{line}{RESET}\n"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::{DEFAULT_WIDTH, png, terminal};

    fn decoded(png: &[u8]) -> (u32, String) {
        let image = image::load_from_memory(png).unwrap().to_luma8();
        let width = image.width();
        let mut prepared = rqrr::PreparedImage::prepare(image);
        let grids = prepared.detect_grids();
        assert_eq!(grids.len(), 1, "one QR code in the image");
        (width, grids[0].decode().unwrap().1)
    }

    #[test]
    fn a_rendered_code_reads_back_at_the_asked_width() {
        let content = "http://127.0.0.1:8080/m/scan/AbCdEfGhIjKlMnOpQrStUvWxYz012345";
        for width in [DEFAULT_WIDTH, 280, 1280] {
            let png = png(content, width).unwrap();
            assert!(png.starts_with(&[0x89, b'P', b'N', b'G']));
            let (drawn, read) = decoded(&png);
            assert_eq!(read, content);
            // Whole-pixel modules: at most `width`, and never wasting a module's worth of it.
            assert!(
                drawn <= width && drawn * 10 > width * 8,
                "{drawn} px for {width}"
            );
        }
    }

    #[test]
    fn a_width_too_small_still_gives_a_readable_code() {
        let content = "wxacode:pages/scan-login/index?scene=AbC123";
        let png = png(content, 1).unwrap();
        let (drawn, read) = decoded(&png);
        assert_eq!(read, content);
        assert!(drawn > 1);
    }

    #[test]
    fn content_beyond_qr_capacity_is_an_error_not_a_panic() {
        assert!(png(&"x".repeat(8000), DEFAULT_WIDTH).is_err());
        assert!(terminal(&"x".repeat(8000)).is_err());
    }

    #[test]
    fn a_terminal_code_draws_each_module_of_the_png_one() {
        let content = "http://127.0.0.1:8080/m/invite/AbCdEfGhIjKlMnOpQrStUvWxYz012345";
        let text = terminal(content).unwrap();
        // Back from half blocks to modules: upper and lower half of each character.
        let rows: Vec<Vec<char>> = text
            .lines()
            .map(|line| {
                let line = line.trim_start_matches("\x1b[30;107m");
                line.trim_end_matches("\x1b[0m").chars().collect()
            })
            .collect();
        let side = rows[0].len();
        assert!(
            rows.iter().all(|row| row.len() == side),
            "a square of lines"
        );
        let dark = |row: usize, column: usize| {
            let cell = rows[row / 2][column];
            match (row % 2, cell) {
                (_, '█') => true,
                (0, '▀') | (1, '▄') => true,
                _other => false,
            }
        };
        let image = image::GrayImage::from_fn(side as u32 * 4, side as u32 * 4, |x, y| {
            let (column, row) = ((x / 4) as usize, (y / 4) as usize);
            let dark = row < rows.len() * 2 && dark(row, column);
            image::Luma([if dark { 0 } else { 255 }])
        });
        let mut prepared = rqrr::PreparedImage::prepare(image);
        let grids = prepared.detect_grids();
        assert_eq!(grids.len(), 1, "one QR code in the text");
        assert_eq!(grids[0].decode().unwrap().1, content);
    }
}
