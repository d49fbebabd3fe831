//! Loss curves: one line per series (train/test loss, reconstruction vs KL), by epoch.
//!
//! Epochs are numbered from 1. Non-finite values (a diverged epoch) are left out of the line
//! rather than breaking the chart. With [`LossCurves::log_y`] the y axis is logarithmic, which
//! keeps a large reconstruction term and a small KL term readable on one chart. For series over
//! something other than epochs, [`LossCurves::x_values`] places the points (on a logarithmic axis
//! with [`LossCurves::log_x`], e.g. a bound against its number of samples `K = 1, 5, 50, 500`).
//! The legend is drawn for two or more series; a single series is named by the title.
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
    x_values: Option<Vec<f64>>,
    log_x: bool,
    y_from_zero: bool,
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
            x_values: None,
            log_x: false,
            y_from_zero: false,
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

    /// Starts the y axis at zero (when no value is negative) instead of just below the smallest
    /// value: an autoscaled axis turns any small drift into a line from corner to corner, so a
    /// term that should read as small next to a bigger one needs its zero. Ignored with
    /// [`log_y`](Self::log_y).
    pub fn y_from_zero(mut self, on: bool) -> Self {
        self.y_from_zero = on;
        self
    }

    /// Names the points on the x axis instead of numbering them: value `k` of each series is
    /// drawn at position `k + 1` and labelled `labels[k]`. The points are evenly spaced whatever
    /// the labels say; for a numeric parameter use [`x_values`](Self::x_values).
    pub fn x_ticks(mut self, labels: Vec<String>) -> Self {
        self.x_ticks = Some(labels);
        self
    }

    /// Places value `k` of each series at `x = xs[k]` instead of epoch `k + 1` (values past the
    /// end of `xs`, and non-finite `xs`, are left out). Overrides [`x_ticks`](Self::x_ticks).
    pub fn x_values(mut self, xs: Vec<f64>) -> Self {
        self.x_values = Some(xs);
        self
    }

    /// Logarithmic x axis (ticks labelled at 1, 2 and 5 times powers of ten); x values <= 0 are
    /// then left out. Without [`x_values`](Self::x_values) the x values are the epochs.
    pub fn log_x(mut self, on: bool) -> Self {
        self.log_x = on;
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
        let (log_x, log_y) = (self.log_x, self.log_y);
        let y_ok = move |v: f64| v.is_finite() && (!log_y || v > 0.0);
        let epochs = self.series.iter().map(|(_, v)| v.len()).max().unwrap_or(0).max(1);
        // Numeric x positions (x_values, or the epochs on a log axis); `None`: integer epochs.
        let xs: Option<Vec<f64>> = match (&self.x_values, log_x) {
            (Some(xs), _) => Some(xs.clone()),
            (None, true) => Some((1..=epochs).map(|e| e as f64).collect()),
            (None, false) => None,
        };
        let x_ok = move |x: f64| x.is_finite() && (!log_x || x > 0.0);
        let ys = || self.series.iter().flat_map(|(_, v)| v.iter().copied().filter(|&y| y_ok(y)));
        let (y0, y1) = if self.y_from_zero && !log_y {
            let (lo, hi) = chart::padded_range(ys().chain([0.0]));
            // The padding below zero would only show empty negative ticks under a loss.
            (if ys().all(|y| y >= 0.0) { 0.0 } else { lo }, hi)
        } else {
            axis_range(ys(), log_y)
        };
        let (x0, x1) = match &xs {
            Some(xs) => axis_range(xs.iter().copied().filter(|&x| x_ok(x)), log_x),
            None => (0.0, 0.0),
        };
        let names: Vec<String> = self.series.iter().map(|(n, _)| n.clone()).collect();
        let (w, h) = self.size;
        let legend_w = if names.len() > 1 { chart::legend_width(&names) } else { 0 };
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
            let epoch_range = if epochs == 1 { 0..2 } else { 1..epochs as i32 };
            let epoch_fmt = |x: &i32| -> String {
                match &self.x_ticks {
                    Some(names) => usize::try_from(*x - 1).ok().and_then(|k| names.get(k)).cloned().unwrap_or_default(),
                    None => x.to_string(),
                }
            };
            let x_fmt = |v: &f64| tick_label(*v, log_x);
            let y_fmt = |v: &f64| tick_label(*v, log_y);
            let x_labels = if log_x { 12 } else { epochs.clamp(2, 12) };
            // The same drawing code for every pair of axis types (each a different plotters type).
            macro_rules! draw {
                ($x_range:expr, $x_fmt:expr, $x_of:expr, $y_range:expr) => {{
                    let y_desc = if log_y { log_scale_label(&self.y_label) } else { self.y_label.clone() };
                    let x_desc = if log_x { log_scale_label(&self.x_label) } else { self.x_label.clone() };
                    let mut chart = builder.build_cartesian_2d($x_range, $y_range).map_err(&err)?;
                    chart
                        .configure_mesh()
                        .x_desc(x_desc)
                        .y_desc(y_desc)
                        .x_labels(x_labels)
                        .x_label_formatter(&$x_fmt)
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
                        let pts: Vec<_> = values
                            .iter()
                            .enumerate()
                            .filter(|&(_, &v)| y_ok(v))
                            .filter_map(|(i, &v)| $x_of(i).map(|x| (x, v)))
                            .collect();
                        chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2))).map_err(&err)?;
                        if pts.len() <= 40 {
                            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled()))).map_err(&err)?;
                        }
                    }
                }};
            }
            let epoch_of = |i: usize| Some(i as i32 + 1);
            let x_of = |i: usize| xs.as_ref().and_then(|xs| xs.get(i).copied()).filter(|&x| x_ok(x));
            match (xs.is_some(), log_x, log_y) {
                (false, _, false) => draw!(epoch_range, epoch_fmt, epoch_of, y0..y1),
                (false, _, true) => draw!(epoch_range, epoch_fmt, epoch_of, (y0..y1).log_scale()),
                (true, false, false) => draw!(x0..x1, x_fmt, x_of, y0..y1),
                (true, false, true) => draw!(x0..x1, x_fmt, x_of, (y0..y1).log_scale()),
                (true, true, false) => draw!((x0..x1).log_scale(), x_fmt, x_of, y0..y1),
                (true, true, true) => draw!((x0..x1).log_scale(), x_fmt, x_of, (y0..y1).log_scale()),
            }
            if names.len() > 1 {
                chart::draw_legend(&legend, None, &names, true).map_err(&err)?;
            }
            root.present().map_err(&err)?;
        }
        Ok(svg)
    }

    /// Saves as `.svg` or `.html`.
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        super::Figure::save(self, path.as_ref())
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

