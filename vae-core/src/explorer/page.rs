//! The explorer page: a decoder, an encoded test set, and the HTML/JS that lets you walk
//! the latent plane.
//!
//! Everything travels inside one HTML file (no CDN, no network): the decoder's weights as
//! base64 `Float32`, the points as base64 half floats, the JavaScript and the CSS inline.
//! Moving the pointer over the plane sets two coordinates of `z` (the others come from
//! sliders, at 0 = the prior mean by default), runs the decoder in JavaScript and paints the
//! image; two clicks play the straight-line interpolation between the clicked codes.
//!
//! Notebook use: [`Explorer::evcxr_display`] wraps the page in `<iframe srcdoc=...>`. The
//! frame keeps element ids and styles of two explorers on one page apart, and the page
//! inside is an ordinary document, so its script runs wherever the output HTML is rendered
//! unsanitised: a JupyterLab output produced in the current session (trusted), and the HTML
//! that `jupyter nbconvert --to html` writes. A notebook opened untrusted is sanitised by
//! JupyterLab and shows nothing interactive until it is trusted or the cell is re-run.
//!
//! ```
//! use vae_core::explorer::{Activation, DecoderLayer, DecoderSpec, Explorer, OutputKind};
//! let spec = DecoderSpec {
//!     latent_dim: 2,
//!     layers: vec![DecoderLayer::Dense {
//!         weight: vec![0.5; 2 * 4], bias: vec![0.0; 4], in_dim: 2, out_dim: 4,
//!         activation: Activation::Identity,
//!     }],
//!     output: OutputKind::Logits, height: 2, width: 2, conditional_classes: None,
//! };
//! let points = vec![vec![0.0, 1.0], vec![-1.0, 0.5]];
//! let names = vec!["even".to_string(), "odd".to_string()];
//! let ex = Explorer::new(spec, &points, &[0, 1], &names).unwrap().with_title("toy");
//! let html = ex.to_html();
//! assert!(html.starts_with("<!DOCTYPE html>") && html.contains("toy"));
//! assert!(!html.contains("http://") && !html.contains("https://"));
//! ```
use std::path::Path;

use candle_core::Tensor;
use serde_json::{json, Value};

use super::encode::{base64_f16, base64_f32, base64_u32};
use super::spec::{DecoderLayer, DecoderSpec, OutputKind, Shape};
use crate::{Error, Result};

const CSS: &str = include_str!("explorer.css");
const JS: &str = include_str!("explorer.js");

/// Rows of latent codes, `[N, D]`: a candle tensor or plain vectors.
pub trait LatentPoints {
    /// The codes flattened row-major, with `(N, D)`.
    fn rows(&self) -> Result<(Vec<f32>, usize, usize)>;
}

