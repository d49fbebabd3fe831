//! Showing figures in the evcxr Jupyter kernel, embedding them in HTML, and saving them.
//!
//! evcxr shows a value that ends a cell by calling its `evcxr_display(&self)` method, which
//! prints one block
//!
//! ```text
//! EVCXR_BEGIN_CONTENT <mime type>
//! <content: base64 for binary types, text for text types>
//! EVCXR_END_CONTENT
//! ```
//!
//! on stdout. Image grids use `image/png`, charts `image/svg+xml`. Animations use `text/html`
//! with an `<img src="data:image/gif;base64,...">`: JupyterLab renders `image/gif`, but
//! nbconvert's HTML exporter has no `image/gif` in its display priority and would drop it.
//!
//! A cell shows only one output per MIME type, so to show several figures at once build a
//! [`Panel`]: one `text/html` block that embeds each figure (PNG/GIF as data URIs, SVG inline),
//! self-contained, with no network access needed.
//!
//! ```
//! use candle_core::{Device, Tensor, DType};
//! use vae_core::figures::{Figure, ImageGrid, LossCurves, Panel};
//! let grid = ImageGrid::new(&Tensor::zeros((4, 16), DType::F32, &Device::Cpu)?)?;
//! let curves = LossCurves::new(vec![("train".into(), vec![3.0, 2.0, 1.5])]);
//! let panel = Panel::row().add_titled("samples", &grid).add_titled("loss", &curves);
//! let html = panel.to_html();
//! assert!(html.contains("data:image/png;base64,") && html.contains("<svg"));
//! # Ok::<(), vae_core::Error>(())
//! ```
use super::{Animation, ImageGrid, LatentScatter, LossCurves};
use crate::{Error, Result};
use std::path::Path;

/// A figure that can be embedded in HTML and saved to a file.
pub trait Figure {
    /// A self-contained HTML fragment (no external resources) showing the figure.
    fn to_html(&self) -> String;
    /// Saves the figure; the file extension chooses the format (see each type).
    fn save(&self, path: &Path) -> Result<()>;
}

impl<T: Figure + ?Sized> Figure for &T {
    fn to_html(&self) -> String {
        (**self).to_html()
    }
    fn save(&self, path: &Path) -> Result<()> {
        (**self).save(path)
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 (RFC 4648, with `=` padding, no line breaks).
pub fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Prints one evcxr content block.
pub fn emit(mime: &str, content: &str) {
    println!("EVCXR_BEGIN_CONTENT {mime}\n{content}\nEVCXR_END_CONTENT");
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A complete HTML page around a fragment.
pub fn html_page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n</head>\n\
         <body style=\"font-family: sans-serif; margin: 16px; background: #fff;\">\n{body}\n</body>\n</html>\n",
        escape_html(title)
    )
}

fn err_html(e: &Error) -> String {
    format!("<pre style=\"color:#b00\">{}</pre>", escape_html(&e.to_string()))
}

pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}

fn extension(path: &Path) -> String {
    path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase()
}

fn unsupported(path: &Path, what: &str, allowed: &str) -> Error {
    Error::config(format!("cannot save {what} as {}: unknown file extension; use {allowed}", path.display()))
}

pub(crate) fn save_figure<F: Figure + ?Sized>(fig: &F, path: &Path) -> Result<()> {
    fig.save(path)
}

fn png_img_tag(png: &[u8], alt: &str) -> String {
    format!("<img alt=\"{}\" src=\"data:image/png;base64,{}\">", escape_html(alt), base64(png))
}

// ---- image grids: image/png ----

impl Figure for ImageGrid {
    fn to_html(&self) -> String {
        match self.to_png_bytes() {
            Ok(png) => png_img_tag(&png, "image grid"),
            Err(e) => err_html(&e),
        }
    }
    /// `.png` or `.html`.
    fn save(&self, path: &Path) -> Result<()> {
        match extension(path).as_str() {
            "png" => write_file(path, &self.to_png_bytes()?),
            "html" | "htm" => write_file(path, html_page("figure", &self.to_html()).as_bytes()),
            _ => Err(unsupported(path, "an image grid", ".png or .html")),
        }
    }
}

impl ImageGrid {
    /// Shows the grid as `image/png` in the evcxr Jupyter kernel.
    pub fn evcxr_display(&self) {
        match self.to_png_bytes() {
            Ok(png) => emit("image/png", &base64(&png)),
            Err(e) => emit("text/html", &err_html(&e)),
        }
    }
}

// ---- charts: image/svg+xml ----

