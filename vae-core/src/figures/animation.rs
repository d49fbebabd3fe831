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
use candle_core::{DType, Tensor};

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

/// One frame of a training animation: fixed `originals` and the model's current `recons` of
/// them in alternating rows of `cols` tiles (row `original`, row `reconstruction`, the next
/// `cols` originals, ...), then the decoded fixed prior codes `samples` in rows titled
/// `prior sample`. Every row is titled, so a single frame reads without the surrounding text.
///
/// `originals` and `recons` hold the same number of images, a multiple of `cols`, as does
/// `samples`; all are `[N, H*W]` (or `[N, 1, H, W]`) with values in `[0, 1]`.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use vae_core::figures::animation::training_frame;
/// let x = Tensor::zeros((4, 16), candle_core::DType::F32, &Device::Cpu)?;
/// let frame = training_frame(&x, &x, &x.narrow(0, 0, 2)?, 2)?;
/// assert_eq!(frame.shape(), (5, 2));
/// # Ok::<(), vae_core::Error>(())
/// ```
pub fn training_frame(originals: &Tensor, recons: &Tensor, samples: &Tensor, cols: usize) -> Result<ImageGrid> {
    let n = originals.dim(0)?;
    let m = samples.dim(0)?;
    if cols == 0 || n % cols != 0 || m % cols != 0 || recons.dims() != originals.dims() {
        return Err(Error::config(format!(
            "training_frame: expected originals and recons of the same shape and counts that are multiples of \
             cols = {cols}, got originals {:?}, recons {:?}, samples {:?}",
            originals.dims(),
            recons.dims(),
            samples.dims()
        )));
    }
    let flat = |t: &Tensor| -> Result<Tensor> { Ok(t.reshape((t.dim(0)?, ()))?.to_dtype(DType::F32)?) };
    let (originals, recons, samples) = (flat(originals)?, flat(recons)?, flat(samples)?);
    let (mut rows, mut titles) = (Vec::new(), Vec::new());
    for k in (0..n).step_by(cols) {
        rows.push(originals.narrow(0, k, cols)?);
        rows.push(recons.narrow(0, k, cols)?);
        titles.extend(["original".to_string(), "reconstruction".to_string()]);
    }
    for k in (0..m).step_by(cols) {
        rows.push(samples.narrow(0, k, cols)?);
        titles.push("prior sample".to_string());
    }
    Ok(ImageGrid::new(&Tensor::cat(&rows, 0)?)?.cols(cols).row_titles(titles))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn training_frame_interleaves_originals_and_reconstructions() {
        // Tile value = its row in the expected layout / 10, so the order is checkable.
        let tiles = |vals: &[f32]| {
            let v: Vec<f32> = vals.iter().flat_map(|&a| [a; 4]).collect();
            Tensor::from_vec(v, (vals.len(), 4), &Device::Cpu).unwrap()
        };
        let originals = tiles(&[0.0, 0.0, 0.2, 0.2]);
        let recons = tiles(&[0.1, 0.1, 0.3, 0.3]);
        let samples = tiles(&[0.4, 0.4, 0.5, 0.5]);
        let g = training_frame(&originals, &recons, &samples, 2).unwrap();
        assert_eq!(g.shape(), (6, 2));
        for (i, t) in g.tiles().iter().enumerate() {
            assert!((t[0] - (i / 2) as f32 / 10.0).abs() < 1e-6, "tile {i} is {}", t[0]);
        }
        assert!(training_frame(&originals, &recons, &samples, 3).is_err(), "4 images do not fill rows of 3");
        assert!(training_frame(&originals, &samples.narrow(0, 0, 2).unwrap(), &samples, 2).is_err());
    }

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
