//! A grid of grey-scale images: the basic picture of the course (samples, reconstructions,
//! decoded manifolds, interpolations).
//!
//! Pixel values `v` are clamped to `[0, 1]` (NaN counts as 0) and drawn as grey `round(255 v)`,
//! so ink (1, as MNIST stores the digit's strokes) is drawn white on a black tile. Each tile is upscaled by an integer
//! factor with nearest-neighbour sampling, so pixels stay sharp. Optional per-tile captions
//! (drawn below each tile), row titles (left) and a title (top, centred over the tiles) use the
//! built-in [`font`]; no system fonts are needed.
//!
//! Tiles fill the grid row by row: tile `i` is at row `i / cols`, column `i % cols`.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use vae_core::figures::ImageGrid;
//! // Four 2x2 images: tile i has every pixel equal to i / 3.
//! let v: Vec<f32> = (0..4).flat_map(|i| [i as f32 / 3.0; 4]).collect();
//! let images = Tensor::from_vec(v, (4, 4), &Device::Cpu)?;
//! let grid = ImageGrid::new(&images)?.cols(2).scale(3).padding(1);
//! let img = grid.to_image();
//! assert_eq!((img.width(), img.height()), (1 + 2 * (6 + 1), 1 + 2 * (6 + 1)));
//! let (x, y) = grid.tile_origin(3);
//! assert_eq!(img.get_pixel(x, y), [255, 255, 255, 255]);
//! # Ok::<(), vae_core::Error>(())
//! ```
use super::font;
use super::Raster;
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use std::path::Path;

/// A grid of grey-scale tiles with optional captions, row titles and title. Build it with
/// [`ImageGrid::new`] and the builder methods; render with [`ImageGrid::to_image`].
#[derive(Debug, Clone)]
pub struct ImageGrid {
    tiles: Vec<Vec<f32>>,
    tile_h: usize,
    tile_w: usize,
    cols: Option<usize>,
    padding: u32,
    background: [u8; 3],
    text_color: [u8; 3],
    scale: Option<u32>,
    captions: Vec<String>,
    row_titles: Vec<String>,
    title: Option<String>,
}

/// Pixel positions of the parts of a rendered grid.
#[derive(Debug, Clone)]
struct Layout {
    cols: usize,
    rows: usize,
    scale: u32,
    top: u32,
    /// Left edge and width of each column's cell; a column is wider than its tiles when one of
    /// its captions needs the room.
    col_x: Vec<u32>,
    col_w: Vec<u32>,
    cell_h: u32,
    /// Each tile's caption broken into lines.
    captions: Vec<Vec<String>>,
    /// The title's lines with their left edges.
    title: Vec<(i64, String)>,
    row_title_scale: u32,
    width: u32,
    height: u32,
}

/// Captions and titles never go below scale 2: at scale 1 the 5-pixel glyphs are too small to
/// read in a notebook at 100 % zoom.
const CAPTION_SCALE: u32 = 2;
const TITLE_SCALE: u32 = 2;
/// Pixels between two lines of text (at scale 2 the descender rows already leave 4 more).
const LINE_GAP: u32 = 2;
/// Least room left and right of a caption line, so neighbouring captions never run together.
const CAPTION_MARGIN: u32 = 4;

/// Height of `n` lines of text at `scale`.
fn lines_height(n: usize, scale: u32) -> u32 {
    let n = n as u32;
    if n == 0 {
        0
    } else {
        n * font::text_height(scale) + (n - 1) * LINE_GAP
    }
}

/// Breaks `text` into lines no wider than `max_w` at `scale`, after a comma or at a space,
/// filling each line greedily. A word wider than `max_w` keeps a line to itself; the caller
/// widens the cell for it rather than cutting it.
fn wrap(text: &str, max_w: u32, scale: u32) -> Vec<String> {
    if font::text_width(text, scale) <= max_w {
        return vec![text.to_string()];
    }
    // (separator before the word, word): a comma stays with the word before it.
    let mut words: Vec<(&str, String)> = Vec::new();
    let (mut word, mut sep) = (String::new(), "");
    for ch in text.chars() {
        if ch == ' ' {
            if !word.is_empty() {
                words.push((sep, std::mem::take(&mut word)));
            }
            sep = " ";
            continue;
        }
        word.push(ch);
        if ch == ',' {
            words.push((sep, std::mem::take(&mut word)));
            sep = "";
        }
    }
    if !word.is_empty() {
        words.push((sep, word));
    }
    let mut lines: Vec<String> = Vec::new();
    for (sep, word) in words {
        match lines.last_mut() {
            Some(line) if font::text_width(&format!("{line}{sep}{word}"), scale) <= max_w => {
                line.push_str(sep);
                line.push_str(&word);
            }
            _ => lines.push(word),
        }
    }
    lines
}