/// The SVG document without an XML declaration, ready to inline in HTML.
fn inline_svg(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

macro_rules! svg_figure {
    ($t:ty, $what:literal) => {
        impl Figure for $t {
            fn to_html(&self) -> String {
                match self.to_svg() {
                    Ok(svg) => inline_svg(&svg).to_string(),
                    Err(e) => err_html(&e),
                }
            }
            /// `.svg` or `.html`.
            fn save(&self, path: &Path) -> Result<()> {
                match extension(path).as_str() {
                    "svg" => write_file(path, self.to_svg()?.as_bytes()),
                    "html" | "htm" => write_file(path, html_page($what, &self.to_html()).as_bytes()),
                    _ => Err(unsupported(path, $what, ".svg or .html")),
                }
            }
        }

        impl $t {
            /// Shows the chart as `image/svg+xml` in the evcxr Jupyter kernel.
            pub fn evcxr_display(&self) {
                match self.to_svg() {
                    Ok(svg) => emit("image/svg+xml", inline_svg(&svg)),
                    Err(e) => emit("text/html", &err_html(&e)),
                }
            }
        }
    };
}

svg_figure!(LatentScatter, "latent scatter plot");
svg_figure!(LossCurves, "loss curves");

// ---- animations: text/html with a GIF data URI ----

impl Figure for Animation {
    fn to_html(&self) -> String {
        match self.to_gif_bytes() {
            Ok(gif) => format!("<img alt=\"animation\" src=\"data:image/gif;base64,{}\">", base64(&gif)),
            Err(e) => err_html(&e),
        }
    }
    /// `.gif` or `.html`.
    fn save(&self, path: &Path) -> Result<()> {
        match extension(path).as_str() {
            "gif" => write_file(path, &self.to_gif_bytes()?),
            "html" | "htm" => write_file(path, html_page("animation", &self.to_html()).as_bytes()),
            _ => Err(unsupported(path, "an animation", ".gif or .html")),
        }
    }
}

impl Animation {
    /// Shows the animation in the evcxr Jupyter kernel (as `text/html`, which nbconvert keeps).
    pub fn evcxr_display(&self) {
        emit("text/html", &self.to_html());
    }
}

// ---- panels ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arrangement {
    Row,
    Column,
    Grid(usize),
}

/// Several figures in one HTML block, in a row, a column or a grid, each with an optional title.
/// Figures are rendered when added. A panel is itself a [`Figure`], so panels nest.
#[derive(Debug, Clone)]
pub struct Panel {
    arrangement: Arrangement,
    title: Option<String>,
    items: Vec<(Option<String>, String)>,
}

impl Panel {
    /// Figures side by side.
    pub fn row() -> Self {
        Self { arrangement: Arrangement::Row, title: None, items: Vec::new() }
    }
    /// Figures one below the other.
    pub fn column() -> Self {
        Self { arrangement: Arrangement::Column, title: None, items: Vec::new() }
    }
    /// Figures in a grid with `cols` columns.
    pub fn grid(cols: usize) -> Self {
        Self { arrangement: Arrangement::Grid(cols.max(1)), title: None, items: Vec::new() }
    }
    /// A title above the whole panel.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }
    /// Adds a figure without a title.
    // A builder method, not arithmetic: `Panel::row().add(&a).add(&b)`.
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, figure: &dyn Figure) -> Self {
        self.push(None::<String>, figure);
        self
    }
    /// Adds a figure with a title above it.
    pub fn add_titled(mut self, title: impl Into<String>, figure: &dyn Figure) -> Self {
        self.push(Some(title), figure);
        self
    }
    /// Adds a figure in place (for loops).
    pub fn push(&mut self, title: Option<impl Into<String>>, figure: &dyn Figure) {
        self.items.push((title.map(Into::into), figure.to_html()));
    }
    /// Number of figures.
    pub fn len(&self) -> usize {
        self.items.len()
    }
    /// True when the panel holds no figures.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    /// Shows the panel as one `text/html` block in the evcxr Jupyter kernel.
    pub fn evcxr_display(&self) {
        emit("text/html", &self.to_html());
    }
    /// Saves the panel as a self-contained `.html` page.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        Figure::save(self, path.as_ref())
    }
}

/// Inline style that lets an `<img>` or `<svg>` shrink to its panel cell, keeping its aspect
/// ratio (plotters' SVGs carry a `viewBox`). A style attribute, not a `<style>` sheet: JupyterLab
/// strips `<style>` from the outputs of an untrusted notebook but keeps style attributes.
const FIT_STYLE: &str = " style=\"max-width: 100%; height: auto; display: block;\"";

/// `body` with [`FIT_STYLE`] on its outer element when that is an image or a chart; a nested
/// panel fits by itself, and other fragments (an error message) are left as they are.
fn fit_to_cell(body: &str) -> String {
    for tag in ["<img", "<svg"] {
        if let Some(rest) = body.strip_prefix(tag) {
            if rest.starts_with(char::is_whitespace) && !rest.split('>').next().unwrap_or("").contains("style=") {
                return format!("{tag}{FIT_STYLE}{rest}");
            }
        }
    }
    body.to_string()
}

