//! Loss curves: one line per series (train/test loss, reconstruction vs KL), by epoch.
//!
//! Epochs are numbered from 1. Non-finite values (a diverged epoch) are left out of the line
//! rather than breaking the chart. With [`LossCurves::log_y`] the y axis is logarithmic, which
//! keeps a large reconstruction term and a small KL term readable on one chart.
//!
//! ```
//! use vae_core::figures::LossCurves;
//! let svg = LossCurves::new(vec![
//!     ("train".to_string(), vec![180.0, 140.0, 120.0]),
//!     ("test".to_string(), vec![170.0, 138.0, 125.0]),
//! ])
//! .title("ELBO loss")
//! .to_svg()?;
//! assert!(svg.contains("train") && svg.contains("epoch"));
//! # Ok::<(), vae_core::Error>(())
//! ```
use super::chart::{self, plot_err};
use crate::Result;
use plotters::prelude::*;

/// Per-epoch series drawn as an SVG line chart with a legend and axis labels.
#[derive(Debug, Clone)]
pub struct LossCurves {
    series: Vec<(String, Vec<f64>)>,
    title: Option<String>,
    x_label: String,
    y_label: String,
    log_y: bool,
    size: (u32, u32),
    x_ticks: Option<Vec<String>>,
}

impl LossCurves {
    /// Named series; value `k` of a series belongs to epoch `k + 1`.
    pub fn new(series: Vec<(String, Vec<f64>)>) -> Self {
        Self {
            series,
            title: None,
            x_label: "epoch".into(),
            y_label: "loss".into(),
            log_y: false,
            size: (760, 440),
            x_ticks: None,
        }
    }

    /// Adds one series.
    pub fn series(mut self, name: impl Into<String>, values: Vec<f64>) -> Self {
        self.series.push((name.into(), values));
        self
    }

    /// Chart title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// x axis label (default "epoch").
    pub fn x_label(mut self, label: impl Into<String>) -> Self {
        self.x_label = label.into();
        self
    }

    /// y axis label (default "loss").
    pub fn y_label(mut self, label: impl Into<String>) -> Self {
        self.y_label = label.into();
        self
    }

    /// Logarithmic y axis; values <= 0 are then left out.
    pub fn log_y(mut self, on: bool) -> Self {
        self.log_y = on;
        self
    }

    /// Names the points on the x axis instead of numbering them: value `k` of each series is
    /// drawn at position `k + 1` and labelled `labels[k]`. For series over a parameter that is
    /// not an epoch, e.g. `K = 1, 5, 50, 500` (evenly spaced, each point labelled with its `K`).
    pub fn x_ticks(mut self, labels: Vec<String>) -> Self {
        self.x_ticks = Some(labels);
        self
    }