impl ImageGrid {
    /// Images as `[N, H*W]` (square tiles, `H = W`), `[N, H, W]` or `[N, 1, H, W]`, any float
    /// dtype, any device.
    pub fn new(images: &Tensor) -> Result<Self> {
        let dims = images.dims().to_vec();
        let (n, h, w) = match dims.as_slice() {
            [n, p] => {
                let side = (*p as f64).sqrt().round() as usize;
                if side * side != *p {
                    return Err(Error::config(format!(
                        "ImageGrid::new: images of shape {dims:?} have {p} pixels, not a square \
                         number; use ImageGrid::with_size(images, height, width)"
                    )));
                }
                (*n, side, side)
            }
            [n, h, w] | [n, 1, h, w] => (*n, *h, *w),
            _ => {
                return Err(Error::config(format!(
                    "ImageGrid::new: expected images of shape [N, H*W], [N, H, W] or [N, 1, H, W], \
                     got {dims:?}"
                )))
            }
        };
        Self::with_size(&images.reshape((n, h * w))?, h, w)
    }

    /// Images as `[N, H*W]` with explicit tile height and width (for non-square images).
    pub fn with_size(images: &Tensor, height: usize, width: usize) -> Result<Self> {
        let dims = images.dims();
        if dims.len() != 2 || dims[1] != height * width {
            return Err(Error::config(format!(
                "ImageGrid::with_size: expected images of shape [N, {}] for {height}x{width} tiles, \
                 got {dims:?}",
                height * width
            )));
        }
        let tiles = images.to_dtype(DType::F32)?.to_device(&Device::Cpu)?.to_vec2::<f32>()?;
        Self::from_tiles(tiles, height, width)
    }

    /// Tiles as plain vectors of `height * width` values each.
    pub fn from_tiles(tiles: Vec<Vec<f32>>, height: usize, width: usize) -> Result<Self> {
        if height == 0 || width == 0 {
            return Err(Error::config("ImageGrid: tiles must be at least 1x1 pixels"));
        }
        if let Some((i, t)) = tiles.iter().enumerate().find(|(_, t)| t.len() != height * width) {
            return Err(Error::config(format!(
                "ImageGrid: tile {i} has {} values, expected {height}x{width} = {}",
                t.len(),
                height * width
            )));
        }
        Ok(Self {
            tiles,
            tile_h: height,
            tile_w: width,
            cols: None,
            padding: 2,
            background: [255, 255, 255],
            text_color: [34, 34, 34],
            scale: None,
            captions: Vec::new(),
            row_titles: Vec::new(),
            title: None,
        })
    }

    /// Number of columns (default: `ceil(sqrt(N))`, at most `N`).
    pub fn cols(mut self, cols: usize) -> Self {
        self.cols = Some(cols.max(1));
        self
    }

    /// Gap in pixels between tiles and around the grid (default 2).
    pub fn padding(mut self, px: u32) -> Self {
        self.padding = px;
        self
    }

    /// Colour of the padding and of the area behind text (default white).
    pub fn background(mut self, rgb: [u8; 3]) -> Self {
        self.background = rgb;
        self
    }

    /// Colour of captions and titles (default near-black).
    pub fn text_color(mut self, rgb: [u8; 3]) -> Self {
        self.text_color = rgb;
        self
    }

    /// Integer upscaling of every tile. The default makes a 28x28 tile 84 px wide (56 px when
    /// the grid has more than 12 columns), which reads well in a notebook.
    pub fn scale(mut self, factor: u32) -> Self {
        self.scale = Some(factor.max(1));
        self
    }

    /// One caption per tile, drawn under it (extra captions are ignored, missing ones blank).
    /// Captions are drawn at font scale 2 (10 px wide glyphs); one wider than its tile is
    /// broken after a comma or at a space, and a column is widened for a word that still does not
    /// fit.
    pub fn captions(mut self, captions: Vec<String>) -> Self {
        self.captions = captions;
        self
    }

