//! Animations as GIFs: training progress, walks through latent space.
//!
//! Frames are RGBA images (or rendered [`ImageGrid`]s) with a per-frame delay in
//! milliseconds; the GIF loops forever. GIF stores delays in hundredths of a second, so delays
//! are rounded to 10 ms. Frames of different sizes are placed top-left on a white canvas the
//! size of the largest frame.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use vae_core::figures::{Animation, ImageGrid};
//! let mut anim = Animation::new();
//! for k in 0..3 {
//!     let t = Tensor::full(k as f32 / 2.0, (4, 16), &Device::Cpu)?;
//!     anim.push_grid(&ImageGrid::new(&t)?, 200);
//! }
//! let gif = anim.to_gif_bytes()?;
//! assert_eq!(&gif[..6], b"GIF89a");
//! # Ok::<(), vae_core::Error>(())
//! ```
use super::ImageGrid;
use crate::{Error, Result};
use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, Frame, Rgba, RgbaImage};

/// A sequence of frames with delays, encoded as a looping GIF.
#[derive(Debug, Clone, Default)]
pub struct Animation {
    frames: Vec<(RgbaImage, u32)>,
}

impl Animation {
    /// An empty animation.
    pub fn new() -> Self {
        Self::default()
    }

    /// One frame per grid, each shown for `delay_ms`.
    pub fn from_grids(grids: &[ImageGrid], delay_ms: u32) -> Self {
        let mut a = Self::new();
        for g in grids {
            a.push_grid(g, delay_ms);
        }
        a
    }

    /// Adds a rendered grid as a frame.
    pub fn push_grid(&mut self, grid: &ImageGrid, delay_ms: u32) -> &mut Self {
        self.push_image(grid.to_image(), delay_ms)
    }

    /// Adds an RGBA image as a frame.
    pub fn push_image(&mut self, frame: RgbaImage, delay_ms: u32) -> &mut Self {
        self.frames.push((frame, delay_ms));
        self
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// True without frames.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Encodes the frames as an infinitely looping GIF.
    pub fn to_gif_bytes(&self) -> Result<Vec<u8>> {
        if self.frames.is_empty() {
            return Err(Error::config("Animation: no frames to encode; add some with push_grid or push_image"));
        }
        let w = self.frames.iter().map(|(f, _)| f.width()).max().unwrap_or(1);
        let h = self.frames.iter().map(|(f, _)| f.height()).max().unwrap_or(1);
        let gif_err = |e: image::ImageError| Error::config(format!("GIF encoding failed: {e}"));
        let mut out = Vec::new();
        {
            // Speed 10 of 1..=30: NeuQuant quality is plenty for grey-scale figures.
            let mut enc = GifEncoder::new_with_speed(&mut out, 10);
            enc.set_repeat(Repeat::Infinite).map_err(gif_err)?;
            for (img, delay) in &self.frames {
                let canvas = if img.dimensions() == (w, h) {
                    img.clone()
                } else {
                    let mut c = RgbaImage::from_pixel(w, h, Rgba([255, 255, 255, 255]));
                    image::imageops::overlay(&mut c, img, 0, 0);
                    c
                };
                let delay = Delay::from_numer_denom_ms((*delay).max(10), 1);
                enc.encode_frame(Frame::from_parts(canvas, 0, 0, delay)).map_err(gif_err)?;
            }
        }
        Ok(out)
    }

    /// Saves as `.gif` or `.html`.
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        super::Figure::save(self, path.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::AnimationDecoder;

    #[test]
    fn gif_decodes_back_with_frames_delays_and_pixels() {
        let mut anim = Animation::new();
        anim.push_image(RgbaImage::from_pixel(8, 6, Rgba([0, 0, 0, 255])), 100)
            .push_image(RgbaImage::from_pixel(8, 6, Rgba([255, 255, 255, 255])), 250)
            .push_image(RgbaImage::from_pixel(4, 3, Rgba([0, 0, 0, 255])), 500);
        let gif = anim.to_gif_bytes().unwrap();
        let text = String::from_utf8_lossy(&gif);
        assert!(text.contains("NETSCAPE2.0"), "loop extension present");
        let dec = image::codecs::gif::GifDecoder::new(std::io::Cursor::new(gif)).unwrap();
        let frames = dec.into_frames().collect_frames().unwrap();
        assert_eq!(frames.len(), 3);
        let delays: Vec<(u32, u32)> = frames.iter().map(|f| f.delay().numer_denom_ms()).collect();
        assert_eq!(delays, vec![(100, 1), (250, 1), (500, 1)]);
        let px = |i: usize, x, y| frames[i].buffer().get_pixel(x, y).0;
        assert!(px(0, 3, 3)[0] < 10 && px(1, 3, 3)[0] > 245);
        // The small last frame sits top-left on a white canvas.
        assert_eq!(frames[2].buffer().dimensions(), (8, 6));
        assert!(px(2, 1, 1)[0] < 10 && px(2, 7, 5)[0] > 245);
        assert!(Animation::new().to_gif_bytes().is_err());
    }
}
