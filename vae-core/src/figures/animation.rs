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
use super::{ImageGrid, Raster};
use crate::{Error, Result};

/// A sequence of frames with delays, encoded as a looping GIF.
#[derive(Debug, Clone, Default)]
pub struct Animation {
    frames: Vec<(Raster, u32)>,
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
    pub fn push_image(&mut self, frame: Raster, delay_ms: u32) -> &mut Self {
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
        let (gw, gh) = match (u16::try_from(w), u16::try_from(h)) {
            (Ok(gw), Ok(gh)) => (gw, gh),
            _ => {
                return Err(Error::config(format!(
                    "Animation: a {w}x{h} frame is larger than GIF allows (65535 pixels a side)"
                )))
            }
        };
        let gif_err = |e: gif::EncodingError| Error::config(format!("GIF encoding failed: {e}"));
        let mut out = Vec::new();
        {
            let mut enc = gif::Encoder::new(&mut out, gw, gh, &[]).map_err(gif_err)?;
            enc.set_repeat(gif::Repeat::Infinite).map_err(gif_err)?;
            for (img, delay) in &self.frames {
                let mut canvas = Raster::filled(w, h, [255, 255, 255, 255]);
                canvas.copy_from(img, 0, 0);
                let mut rgba = canvas.as_raw().to_vec();
                // Speed 10 of 1..=30: NeuQuant's palette is plenty for grey-scale figures.
                let mut frame = gif::Frame::from_rgba_speed(gw, gh, &mut rgba, 10);
                // GIF counts delays in hundredths of a second.
                frame.delay = ((*delay).max(10).saturating_add(5) / 10).min(u16::MAX as u32) as u16;
                enc.write_frame(&frame).map_err(gif_err)?;
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

    /// Frames of a GIF as (delay in ms, RGBA canvas).
    fn decode(gif: &[u8]) -> Vec<(u32, Raster)> {
        let mut opts = gif::DecodeOptions::new();
        opts.set_color_output(gif::ColorOutput::RGBA);
        let mut dec = opts.read_info(gif).unwrap();
        let (w, h) = (dec.width() as u32, dec.height() as u32);
        let mut frames = Vec::new();
        while let Some(f) = dec.read_next_frame().unwrap() {
            assert_eq!((f.left, f.top, f.width as u32, f.height as u32), (0, 0, w, h), "whole-canvas frames");
            frames.push((f.delay as u32 * 10, Raster::from_rgba(w, h, f.buffer.to_vec()).unwrap()));
        }
        frames
    }

    #[test]
    fn gif_decodes_back_with_frames_delays_and_pixels() {
        let mut anim = Animation::new();
        anim.push_image(Raster::filled(8, 6, [0, 0, 0, 255]), 100)
            .push_image(Raster::filled(8, 6, [255, 255, 255, 255]), 250)
            .push_image(Raster::filled(4, 3, [0, 0, 0, 255]), 500);
        let gif = anim.to_gif_bytes().unwrap();
        let text = String::from_utf8_lossy(&gif);
        assert!(text.contains("NETSCAPE2.0"), "loop extension present");
        let frames = decode(&gif);
        assert_eq!(frames.len(), 3);
        let delays: Vec<u32> = frames.iter().map(|f| f.0).collect();
        assert_eq!(delays, vec![100, 250, 500]);
        let px = |i: usize, x, y| frames[i].1.get_pixel(x, y);
        assert!(px(0, 3, 3)[0] < 10 && px(1, 3, 3)[0] > 245);
        // The small last frame sits top-left on a white canvas.
        assert_eq!(frames[2].1.dimensions(), (8, 6));
        assert!(px(2, 1, 1)[0] < 10 && px(2, 7, 5)[0] > 245);
        assert!(Animation::new().to_gif_bytes().is_err());
    }
}