    /// One title per row, drawn left of the row (e.g. "original", "reconstruction").
    pub fn row_titles(mut self, titles: Vec<String>) -> Self {
        self.row_titles = titles;
        self
    }

    /// A title above the grid, centred over the tiles; `\n` starts a new line.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Number of tiles.
    pub fn len(&self) -> usize {
        self.tiles.len()
    }

    /// True when the grid has no tiles.
    pub fn is_empty(&self) -> bool {
        self.tiles.is_empty()
    }

    /// `(height, width)` of one tile before upscaling.
    pub fn tile_size(&self) -> (usize, usize) {
        (self.tile_h, self.tile_w)
    }

    /// The tiles' values as given (before clamping).
    pub fn tiles(&self) -> &[Vec<f32>] {
        &self.tiles
    }

    /// `(rows, cols)` of the rendered grid.
    pub fn shape(&self) -> (usize, usize) {
        let l = self.layout();
        (l.rows, l.cols)
    }

    fn layout(&self) -> Layout {
        let n = self.tiles.len().max(1);
        let cols = self.cols.unwrap_or_else(|| (n as f64).sqrt().ceil() as usize).min(n).max(1);
        let rows = n.div_ceil(cols).max(self.row_titles.len());
        let largest = self.tile_h.max(self.tile_w) as u32;
        let target = if cols > 12 { 56 } else { 84 };
        let scale = self.scale.unwrap_or((target / largest).max(1));
        let (tw, th) = (self.tile_w as u32 * scale, self.tile_h as u32 * scale);
        let pad = self.padding;
        let captions: Vec<Vec<String>> = self
            .captions
            .iter()
            .take(self.tiles.len())
            .map(|c| wrap(c, tw.saturating_sub(2 * CAPTION_MARGIN), CAPTION_SCALE))
            .collect();
        let mut col_w = vec![tw; cols];
        for (i, lines) in captions.iter().enumerate() {
            let widest = lines.iter().map(|l| font::text_width(l, CAPTION_SCALE)).max().unwrap_or(0);
            if widest > 0 {
                col_w[i % cols] = col_w[i % cols].max(widest + 2 * CAPTION_MARGIN);
            }
        }
        let caption_lines = captions.iter().map(Vec::len).max().unwrap_or(0);
        let caption_h = if caption_lines == 0 { 0 } else { 4 + lines_height(caption_lines, CAPTION_SCALE) };
        let row_title_scale = if th >= 28 { 2 } else { 1 };
        let left = self
            .row_titles
            .iter()
            .map(|t| font::text_width(t, row_title_scale))
            .max()
            .map(|w| w + 8 + pad)
            .unwrap_or(0);
        let title_lines: Vec<&str> = self.title.as_deref().map(|t| t.lines().collect()).unwrap_or_default();
        let top = if title_lines.is_empty() { 0 } else { 6 + lines_height(title_lines.len(), TITLE_SCALE) + 4 };
        let mut col_x = Vec::with_capacity(cols);
        let mut x = left + pad;
        for w in &col_w {
            col_x.push(x);
            x += w + pad;
        }
        let grid_w = x;
        // Titles belong to the tiles, not to the row-title column left of them.
        let (block_x, block_w) = (left + pad, grid_w - pad - (left + pad));
        let title: Vec<(i64, String)> = title_lines
            .iter()
            .map(|t| {
                let w = font::text_width(t, TITLE_SCALE) as i64;
                ((block_x as i64 + (block_w as i64 - w) / 2).max(4), t.to_string())
            })
            .collect();
        let title_right =
            title.iter().map(|(x, t)| *x as u32 + font::text_width(t, TITLE_SCALE) + 4 + pad).max().unwrap_or(0);
        let cell_h = th + caption_h;
        Layout {
            cols,
            rows,
            scale,
            top,
            col_x,
            col_w,
            cell_h,
            captions,
            title,
            row_title_scale,
            width: grid_w.max(title_right),
            height: top + pad + rows as u32 * (cell_h + pad),
        }
    }