impl LatentPoints for Tensor {
    fn rows(&self) -> Result<(Vec<f32>, usize, usize)> {
        let (n, d) = self.dims2().map_err(|e| {
            Error::Config(format!("explorer points must be a [N, D] tensor, got shape {:?}: {e}", self.dims()))
        })?;
        let flat = self.to_dtype(candle_core::DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        Ok((flat, n, d))
    }
}

impl LatentPoints for [Vec<f32>] {
    fn rows(&self) -> Result<(Vec<f32>, usize, usize)> {
        let d = self.first().map_or(0, Vec::len);
        if let Some((i, r)) = self.iter().enumerate().find(|(_, r)| r.len() != d) {
            return Err(Error::Config(format!(
                "explorer points: row {i} has {} values but row 0 has {d}; every code needs the same length",
                r.len()
            )));
        }
        Ok((self.concat(), self.len(), d))
    }
}

impl LatentPoints for Vec<Vec<f32>> {
    fn rows(&self) -> Result<(Vec<f32>, usize, usize)> {
        self.as_slice().rows()
    }
}

/// Page options; set through the `with_*` methods of [`Explorer`].
#[derive(Clone, Debug)]
pub struct ExplorerOptions {
    /// The page's heading and `<title>`.
    pub title: String,
    /// The two latent dimensions spanning the plane at first (changeable in the page), as
    /// 0-based indices into `z`; the page names dimension `i` z`i + 1`, as the course writes
    /// $z_1, z_2, \dots$.
    pub plane_dims: (usize, usize),
    /// Plane range `[lo, hi]` on both axes; `None` picks a symmetric range covering 99.5 %
    /// of the point coordinates (at least `[-1, 1]`; `[-3, 3]` without points).
    pub range: Option<(f32, f32)>,
    /// At most this many points are embedded (evenly spaced over the input order).
    pub max_points: usize,
    /// Side of the square plane canvas in CSS pixels.
    pub plane_px: usize,
    /// Frames of the interpolation strip.
    pub frames: usize,
}

impl Default for ExplorerOptions {
    fn default() -> Self {
        Self {
            title: "Latent space explorer".into(),
            plane_dims: (0, 1),
            range: None,
            max_points: 3000,
            plane_px: 440,
            frames: 10,
        }
    }
}

/// An interactive latent-space explorer for one decoder and one encoded data set.
#[derive(Clone, Debug)]
pub struct Explorer {
    spec: DecoderSpec,
    points: Vec<f32>,
    dim: usize,
    labels: Vec<u32>,
    class_names: Vec<String>,
    options: ExplorerOptions,
}

fn cfg(msg: String) -> Error {
    Error::Config(format!("explorer: {msg}"))
}

impl Explorer {
    /// `points`: encoded codes `[N, latent_dim]` (e.g. the means of `q(z|x)` on the test
    /// set); `labels`: their classes; `class_names`: names indexed by label (may be empty,
    /// then labels are shown as numbers).
    pub fn new<P: LatentPoints + ?Sized>(
        spec: DecoderSpec,
        points: &P,
        labels: &[u32],
        class_names: &[String],
    ) -> Result<Self> {
        spec.validate()?;
        let (points, n, dim) = points.rows()?;
        if n > 0 && dim != spec.latent_dim {
            return Err(cfg(format!(
                "points have {dim} dimensions but the decoder's latent size is {}; pass the encoder's \
                 mean codes of the same model",
                spec.latent_dim
            )));
        }
        if labels.len() != n {
            return Err(cfg(format!("{n} points but {} labels; give one label per point", labels.len())));
        }
        if points.iter().any(|v| !v.is_finite()) {
            return Err(cfg("the points contain NaN or infinite values (did training diverge?)".into()));
        }
        let classes = labels
            .iter()
            .map(|&l| l as usize + 1)
            .chain(spec.conditional_classes)
            .chain([class_names.len()])
            .max()
            .unwrap_or(0);
        if classes > 1000 {
            return Err(cfg(format!("{classes} classes is more than a legend can show; are these labels?")));
        }
        let class_names = (0..classes).map(|c| class_names.get(c).cloned().unwrap_or_else(|| c.to_string())).collect();
        let options =
            ExplorerOptions { plane_dims: if spec.latent_dim >= 2 { (0, 1) } else { (0, 0) }, ..Default::default() };
        Ok(Self { spec, points, dim: if n > 0 { dim } else { 0 }, labels: labels.to_vec(), class_names, options })
    }

    /// The page's heading and `<title>`.
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.options.title = title.into();
        self
    }

    /// Which two latent dimensions span the plane at first: 0-based indices into `z`, so
    /// `with_plane_dims(0, 1)` is the page's z1 (x) and z2 (y).
    pub fn with_plane_dims(mut self, x: usize, y: usize) -> Result<Self> {
        let d = self.spec.latent_dim;
        if x >= d || y >= d || (x == y && d > 1) {
            return Err(cfg(format!(
                "plane dims ({x}, {y}) must be two different 0-based indices below the latent size {d} \
                 (the page shows index i as z{{i+1}})"
            )));
        }
        self.options.plane_dims = (x, y);
        Ok(self)
    }