    /// Size of the SVG in pixels (default 760x440).
    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.size = (width.max(200), height.max(150));
        self
    }

    /// The series as given.
    pub fn data(&self) -> &[(String, Vec<f64>)] {
        &self.series
    }

    /// Renders the chart as an SVG document.
    pub fn to_svg(&self) -> Result<String> {
        let log = self.log_y;
        let y_of = move |v: f64| -> Option<f64> {
            match (v.is_finite(), log) {
                (false, _) => None,
                (true, false) => Some(v),
                (true, true) => (v > 0.0).then(|| v.log10()),
            }
        };
        let epochs = self.series.iter().map(|(_, v)| v.len()).max().unwrap_or(0).max(1) as i32;
        let (y0, y1) = chart::padded_range(self.series.iter().flat_map(|(_, v)| v.iter().filter_map(|&x| y_of(x))));
        let names: Vec<String> = self.series.iter().map(|(n, _)| n.clone()).collect();
        let (w, h) = self.size;
        let legend_w = chart::legend_width(&names);
        let err = plot_err("loss curves");
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
            root.fill(&WHITE).map_err(&err)?;
            let (plot, legend) = root.split_horizontally(w.saturating_sub(legend_w));
            let mut builder = ChartBuilder::on(&plot);
            builder.margin(12).x_label_area_size(44).y_label_area_size(72);
            if let Some(t) = &self.title {
                builder.caption(t, ("sans-serif", 24));
            }
            let x_range = if epochs == 1 { 0..2 } else { 1..epochs };
            let x_fmt = |x: &i32| -> String {
                match &self.x_ticks {
                    Some(names) => usize::try_from(*x - 1).ok().and_then(|k| names.get(k)).cloned().unwrap_or_default(),
                    None => x.to_string(),
                }
            };
            let y_fmt = |v: &f64| -> String {
                let a = v.abs();
                if log && a > 0.0 {
                    // Label only 1, 2 and 5 times a power of ten; the other ticks stay as grid lines.
                    let m = a / 10f64.powf(a.log10().floor());
                    if ![1.0, 2.0, 5.0, 10.0].iter().any(|k| (m - k).abs() < 1e-6 * k) {
                        return String::new();
                    }
                }
                if a != 0.0 && !(1e-3..1e5).contains(&a) {
                    format!("{v:.1e}")
                } else if a >= 100.0 {
                    format!("{v:.0}")
                } else {
                    format!("{v:.3}").trim_end_matches('0').trim_end_matches('.').to_string()
                }
            };
            // Same drawing code for a linear and a logarithmic y axis (different coordinate types).
            macro_rules! draw {
                ($y_range:expr, $y_desc:expr) => {{
                    let mut chart = builder.build_cartesian_2d(x_range, $y_range).map_err(&err)?;
                    chart
                        .configure_mesh()
                        .x_desc(self.x_label.as_str())
                        .y_desc($y_desc)
                        .x_labels(epochs.clamp(2, 12) as usize)
                        .x_label_formatter(&x_fmt)
                        .y_label_formatter(&y_fmt)
                        .axis_desc_style(("sans-serif", 18))
                        .label_style(("sans-serif", 15))
                        .max_light_lines(1)
                        .light_line_style(RGBColor(245, 245, 245))
                        .bold_line_style(RGBColor(225, 225, 225))
                        .draw()
                        .map_err(&err)?;
                    for (k, (_, values)) in self.series.iter().enumerate() {
                        let c = chart::color(k);
                        let pts: Vec<(i32, f64)> = values
                            .iter()
                            .enumerate()
                            .filter(|(_, v)| v.is_finite() && (!log || **v > 0.0))
                            .map(|(i, &v)| (i as i32 + 1, v))
                            .collect();
                        chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2))).map_err(&err)?;
                        if pts.len() <= 40 {
                            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled()))).map_err(&err)?;
                        }
                    }
                }};
            }
            if log {
                draw!((10f64.powf(y0)..10f64.powf(y1)).log_scale(), format!("{} (log scale)", self.y_label));
            } else {
                draw!(y0..y1, self.y_label.clone());
            }
            chart::draw_legend(&legend, None, &names, true).map_err(&err)?;
            root.present().map_err(&err)?;
        }
        Ok(svg)
    }

    /// Saves as `.svg` or `.html`.
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        super::Figure::save(self, path.as_ref())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Fails unless `xml` is well-formed: balanced, properly nested tags, quoted attributes
    /// without raw `<`, valid entity references, one root element.
    pub(crate) fn assert_well_formed_xml(xml: &str) {
        let valid_entity = |s: &str| -> bool {
            let end = match s.find(';') {
                Some(e) => e,
                None => return false,
            };
            let name = &s[1..end];
            matches!(name, "amp" | "lt" | "gt" | "quot" | "apos")
                || (name.starts_with("#x") && name.len() > 2 && name[2..].chars().all(|c| c.is_ascii_hexdigit()))
                || (name.starts_with('#') && name.len() > 1 && name[1..].chars().all(|c| c.is_ascii_digit()))
        };
        let check_text = |t: &str| {
            assert!(!t.contains('<'), "raw '<' in text: {t:?}");
            for (i, _) in t.match_indices('&') {
                assert!(valid_entity(&t[i..]), "bad entity in {:?}", &t[i..(i + 10).min(t.len())]);
            }
        };
        let mut stack: Vec<String> = Vec::new();
        let mut roots = 0;
        let mut rest = xml;
        while let Some(lt) = rest.find('<') {
            check_text(&rest[..lt]);
            rest = &rest[lt..];
            if rest.starts_with("<?") {
                rest = &rest[rest.find("?>").expect("unterminated <?") + 2..];
            } else if rest.starts_with("<!--") {
                rest = &rest[rest.find("-->").expect("unterminated comment") + 3..];
            } else if let Some(close) = rest.strip_prefix("</") {
                let gt = close.find('>').expect("unterminated end tag");
                let name = close[..gt].trim();
                assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
                rest = &close[gt + 1..];
            } else {
                let body = &rest[1..];
                let name_end = body.find(|c: char| c.is_whitespace() || c == '>' || c == '/').expect("tag");
                let name = &body[..name_end];
                assert!(
                    !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || "-_:.".contains(c)),
                    "bad tag name {name:?}"
                );
                let mut attrs = &body[name_end..];
                loop {
                    attrs = attrs.trim_start();
                    if let Some(r) = attrs.strip_prefix("/>") {
                        if stack.is_empty() {
                            roots += 1;
                        }
                        rest = r;
                        break;
                    }
                    if let Some(r) = attrs.strip_prefix('>') {
                        if stack.is_empty() {
                            roots += 1;
                        }
                        stack.push(name.to_string());
                        rest = r;
                        break;
                    }
                    let eq = attrs.find('=').expect("attribute without value");
                    let an = attrs[..eq].trim();
                    assert!(
                        !an.is_empty() && an.chars().all(|c| c.is_alphanumeric() || "-_:.".contains(c)),
                        "bad attribute {an:?}"
                    );
                    let after = attrs[eq + 1..].trim_start();
                    let q = after.chars().next().expect("attribute value");
                    assert!(q == '"' || q == '\'', "unquoted attribute {an}");
                    let vend = after[1..].find(q).expect("unterminated attribute value");
                    check_text(&after[1..1 + vend]);
                    attrs = &after[vend + 2..];
                }
            }
        }
        check_text(rest);
        assert!(stack.is_empty(), "unclosed elements {stack:?}");
        assert_eq!(roots, 1, "expected exactly one root element");
    }

    #[test]
    fn the_xml_check_rejects_broken_documents() {
        assert_well_formed_xml("<?xml version=\"1.0\"?><svg a=\"1\"><g><text>a &amp; b</text></g><rect/></svg>");
        for bad in ["<svg><g></svg>", "<svg a=1></svg>", "<svg>a & b</svg>", "<a></a><b></b>", "<svg>"] {
            assert!(std::panic::catch_unwind(|| assert_well_formed_xml(bad)).is_err(), "accepted {bad}");
        }
    }

    #[test]
    fn svg_has_legend_axis_labels_and_one_polyline_per_series() {
        let curves = LossCurves::new(vec![
            ("train loss".into(), vec![200.0, 150.0, 130.0, 125.0]),
            ("test loss".into(), vec![190.0, 155.0, f64::NAN, 128.0]),
        ])
        .series("KL <term>", vec![5.0, 8.0, 9.0, 9.5])
        .title("VAE on MNIST")
        .y_label("nats per image");
        let svg = curves.to_svg().unwrap();
        assert_well_formed_xml(&svg);
        for label in ["train loss", "test loss", "KL &lt;term&gt;", "VAE on MNIST", "epoch", "nats per image"] {
            assert!(svg.contains(label), "{label} missing");
        }
        std::fs::write(std::env::temp_dir().join("vae-curves-test.svg"), &svg).unwrap();
        // One polyline per series in its palette colour with the series' stroke width 2, plus
        // the legend's line markers (width 3).
        for k in 0..3 {
            let (r, g, b) = chart::PALETTE[k];
            let colour = format!("#{r:02X}{g:02X}{b:02X}");
            let lines = svg.lines().filter(|l| l.starts_with("<polyline") && l.contains(&colour));
            assert_eq!(lines.filter(|l| l.contains("stroke-width=\"2\"")).count(), 1, "series {k}");
        }
        // 4 + 3 (NaN left out) + 4 markers.
        assert_eq!(svg.matches("<circle").count(), 11);
        let log = curves.log_y(true).to_svg().unwrap();
        assert_well_formed_xml(&log);
        assert!(log.contains("(log scale)"));
    }

    #[test]
    fn x_ticks_label_the_points_instead_of_epoch_numbers() {
        let plain = LossCurves::new(vec![("-L_K".into(), vec![99.0, 97.0, 96.0])]).x_label("K");
        let named = plain.clone().x_ticks(vec!["1".into(), "50".into(), "5000".into()]);
        let (plain, named) = (plain.to_svg().unwrap(), named.to_svg().unwrap());
        assert_well_formed_xml(&named);
        // plotters writes a label as `<text ...>`, the text and `</text>` on three lines.
        let tick = |svg: &str, t: &str| svg.contains(&format!(">\n{t}\n</text>"));
        assert!(tick(&named, "5000") && tick(&named, "50") && !tick(&named, "3"), "{named}");
        assert!(tick(&plain, "3") && !tick(&plain, "5000"));
    }

    #[test]
    fn empty_and_single_epoch_series_still_render() {
        assert_well_formed_xml(&LossCurves::new(vec![]).to_svg().unwrap());
        assert_well_formed_xml(&LossCurves::new(vec![("a".into(), vec![1.0])]).to_svg().unwrap());
    }
}

impl LossCurves {
    /// Train and test loss per epoch of a training run.
    pub fn from_history(h: &crate::training::History) -> Self {
        let mut c = Self::new(vec![("train loss".into(), h.train_loss())]);
        if h.epochs.iter().all(|e| e.test_loss.is_some()) && !h.epochs.is_empty() {
            c = c.series("test loss", h.test_loss());
        }
        c
    }

    /// The two terms of the negative ELBO per epoch: reconstruction and KL.
    pub fn recon_vs_kl(h: &crate::training::History) -> Self {
        Self::new(vec![("reconstruction".into(), h.train_recon()), ("KL".into(), h.train_kl())])
            .title("reconstruction vs KL (train, per image)")
    }
}

impl From<&crate::training::History> for LossCurves {
    fn from(h: &crate::training::History) -> Self {
        Self::from_history(h)
    }
}