    fn tile_origin_in(&self, l: &Layout, i: usize) -> (u32, u32) {
        let (r, c) = (i / l.cols, i % l.cols);
        let tw = self.tile_w as u32 * l.scale;
        (l.col_x[c] + (l.col_w[c] - tw) / 2, l.top + self.padding + r as u32 * (l.cell_h + self.padding))
    }

    /// Top-left pixel of tile `i` in [`ImageGrid::to_image`].
    pub fn tile_origin(&self, i: usize) -> (u32, u32) {
        self.tile_origin_in(&self.layout(), i)
    }

    /// Renders the grid.
    pub fn to_image(&self) -> Raster {
        let l = self.layout();
        let [br, bg, bb] = self.background;
        let mut img = Raster::filled(l.width, l.height, [br, bg, bb, 255]);
        let text = [self.text_color[0], self.text_color[1], self.text_color[2], 255];
        let s = l.scale;
        let th = self.tile_h as u32 * s;
        for (i, tile) in self.tiles.iter().enumerate() {
            let (x0, y0) = self.tile_origin_in(&l, i);
            for ty in 0..self.tile_h {
                for tx in 0..self.tile_w {
                    let v = tile[ty * self.tile_w + tx];
                    let v = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
                    let g = (v * 255.0).round() as u8;
                    for dy in 0..s {
                        for dx in 0..s {
                            img.put_pixel(x0 + tx as u32 * s + dx, y0 + ty as u32 * s + dy, [g, g, g, 255]);
                        }
                    }
                }
            }
            let c = i % l.cols;
            for (k, line) in l.captions.get(i).into_iter().flatten().enumerate() {
                let w = font::text_width(line, CAPTION_SCALE) as i64;
                let x = l.col_x[c] as i64 + (l.col_w[c] as i64 - w) / 2;
                let y = (y0 + th + 4 + k as u32 * (font::text_height(CAPTION_SCALE) + LINE_GAP)) as i64;
                font::draw_text(&mut img, x, y, line, CAPTION_SCALE, text);
            }
        }
        for (r, t) in self.row_titles.iter().enumerate() {
            let y0 = l.top + self.padding + r as u32 * (l.cell_h + self.padding);
            // Centre the capitals on the tile; descenders may hang into the padding below.
            let y = y0 as i64 + (th as i64 - font::cap_height(l.row_title_scale) as i64) / 2;
            font::draw_text(&mut img, self.padding as i64 + 4, y, t, l.row_title_scale, text);
        }
        for (k, (x, t)) in l.title.iter().enumerate() {
            let y = 6 + k as i64 * (font::text_height(TITLE_SCALE) + LINE_GAP) as i64;
            font::draw_text(&mut img, *x, y, t, TITLE_SCALE, text);
        }
        img
    }

    /// The rendered grid as PNG bytes.
    pub fn to_png_bytes(&self) -> Result<Vec<u8>> {
        self.to_image().to_png_bytes()
    }

    /// Saves the grid as PNG (`.png`) or as a self-contained HTML page (`.html`).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        super::display::save_figure(self, path.as_ref())
    }
}

fn stacked_rows(rows: &[(&str, &Tensor)], what: &str) -> Result<ImageGrid> {
    let first = rows[0].1;
    for (name, t) in rows {
        if t.dims() != first.dims() {
            return Err(Error::config(format!(
                "{what}: `{name}` has shape {:?} but `{}` has shape {:?}; pass the same images in each row",
                t.dims(),
                rows[0].0,
                first.dims()
            )));
        }
    }
    let n = first.dim(0)?;
    let all =
        Tensor::cat(&rows.iter().map(|(_, t)| t.to_dtype(DType::F32)).collect::<candle_core::Result<Vec<_>>>()?, 0)?;
    Ok(ImageGrid::new(&all)?.cols(n).row_titles(rows.iter().map(|(name, _)| name.to_string()).collect()))
}

/// Originals above their reconstructions: two rows of `N` tiles, titled "original" and
/// "reconstruction". Both tensors `[N, H*W]` (or `[N, 1, H, W]`) with values in `[0, 1]`.
pub fn reconstructions(originals: &Tensor, recons: &Tensor) -> Result<ImageGrid> {
    stacked_rows(&[("original", originals), ("reconstruction", recons)], "reconstructions")
}

