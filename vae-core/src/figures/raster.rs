//! RGBA pixel buffers: what grids and captions are drawn into, and what PNG and GIF encoding read.
//!
//! A [`Raster`] is `width * height` pixels of 8-bit RGBA, row by row from the top left. It
//! does what the figures need and no more (fill, get, put, copy onto a larger canvas, PNG in
//! and out), so the crate encodes with the `png` and `gif` codecs directly rather than through
//! a general image library, whose colour-management stack alone took ~87 CPU-seconds to compile
//! (measured: that library with its png and gif features, 105 CPU-s; the two codecs, 18 CPU-s).
//!
//! ```
//! use vae_core::figures::Raster;
//! let mut img = Raster::filled(3, 2, [255, 255, 255, 255]);
//! img.put_pixel(2, 1, [0, 0, 0, 255]);
//! let back = Raster::from_png_bytes(&img.to_png_bytes()?)?;
//! assert_eq!((back.width(), back.height()), (3, 2));
//! assert_eq!(back.get_pixel(2, 1), [0, 0, 0, 255]);
//! assert_eq!(back.get_pixel(0, 0), [255, 255, 255, 255]);
//! # Ok::<(), vae_core::Error>(())
//! ```
use crate::{Error, Result};

/// An 8-bit RGBA image, row-major from the top-left pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raster {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

impl Raster {
    /// A `width x height` image with every pixel `rgba`.
    pub fn filled(width: u32, height: u32, rgba: [u8; 4]) -> Self {
        let n = width as usize * height as usize;
        Self { width, height, data: rgba.repeat(n) }
    }