/// The padded range of an axis over `values`, padded in the axis' own units (decades on a log
/// axis, where every value must be positive).
fn axis_range(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    if log {
        let (a, b) = chart::padded_range(values.map(f64::log10));
        (10f64.powf(a), 10f64.powf(b))
    } else {
        chart::padded_range(values)
    }
}

/// The axis label with "log scale" added: inside a closing parenthesis the label already has,
/// "K (samples per image, log scale)", rather than a second pair of parentheses.
fn log_scale_label(label: &str) -> String {
    match label.strip_suffix(')') {
        Some(head) if head.contains('(') => format!("{head}, log scale)"),
        _ => format!("{label} (log scale)"),
    }
}

/// A tick label: on a log axis only 1, 2 and 5 times a power of ten are labelled (the other
/// ticks stay as grid lines); very large or small values in exponent form.
fn tick_label(v: f64, log: bool) -> String {
    let a = v.abs();
    if log && a > 0.0 {
        let m = a / 10f64.powf(a.log10().floor());
        if ![1.0, 2.0, 5.0, 10.0].iter().any(|k| (m - k).abs() < 1e-6 * k) {
            return String::new();
        }
    }
    if a != 0.0 && !(1e-3..1e5).contains(&a) {
        format!("{v:.1e}")
    } else if (v - v.round()).abs() < 1e-9 * a.max(1.0) {
        format!("{v:.0}")
    } else {
        format!("{v:.3}").trim_end_matches('0').trim_end_matches('.').to_string()
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

    /// The `cx` of every `<circle>` (the point markers), in document order.
    fn circle_xs(svg: &str) -> Vec<f64> {
        svg.split("<circle")
            .skip(1)
            .map(|c| c.split("cx=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap())
            .collect()
    }

    #[test]
    fn x_values_place_the_points_and_log_x_spaces_them_by_decades() {
        let ks = vec![1.0, 5.0, 50.0, 500.0];
        let curves = LossCurves::new(vec![("-L_K".into(), vec![99.0, 97.5, 96.8, 96.5])]).x_label("K").x_values(ks);
        let log = curves.clone().log_x(true).to_svg().unwrap();
        assert_well_formed_xml(&log);
        let cx = circle_xs(&log);
        assert_eq!(cx.len(), 4, "{log}");
        // On a log axis 1 -> 5 is log10(5) = 0.70 of the decade 5 -> 50.
        let (first, decade) = (cx[1] - cx[0], cx[2] - cx[1]);
        assert!((first / decade - 5f64.log10()).abs() < 0.02, "{cx:?}");
        assert!(((cx[3] - cx[2]) / decade - 1.0).abs() < 0.02, "{cx:?}");
        let tick = |svg: &str, t: &str| svg.contains(&format!(">\n{t}\n</text>"));
        assert!(tick(&log, "1") && tick(&log, "10") && tick(&log, "100") && log.contains("K (log scale)"), "{log}");
        // On a linear axis the same values are spaced by their differences (450 vs 45; whole pixels).
        let cx = circle_xs(&curves.to_svg().unwrap());
        assert!(((cx[3] - cx[2]) / (cx[2] - cx[1]) - 10.0).abs() < 0.3, "{cx:?}");
        // Values past the end of xs, and non-positive xs on a log axis, are left out.
        let short = LossCurves::new(vec![("a".into(), vec![1.0, 2.0, 3.0])]).x_values(vec![0.0, 10.0]).log_x(true);
        assert_eq!(circle_xs(&short.to_svg().unwrap()).len(), 1);
    }

    #[test]
    fn log_scale_joins_a_parenthesis_the_label_already_has() {
        assert_eq!(log_scale_label("K"), "K (log scale)");
        assert_eq!(log_scale_label("K (samples per image)"), "K (samples per image, log scale)");
        assert_eq!(log_scale_label("f(x)"), "f(x, log scale)");
        assert_eq!(log_scale_label(":)"), ":) (log scale)");
        let svg =
            LossCurves::new(vec![("a".into(), vec![3.0, 2.0])]).x_label("K (samples)").log_x(true).to_svg().unwrap();
        assert!(svg.contains("K (samples, log scale)") && !svg.contains(") (log"), "{svg}");
    }

    /// The `cy` of every `<circle>`, in document order.
    fn circle_ys(svg: &str) -> Vec<f64> {
        svg.split("<circle")
            .skip(1)
            .map(|c| c.split("cy=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap())
            .collect()
    }

    #[test]
    fn y_from_zero_shows_a_small_drift_as_small() {
        let kl = LossCurves::new(vec![("KL".into(), vec![5.4, 5.7, 5.9, 6.2])]);
        let spread = |svg: &str| {
            let cy = circle_ys(svg);
            cy[0] - cy[cy.len() - 1]
        };
        let tick = |svg: &str, t: &str| svg.contains(&format!(">\n{t}\n</text>"));
        let (auto, zero) = (kl.to_svg().unwrap(), kl.clone().y_from_zero(true).to_svg().unwrap());
        assert_well_formed_xml(&zero);
        assert!(tick(&zero, "0") && !tick(&auto, "0"), "{zero}");
        // 0.8 of 6.2 nats: an eighth of the height that the autoscaled axis gives it.
        assert!(spread(&zero) > 0.0 && spread(&zero) < spread(&auto) / 5.0, "{} vs {}", spread(&zero), spread(&auto));
        // Negative values keep their padded range; a log axis ignores the option.
        let neg = LossCurves::new(vec![("a".into(), vec![-1.0, 2.0])]).y_from_zero(true).to_svg().unwrap();
        assert!(tick(&neg, "-1"), "{neg}");
        assert_well_formed_xml(&kl.y_from_zero(true).log_y(true).to_svg().unwrap());
    }

    #[test]
    fn a_single_series_has_no_legend_two_do() {
        let one = LossCurves::new(vec![("lonely series".into(), vec![3.0, 2.0])]).title("t").to_svg().unwrap();
        assert!(!one.contains("lonely series"), "{one}");
        let two = LossCurves::new(vec![("a series".into(), vec![3.0, 2.0]), ("b series".into(), vec![4.0, 1.0])]);
        let two = two.to_svg().unwrap();
        assert!(two.contains("a series") && two.contains("b series"));
    }

    #[test]
    fn empty_and_single_epoch_series_still_render() {
        assert_well_formed_xml(&LossCurves::new(vec![]).to_svg().unwrap());
        assert_well_formed_xml(&LossCurves::new(vec![("a".into(), vec![1.0])]).to_svg().unwrap());
    }
}