/// Denoising at a glance: rows "noisy" (the input), "denoised" (the output), "clean" (the target).
pub fn denoising(noisy: &Tensor, denoised: &Tensor, clean: &Tensor) -> Result<ImageGrid> {
    stacked_rows(&[("noisy", noisy), ("denoised", denoised), ("clean", clean)], "denoising")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiles(n: usize, h: usize, w: usize) -> Tensor {
        // tile i: pixel (y, x) = (i * 10 + y * w + x) / 255 so every pixel is identifiable.
        let v: Vec<f32> = (0..n).flat_map(|i| (0..h * w).map(move |p| (i * 10 + p) as f32 / 255.0)).collect();
        Tensor::from_vec(v, (n, h * w), &Device::Cpu).unwrap()
    }

    #[test]
    fn tiles_land_at_their_positions_with_exact_values() {
        let grid = ImageGrid::new(&tiles(5, 2, 2)).unwrap().cols(3).padding(1).scale(1).background([200, 0, 0]);
        let img = grid.to_image();
        // 3 columns, 2 rows of 2x2 tiles with 1 px padding.
        assert_eq!((img.width(), img.height()), (1 + 3 * 3, 1 + 2 * 3));
        for i in 0..5 {
            let (x0, y0) = grid.tile_origin(i);
            assert_eq!((x0, y0), (1 + 3 * (i as u32 % 3), 1 + 3 * (i as u32 / 3)));
            for p in 0..4u32 {
                let g = (i * 10) as u8 + p as u8;
                assert_eq!(img.get_pixel(x0 + p % 2, y0 + p / 2), [g, g, g, 255], "tile {i} pixel {p}");
            }
        }
        // Padding and the empty 6th cell show the background.
        for (x, y) in [(0, 0), (3, 1), (9, 6), (7, 4), (8, 5)] {
            assert_eq!(img.get_pixel(x, y), [200, 0, 0, 255], "({x}, {y})");
        }
    }

    #[test]
    fn values_are_clamped_and_nan_is_black() {
        let t = Tensor::new(&[[-1.0f32, 2.0, f32::NAN, 0.5]], &Device::Cpu).unwrap();
        let img = ImageGrid::new(&t).unwrap().scale(1).padding(0).to_image();
        let px: Vec<u8> = img.pixels().map(|p| p[0]).collect();
        assert_eq!(px, vec![0, 255, 0, 128]);
    }

    #[test]
    fn upscaling_repeats_each_pixel() {
        let grid = ImageGrid::new(&tiles(1, 2, 2)).unwrap().scale(4).padding(0);
        let img = grid.to_image();
        assert_eq!((img.width(), img.height()), (8, 8));
        for y in 0..8 {
            for x in 0..8 {
                let g = ((y / 4) * 2 + x / 4) as u8;
                assert_eq!(img.get_pixel(x, y)[0], g);
            }
        }
        // The default upscales 28x28 tiles 3x.
        let t = Tensor::zeros((4, 784), DType::F32, &Device::Cpu).unwrap();
        assert_eq!(ImageGrid::new(&t).unwrap().padding(0).to_image().width(), 2 * 84);
    }

    #[test]
    fn accepts_nchw_and_rejects_bad_shapes() {
        let t = Tensor::zeros((3, 1, 4, 5), DType::F32, &Device::Cpu).unwrap();
        assert_eq!(ImageGrid::new(&t).unwrap().tile_size(), (4, 5));
        let bad = Tensor::zeros((3, 20), DType::F32, &Device::Cpu).unwrap();
        assert!(ImageGrid::new(&bad).unwrap_err().to_string().contains("with_size"));
        assert!(ImageGrid::with_size(&bad, 4, 5).is_ok());
    }

    #[test]
    fn captions_draw_dark_pixels_under_each_tile() {
        let t = Tensor::zeros((2, 64), DType::F32, &Device::Cpu).unwrap();
        let plain = ImageGrid::new(&t).unwrap().cols(2).scale(4);
        let captioned = plain.clone().captions(vec!["(-1.2, 0.4)".into(), "(3.0, 1.0)".into()]);
        let img = captioned.to_image();
        assert!(img.height() > plain.to_image().height(), "captions need room below the tiles");
        for i in 0..2 {
            let (x0, y0) = captioned.tile_origin(i);
            let below = y0 + 32..img.height();
            let dark = below
                .flat_map(|y| (x0..x0 + 32).map(move |x| (x, y)))
                .filter(|&(x, y)| img.get_pixel(x, y)[0] < 100)
                .count();
            assert!(dark > 20, "tile {i}: only {dark} dark caption pixels");
        }
    }

    #[test]
    fn long_captions_wrap_after_commas_and_at_spaces() {
        assert_eq!(wrap("mean 0", 48, 2), ["mean", "0"]);
        assert_eq!(wrap("-1.0,1.4", 48, 2), ["-1.0,", "1.4"]);
        assert_eq!(wrap("(-1.2, 0.4)", 60, 2), ["(-1.2,", "0.4)"]);
        assert_eq!(wrap("(3+8)/2", 48, 2), ["(3+8)/2"], "no place to break: the cell widens instead");
        assert_eq!(wrap("a  b", 1000, 2), ["a  b"], "text that fits is left alone");
        assert_eq!(wrap("a b c d", 40, 2), ["a b", "c d"]);
    }

    #[test]
    fn captions_stay_at_scale_2_and_widen_only_their_own_column() {
        let t = Tensor::zeros((3, 64), DType::F32, &Device::Cpu).unwrap();
        let grid = ImageGrid::new(&t).unwrap().cols(3).scale(4).padding(2).captions(vec![
            "a".into(),
            "(3+8)/2".into(),
            "mean 0".into(),
        ]);
        let l = grid.layout();
        // 32 px tiles; "(3+8)/2" is 82 px at scale 2 and "mean" 46 px, each plus 4 px either side.
        assert_eq!(l.col_w, [32, 90, 54]);
        assert_eq!(l.captions[2], ["mean", "0"]);
        let img = grid.to_image();
        assert_eq!(img.width(), 2 + 32 + 2 + 90 + 2 + 54 + 2);
        // Tiles sit centred in their widened cells.
        assert_eq!(grid.tile_origin(1).0, 36 + (90 - 32) / 2);
        // The "a" under tile 0 is 10 px tall (5 rows at scale 2), not 5.
        let (x0, y0) = grid.tile_origin(0);
        let ink_rows = (y0 + 32..img.height()).filter(|&y| (x0..x0 + 32).any(|x| img.get_pixel(x, y)[0] < 100));
        assert_eq!(ink_rows.count(), 10);
    }

    #[test]
    fn the_title_is_centred_over_the_tiles_not_the_row_titles() {
        let t = Tensor::zeros((4, 64), DType::F32, &Device::Cpu).unwrap();
        let grid = ImageGrid::new(&t)
            .unwrap()
            .cols(4)
            .scale(4)
            .background([255, 255, 255])
            .row_titles(vec!["a long row title".into()])
            .title("T");
        let img = grid.to_image();
        let ink: Vec<u32> = (0..img.width()).filter(|&x| (0..24).any(|y| img.get_pixel(x, y)[0] < 100)).collect();
        let title_centre = (ink[0] + ink[ink.len() - 1] + 1) as f64 / 2.0;
        let (first, last) = (grid.tile_origin(0).0, grid.tile_origin(3).0 + 32);
        assert!((title_centre - (first + last) as f64 / 2.0).abs() <= 1.0, "{title_centre} vs {first}..{last}");
    }

    #[test]
    fn reconstructions_stack_two_titled_rows() {
        let a = Tensor::zeros((3, 16), DType::F32, &Device::Cpu).unwrap();
        let b = Tensor::ones((3, 16), DType::F32, &Device::Cpu).unwrap();
        let grid = reconstructions(&a, &b).unwrap();
        assert_eq!(grid.shape(), (2, 3));
        let img = grid.to_image();
        let (x0, y0) = grid.tile_origin(0);
        let (x1, y1) = grid.tile_origin(3);
        assert!(x0 > 40, "row titles take space on the left");
        assert_eq!((x0, img.get_pixel(x0, y0)[0]), (x1, 0));
        assert_eq!(img.get_pixel(x1, y1)[0], 255);
        // Row title ink left of the first tile.
        assert!((0..x0).any(|x| (y0..y1).any(|y| img.get_pixel(x, y)[0] < 100)));
        let c = Tensor::zeros((2, 16), DType::F32, &Device::Cpu).unwrap();
        assert!(denoising(&a, &b, &c).is_err());
        assert_eq!(denoising(&a, &b, &a).unwrap().shape(), (3, 3));
    }
}