    /// Wraps `width * height * 4` bytes of RGBA, row by row.
    pub fn from_rgba(width: u32, height: u32, data: Vec<u8>) -> Result<Self> {
        let want = width as usize * height as usize * 4;
        if data.len() != want {
            return Err(Error::config(format!(
                "Raster::from_rgba: a {width}x{height} RGBA image needs {want} bytes, got {}",
                data.len()
            )));
        }
        Ok(Self { width, height, data })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// `(width, height)`.
    pub fn dimensions(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn offset(&self, x: u32, y: u32) -> usize {
        assert!(
            x < self.width && y < self.height,
            "pixel ({x}, {y}) is outside the {}x{} image",
            self.width,
            self.height
        );
        (y as usize * self.width as usize + x as usize) * 4
    }

    /// The pixel at column `x`, row `y`. Panics outside the image.
    pub fn get_pixel(&self, x: u32, y: u32) -> [u8; 4] {
        let i = self.offset(x, y);
        [self.data[i], self.data[i + 1], self.data[i + 2], self.data[i + 3]]
    }

    /// Sets the pixel at column `x`, row `y`. Panics outside the image.
    pub fn put_pixel(&mut self, x: u32, y: u32, rgba: [u8; 4]) {
        let i = self.offset(x, y);
        self.data[i..i + 4].copy_from_slice(&rgba);
    }

    /// Every pixel, row by row.
    pub fn pixels(&self) -> impl Iterator<Item = [u8; 4]> + '_ {
        self.data.chunks_exact(4).map(|p| [p[0], p[1], p[2], p[3]])
    }

    /// The RGBA bytes, row by row.
    pub fn as_raw(&self) -> &[u8] {
        &self.data
    }

    /// Copies `other` onto this image with its top-left corner at `(x, y)`; what falls outside is
    /// dropped. Pixels are replaced, not blended (the figures are opaque).
    pub fn copy_from(&mut self, other: &Raster, x: u32, y: u32) {
        if x >= self.width || y >= self.height {
            return;
        }
        let w = other.width.min(self.width - x) as usize;
        for row in 0..other.height.min(self.height - y) {
            let src = row as usize * other.width as usize * 4;
            let dst = self.offset(x, y + row);
            self.data[dst..dst + w * 4].copy_from_slice(&other.data[src..src + w * 4]);
        }
    }

    /// Encodes the image as an 8-bit RGBA PNG.
    pub fn to_png_bytes(&self) -> Result<Vec<u8>> {
        let fail = |e: png::EncodingError| {
            Error::config(format!("PNG encoding of a {}x{} figure failed: {e}", self.width, self.height))
        };
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, self.width, self.height);
            enc.set_color(png::ColorType::Rgba);
            enc.set_depth(png::BitDepth::Eight);
            let mut writer = enc.write_header().map_err(fail)?;
            writer.write_image_data(&self.data).map_err(fail)?;
            writer.finish().map_err(fail)?;
        }
        Ok(out)
    }

    /// Decodes a PNG of any colour type and bit depth into 8-bit RGBA (grey becomes equal
    /// channels, a missing alpha becomes 255, 16-bit samples keep their high byte).
    pub fn from_png_bytes(bytes: &[u8]) -> Result<Self> {
        let fail = |e: png::DecodingError| Error::config(format!("PNG decoding failed: {e}"));
        let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
        dec.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = dec.read_info().map_err(fail)?;
        let size = reader
            .output_buffer_size()
            .ok_or_else(|| Error::config("PNG decoding failed: the image is too large for memory"))?;
        let mut buf = vec![0u8; size];
        let info = reader.next_frame(&mut buf).map_err(fail)?;
        let (w, h) = (info.width as usize, info.height as usize);
        let channels = match info.color_type {
            png::ColorType::Grayscale => 1,
            png::ColorType::GrayscaleAlpha => 2,
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            png::ColorType::Indexed => {
                return Err(Error::config("PNG decoding failed: palette was not expanded to RGB"))
            }
        };
        let mut data = Vec::with_capacity(w * h * 4);
        for row in buf.chunks(info.line_size).take(h) {
            for p in row[..w * channels].chunks_exact(channels) {
                data.extend_from_slice(&match *p {
                    [g] => [g, g, g, 255],
                    [g, a] => [g, g, g, a],
                    [r, g, b] => [r, g, b, 255],
                    [r, g, b, a] => [r, g, b, a],
                    _ => unreachable!("1 to 4 channels"),
                });
            }
        }
        Self::from_rgba(info.width, info.height, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixels_are_row_major_from_the_top_left() {
        let mut img = Raster::filled(3, 2, [9, 9, 9, 255]);
        img.put_pixel(1, 0, [1, 2, 3, 4]);
        img.put_pixel(0, 1, [5, 6, 7, 8]);
        assert_eq!(&img.as_raw()[4..8], &[1, 2, 3, 4]);
        assert_eq!(&img.as_raw()[12..16], &[5, 6, 7, 8]);
        assert_eq!(img.pixels().filter(|p| *p == [9, 9, 9, 255]).count(), 4);
        assert!(Raster::from_rgba(2, 2, vec![0; 15]).is_err());
    }

    #[test]
    #[should_panic(expected = "outside the 3x2 image")]
    fn reading_outside_panics_with_the_size() {
        Raster::filled(3, 2, [0; 4]).get_pixel(3, 0);
    }

    #[test]
    fn copy_from_clips_at_the_edges() {
        let mut canvas = Raster::filled(4, 3, [255; 4]);
        let ink = Raster::filled(3, 3, [0, 0, 0, 255]);
        canvas.copy_from(&ink, 2, 1);
        let dark: Vec<(u32, u32)> =
            (0..3).flat_map(|y| (0..4).map(move |x| (x, y))).filter(|&(x, y)| canvas.get_pixel(x, y)[0] == 0).collect();
        assert_eq!(dark, vec![(2, 1), (3, 1), (2, 2), (3, 2)]);
        canvas.copy_from(&ink, 4, 0); // entirely outside: nothing happens
        assert_eq!(canvas.pixels().filter(|p| p[0] == 0).count(), 4);
    }

    #[test]
    fn png_round_trip_keeps_every_byte() {
        let data: Vec<u8> = (0..5 * 3 * 4).map(|i| (i * 37 % 256) as u8).collect();
        let img = Raster::from_rgba(5, 3, data).unwrap();
        let bytes = img.to_png_bytes().unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(Raster::from_png_bytes(&bytes).unwrap(), img);
    }

    #[test]
    fn grey_png_decodes_to_equal_channels() {
        let mut bytes = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut bytes, 2, 1);
            enc.set_color(png::ColorType::Grayscale);
            enc.set_depth(png::BitDepth::Eight);
            enc.write_header().unwrap().write_image_data(&[10, 200]).unwrap();
        }
        let img = Raster::from_png_bytes(&bytes).unwrap();
        assert_eq!(img.pixels().collect::<Vec<_>>(), vec![[10, 10, 10, 255], [200, 200, 200, 255]]);
        let err = Raster::from_png_bytes(b"not a png").unwrap_err().to_string();
        assert!(err.contains("PNG decoding failed"), "{err}");
    }
}