impl Figure for Panel {
    fn to_html(&self) -> String {
        // Each column at most as wide as its figure but allowed to shrink to fit the notebook's
        // output area (with plain `max-content` a row of wide figures scrolled off the side).
        let columns = match self.arrangement {
            Arrangement::Row => format!("repeat({}, minmax(0, max-content))", self.items.len().max(1)),
            Arrangement::Column => "minmax(0, max-content)".to_string(),
            Arrangement::Grid(c) => format!("repeat({c}, minmax(0, max-content))"),
        };
        let mut html = String::from(
            "<div class=\"vae-panel\" style=\"font-family: sans-serif; color: #222; max-width: 100%;\">\n",
        );
        if let Some(t) = &self.title {
            html += &format!(
                "<div style=\"font-size: 1.15em; font-weight: bold; margin: 4px 0 8px 0;\">{}</div>\n",
                escape_html(t)
            );
        }
        html += &format!(
            "<div style=\"display: grid; grid-template-columns: {columns}; gap: 16px; align-items: start;\">\n"
        );
        for (title, body) in &self.items {
            html += "<figure style=\"margin: 0; min-width: 0;\">\n";
            if let Some(t) = title {
                html += &format!(
                    "<figcaption style=\"font-size: 0.95em; margin-bottom: 4px;\">{}</figcaption>\n",
                    escape_html(t)
                );
            }
            html += &fit_to_cell(body);
            html += "\n</figure>\n";
        }
        html += "</div>\n</div>";
        html
    }
    /// `.html` only.
    fn save(&self, path: &Path) -> Result<()> {
        match extension(path).as_str() {
            "html" | "htm" => {
                write_file(path, html_page(self.title.as_deref().unwrap_or("figures"), &self.to_html()).as_bytes())
            }
            _ => Err(unsupported(path, "a panel", ".html")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Tensor};

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn panel_columns_may_shrink_and_its_images_and_charts_scale_down() {
        let grid = ImageGrid::new(&Tensor::zeros((2, 4), DType::F32, &Device::Cpu).unwrap()).unwrap();
        let curves = LossCurves::new(vec![("a".into(), vec![1.0, 0.5])]);
        for (panel, columns) in [
            (Panel::row().add(&grid).add(&curves), "repeat(2, minmax(0, max-content))"),
            (Panel::column().add(&grid), "grid-template-columns: minmax(0, max-content);"),
            (Panel::grid(3).add(&grid), "repeat(3, minmax(0, max-content))"),
        ] {
            let html = panel.to_html();
            assert!(html.contains(columns), "{html}");
        }
        let html = Panel::row().add(&grid).add_titled("t", &curves).add(&Panel::column().add(&grid)).to_html();
        assert_eq!(
            html.matches("<img style=\"max-width: 100%; height: auto; display: block;\" alt=").count(),
            2,
            "{html}"
        );
        assert_eq!(html.matches("<svg style=\"max-width: 100%; height: auto; display: block;\" width=").count(), 1);
        assert!(html.contains("viewBox="), "an inline SVG scales only with a viewBox");
        assert_eq!(fit_to_cell("<pre>error</pre>"), "<pre>error</pre>");
        assert_eq!(fit_to_cell("<img style=\"x\" src=\"a\">"), "<img style=\"x\" src=\"a\">");
    }

    #[test]
    fn panel_embeds_every_figure_and_saves_html() {
        let grid = ImageGrid::new(&Tensor::zeros((2, 4), DType::F32, &Device::Cpu).unwrap()).unwrap();
        let curves = LossCurves::new(vec![("a<b".into(), vec![1.0, 0.5])]);
        let inner = Panel::column().add(&grid);
        let panel = Panel::grid(2).title("Run & results").add_titled("grid", &grid).add(&curves).add(&inner);
        let html = panel.to_html();
        assert_eq!(html.matches("data:image/png;base64,").count(), 2);
        assert_eq!(html.matches("<svg").count(), 1);
        assert!(html.contains("Run &amp; results"));
        assert!(!html.contains("<?xml"), "inline SVG must not carry an XML declaration");
        assert!(!html.contains("http://") || html.matches("http://").all(|_| html.contains("xmlns")));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/panel.html");
        panel.save(&path).unwrap();
        let page = std::fs::read_to_string(&path).unwrap();
        assert!(page.starts_with("<!DOCTYPE html>") && page.contains(&html));
        assert!(panel.save(dir.path().join("panel.png")).unwrap_err().to_string().contains(".html"));
    }
}