    /// The plane spans `[lo, hi]` on both axes.
    pub fn with_range(mut self, lo: f32, hi: f32) -> Result<Self> {
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(cfg(format!("range [{lo}, {hi}] must be finite with lo < hi")));
        }
        self.options.range = Some((lo, hi));
        Ok(self)
    }

    /// At most `max_points` codes go into the page (evenly spaced), to keep its size and
    /// drawing time down.
    pub fn with_max_points(mut self, max_points: usize) -> Self {
        self.options.max_points = max_points;
        self
    }

    /// Side of the plane canvas in pixels (at least 64).
    pub fn with_plane_px(mut self, px: usize) -> Self {
        self.options.plane_px = px.max(64);
        self
    }

    /// Number of frames in the interpolation strip (at least 2).
    pub fn with_frames(mut self, frames: usize) -> Self {
        self.options.frames = frames.max(2);
        self
    }

    /// The options set so far.
    pub fn options(&self) -> &ExplorerOptions {
        &self.options
    }

    /// The decoder the page runs.
    pub fn spec(&self) -> &DecoderSpec {
        &self.spec
    }

    /// Indices of the points that go into the page: all, or `max_points` evenly spaced.
    fn chosen(&self) -> Vec<usize> {
        let n = self.labels.len();
        let m = self.options.max_points.min(n);
        (0..m).map(|i| i * n / m).collect()
    }

    /// The plane range `(lo, hi)` the page uses.
    pub fn range(&self) -> (f32, f32) {
        if let Some(r) = self.options.range {
            return r;
        }
        let mut mags: Vec<f32> = self
            .chosen()
            .iter()
            .flat_map(|&i| &self.points[i * self.dim..(i + 1) * self.dim])
            .map(|v| v.abs())
            .collect();
        if mags.is_empty() {
            return (-3.0, 3.0);
        }
        mags.sort_by(f32::total_cmp);
        let q = mags[((mags.len() - 1) as f64 * 0.995) as usize];
        // Multiples of 0.5 keep tick labels round and the pixel -> z map exact in f64.
        let r = ((q * 1.05) * 2.0).ceil().max(2.0) / 2.0;
        (-r, r)
    }

    /// The latent code the page decodes when the pointer is on plane pixel `(px, py)` with
    /// every slider at its initial 0: the pixel's centre, `y` growing upwards.
    pub fn pixel_to_latent(&self, px: usize, py: usize) -> Vec<f32> {
        let (lo, hi) = self.range();
        let (lo, hi, p) = (f64::from(lo), f64::from(hi), self.options.plane_px as f64);
        let mut z = vec![0f32; self.spec.latent_dim];
        let (dx, dy) = self.options.plane_dims;
        z[dx] = (lo + (px as f64 + 0.5) * (hi - lo) / p) as f32;
        z[dy] = (hi - (py as f64 + 0.5) * (hi - lo) / p) as f32;
        z
    }

    fn data_json(&self) -> Value {
        let shapes = self.spec.shapes().expect("validated in Explorer::new");
        let mut prev = Shape::Flat(self.spec.input_dim());
        let mut layers = Vec::new();
        for (layer, shape) in self.spec.layers.iter().zip(shapes) {
            layers.push(match layer {
                DecoderLayer::Dense { weight, bias, in_dim, out_dim, activation } => {
                    let (act, slope) = activation.js();
                    json!({"type": "dense", "in_dim": in_dim, "out_dim": out_dim, "act": act, "slope": slope,
                           "w": base64_f32(weight), "b": base64_f32(bias)})
                }
                DecoderLayer::Reshape { channels, height, width } => {
                    json!({"type": "reshape", "c": channels, "h": height, "w": width})
                }
                DecoderLayer::ConvTranspose2d {
                    weight,
                    bias,
                    c_in,
                    c_out,
                    kernel,
                    stride,
                    padding,
                    activation,
                    ..
                } => {
                    let (Shape::Map(_, ih, iw), Shape::Map(_, oh, ow)) = (prev, shape) else {
                        unreachable!("validated: ConvTranspose2d maps [C,H,W] to [C,H,W]")
                    };
                    let (act, slope) = activation.js();
                    json!({"type": "convt", "c_in": c_in, "c_out": c_out, "k": kernel, "s": stride, "p": padding,
                           "ih": ih, "iw": iw, "oh": oh, "ow": ow, "act": act, "slope": slope,
                           "w": base64_f32(weight), "b": base64_f32(bias)})
                }
            });
            prev = shape;
        }
        let chosen = self.chosen();
        let xs: Vec<f32> =
            chosen.iter().flat_map(|&i| self.points[i * self.dim..(i + 1) * self.dim].iter().copied()).collect();
        let labels: Vec<u32> = chosen.iter().map(|&i| self.labels[i]).collect();
        let (lo, hi) = self.range();
        json!({
            "title": self.options.title,
            "latent_dim": self.spec.latent_dim,
            "conditional_classes": self.spec.conditional_classes,
            "height": self.spec.height, "width": self.spec.width, "channels": self.spec.channels(),
            "output": match self.spec.output { OutputKind::Logits => "logits", OutputKind::Probabilities => "probabilities" },
            "class_names": self.class_names,
            // f64 of the f32 bounds: the page computes z in f64 exactly as pixel_to_latent does.
            "plane": {"px": self.options.plane_px, "lo": f64::from(lo), "hi": f64::from(hi),
                      "dx": self.options.plane_dims.0, "dy": self.options.plane_dims.1},
            "frames": self.options.frames,
            "points": {"n": chosen.len(), "d": self.dim, "total": self.labels.len(),
                       "xs": base64_f16(&xs), "labels": base64_u32(&labels)},
            "layers": layers,
        })
    }

    fn describe(&self) -> String {
        let mut parts = vec![self.spec.input_dim().to_string()];
        for l in &self.spec.layers {
            parts.push(match l {
                DecoderLayer::Dense { out_dim, .. } => format!("dense {out_dim}"),
                DecoderLayer::Reshape { channels, height, width } => format!("{channels}\u{d7}{height}\u{d7}{width}"),
                DecoderLayer::ConvTranspose2d { c_out, kernel, stride, .. } => {
                    format!("convT {c_out}@{kernel}/{stride}")
                }
            });
        }
        parts.join(" \u{2192} ")
    }

    fn page(&self, size_note: &str) -> String {
        // `<` never appears in JSON outside strings; escaping it keeps `</script>` in a
        // title or class name from ending the data block.
        let data = self.data_json().to_string().replace('<', "\\u003c");
        let t = escape_html(&self.options.title);
        let n = self.chosen().len();
        let total = self.labels.len();
        let cond = self.spec.conditional_classes.is_some();
        let params: usize = self
            .spec
            .layers
            .iter()
            .map(|l| match l {
                DecoderLayer::Dense { weight, bias, .. } | DecoderLayer::ConvTranspose2d { weight, bias, .. } => {
                    weight.len() + bias.len()
                }
                DecoderLayer::Reshape { .. } => 0,
            })
            .sum();
        format!(
            r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t}</title><style>{CSS}</style></head>
<body><div class="wrap">
<h1>{t}</h1>
<div class="sub">Move the pointer over the latent plane to decode <i>z</i> live; click two points to interpolate between them.</div>
<div class="row">
 <div class="panel"><h2>Latent plane</h2>
  <div class="plane" id="plane"><canvas id="points"></canvas><canvas id="overlay" class="top"></canvas></div>
  <div class="legend" id="legend"></div></div>
 <div class="panel"><h2>Decoded</h2>
  <div class="ctrl" id="class-ctl"><label>class <select id="klass"></select></label></div>
  <canvas id="view" class="pix"></canvas>
  <div class="zread" id="zread"></div>
  <div class="hint" id="timing"></div></div>
 <div class="panel" style="max-width:300px"><h2>Interpolation</h2>
  <canvas id="anim" class="pix"></canvas>
  <div class="hint" id="interp-note">Click two points on the plane.</div>
  <div class="ctrl" style="margin-top:6px"><button id="clear" type="button">clear</button></div></div>
</div>
<div class="panel" style="margin-top:14px"><h2>Interpolation frames</h2><div class="strip"><canvas id="strip"></canvas></div></div>
<div class="panel" id="dims-panel" style="margin-top:14px"><h2>Latent dimensions</h2>
 <div class="ctrl">plane x <select id="dimx"></select> y <select id="dimy"></select>
  <span class="hint" style="margin:0">the two plane dimensions follow the pointer; the others stay where the sliders put them</span></div>
 <div class="sliders" id="sliders"></div></div>
<footer>decoder {arch} ({params} parameters{condn}) &middot; {n} of {total} points shown &middot; page size {size_note} &middot; self-contained, no network</footer>
</div>
<script type="application/json" id="explorer-data">{data}</script>
<script>{JS}</script>
</body></html>
"#,
            arch = escape_html(&self.describe()),
            condn = if cond { ", conditional" } else { "" },
        )
    }

    /// The standalone page: one HTML document with everything inline.
    pub fn to_html(&self) -> String {
        // The footer states the page's own size; two passes make the number right.
        let first = self.page("0.00 MB");
        let note = format!("{:.2} MB", first.len() as f64 / 1e6);
        self.page(&note)
    }

    /// The page inside an `<iframe srcdoc>`, for embedding in other HTML (notebook outputs).
    /// The frame resizes itself to its content once its script runs.
    pub fn to_iframe_html(&self) -> String {
        let guess = self.options.plane_px
            + 330
            + if self.spec.latent_dim > 2 { 90 + self.spec.latent_dim.div_ceil(4) * 24 } else { 0 };
        format!(
            "<iframe srcdoc=\"{}\" style=\"width:100%;height:{guess}px;border:0\" title=\"{}\"></iframe>",
            escape_attr(&self.to_html()),
            escape_attr(&self.options.title)
        )
    }

    /// Writes the standalone page to `path`.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, self.to_html()).map_err(|source| Error::Io { path: path.to_path_buf(), source })
    }

    /// Display hook for the evcxr Jupyter kernel: a cell ending in an `Explorer` shows it.
    pub fn evcxr_display(&self) {
        println!("{}", self.evcxr_content());
    }

    /// What [`evcxr_display`](Self::evcxr_display) prints: evcxr's `EVCXR_BEGIN_CONTENT
    /// text/html` ... `EVCXR_END_CONTENT` block around [`to_iframe_html`](Self::to_iframe_html).
    pub fn evcxr_content(&self) -> String {
        format!("EVCXR_BEGIN_CONTENT text/html\n{}\nEVCXR_END_CONTENT", self.to_iframe_html())
    }
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Escapes for a double-quoted attribute: only `&` and `"` matter there.
fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explorer::spec::Activation;
    use crate::rng::Rng;
    use candle_core::Device;

    fn mlp(rng: &mut Rng, latent: usize, hidden: usize) -> DecoderSpec {
        let layer = |rng: &mut Rng, i: usize, o: usize, activation| DecoderLayer::Dense {
            weight: rng.normal_vec(i * o),
            bias: rng.normal_vec(o),
            in_dim: i,
            out_dim: o,
            activation,
        };
        DecoderSpec {
            latent_dim: latent,
            layers: vec![layer(rng, latent, hidden, Activation::Relu), layer(rng, hidden, 784, Activation::Identity)],
            output: OutputKind::Logits,
            height: 28,
            width: 28,
            conditional_classes: None,
        }
    }

    fn names() -> Vec<String> {
        (0..10).map(|d| format!("digit {d}")).collect()
    }

    #[test]
    fn mlp_vae_page_with_5000_points_stays_under_2_mb() {
        let mut rng = Rng::new(1);
        let spec = mlp(&mut rng, 20, 400);
        let z = rng.randn((5000, 20), &Device::Cpu).unwrap();
        let labels: Vec<u32> = (0..5000).map(|i| (i % 10) as u32).collect();
        let ex = Explorer::new(spec, &z, &labels, &names()).unwrap();
        let html = ex.to_html();
        assert!(html.len() < 2_000_000, "page is {} bytes", html.len());
        assert!(html.contains(&format!("page size {:.2} MB", html.len() as f64 / 1e6)));
        assert!(html.contains("3000 of 5000 points shown"));
        // Standalone: nothing may be fetched from anywhere.
        for needle in ["http://", "https://", "src=\"", "<link"] {
            assert!(!html.contains(needle), "page contains {needle}");
        }
    }

    #[test]
    fn iframe_srcdoc_escapes_the_page_and_evcxr_block_wraps_it() {
        let mut rng = Rng::new(2);
        let ex = Explorer::new(mlp(&mut rng, 2, 8), &vec![vec![0.1, 0.2]; 3], &[0, 1, 1], &names())
            .unwrap()
            .with_title("a \"quoted\" </script> & title");
        let frame = ex.to_iframe_html();
        let srcdoc = frame.strip_prefix("<iframe srcdoc=\"").unwrap();
        let end = srcdoc.find('"').unwrap();
        // The first unescaped quote closes the attribute right after the whole page.
        assert!(srcdoc[..end].ends_with("</html>\n"), "srcdoc was cut short");
        assert!(srcdoc[end..].starts_with("\" style="));
        // The page itself keeps the title out of its script and markup.
        let html = ex.to_html();
        assert!(!html.contains("</script> &"));
        assert!(html.contains("a \"quoted\" &lt;/script&gt; &amp; title"));
        let block = ex.evcxr_content();
        assert!(block.starts_with("EVCXR_BEGIN_CONTENT text/html\n<iframe srcdoc="));
        assert!(block.ends_with("</iframe>\nEVCXR_END_CONTENT"));
    }

    #[test]
    fn pixel_to_latent_maps_pixel_centres_with_y_up() {
        let mut rng = Rng::new(3);
        let ex = Explorer::new(mlp(&mut rng, 4, 8), &vec![vec![0.0; 4]; 2], &[0, 1], &[])
            .unwrap()
            .with_range(-2.0, 2.0)
            .unwrap()
            .with_plane_dims(2, 0)
            .unwrap()
            .with_plane_px(400);
        // 0.01 per pixel; z[2] runs along x, z[0] along y (up); other dims stay at 0.
        let close = |a: Vec<f32>, b: [f32; 4]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
        assert!(close(ex.pixel_to_latent(0, 399), [-1.995, 0.0, -1.995, 0.0]));
        assert!(close(ex.pixel_to_latent(200, 0), [1.995, 0.0, 0.005, 0.0]));
    }

    #[test]
    fn auto_range_covers_the_points_in_half_steps() {
        let mut rng = Rng::new(4);
        let pts: Vec<Vec<f32>> = (0..400).map(|i| vec![(i as f32 / 399.0) * 4.0 - 2.0, 0.5]).collect();
        let ex = Explorer::new(mlp(&mut rng, 2, 8), &pts, &vec![0; 400], &[]).unwrap();
        assert_eq!(ex.range(), (-2.5, 2.5));
        let empty: Vec<Vec<f32>> = vec![];
        assert_eq!(Explorer::new(mlp(&mut rng, 2, 8), &empty, &[], &[]).unwrap().range(), (-3.0, 3.0));
    }

    #[test]
    fn bad_inputs_are_errors_that_say_what_to_fix() {
        let mut rng = Rng::new(5);
        let spec = mlp(&mut rng, 2, 8);
        let e = Explorer::new(spec.clone(), &vec![vec![0.0; 3]], &[0], &[]).unwrap_err().to_string();
        assert!(e.contains("points have 3 dimensions but the decoder's latent size is 2"), "{e}");
        let e = Explorer::new(spec.clone(), &vec![vec![0.0; 2]; 2], &[0], &[]).unwrap_err().to_string();
        assert!(e.contains("2 points but 1 labels"), "{e}");
        let e = Explorer::new(spec.clone(), &vec![vec![0.0, 1.0], vec![0.0]], &[0, 0], &[]).unwrap_err().to_string();
        assert!(e.contains("row 1 has 1 values"), "{e}");
        let e = Explorer::new(spec.clone(), &vec![vec![f32::NAN, 0.0]], &[0], &[]).unwrap_err().to_string();
        assert!(e.contains("NaN"), "{e}");
        let ex = Explorer::new(spec, &vec![vec![0.0, 0.0]], &[0], &[]).unwrap();
        assert!(ex.clone().with_plane_dims(1, 1).is_err());
        assert!(ex.clone().with_plane_dims(0, 2).is_err());
        assert!(ex.with_range(1.0, -1.0).is_err());
        let t = Tensor::zeros((2, 2, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(LatentPoints::rows(&t).unwrap_err().to_string().contains("[N, D] tensor"));
    }
}
