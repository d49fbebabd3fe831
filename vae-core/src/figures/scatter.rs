//! The encoded test set as a scatter plot in latent space, coloured by class.
//!
//! For a 2-D latent space the axes are the code's two coordinates `z1`, `z2`. For `D > 2` the
//! codes are projected onto their first two principal components ([`pca_2d`]): centre the codes,
//! take the covariance `C = Zc^T Zc / N`, and project on the eigenvectors of the two largest
//! eigenvalues `l1 >= l2`; the axis labels report the explained variance ratios `l_k / trace(C)`.
//! (Or pick two coordinates with [`LatentScatter::dims`].) Eigenvectors come from the cyclic
//! Jacobi method, exact enough for the small `D` of a latent space.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use vae_core::figures::LatentScatter;
//! let z = Tensor::new(&[[0f32, 0.], [1., 1.], [2., 0.5], [3., 2.]], &Device::Cpu)?;
//! let labels = Tensor::new(&[0u32, 1, 0, 1], &Device::Cpu)?;
//! let svg = LatentScatter::new(&z, &labels)?.class_names(["zero", "one"]).to_svg()?;
//! assert!(svg.contains(">zero<") || svg.contains("zero\n"));
//! # Ok::<(), vae_core::Error>(())
//! ```
use super::chart::{self, plot_err};
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use plotters::prelude::*;

/// Codes `[N, D]` with class labels, drawn as an SVG scatter plot with a legend.
#[derive(Debug, Clone)]
pub struct LatentScatter {
    codes: Vec<Vec<f32>>,
    labels: Vec<usize>,
    class_names: Vec<String>,
    dims: Option<(usize, usize)>,
    title: Option<String>,
    size: (u32, u32),
    max_points: usize,
    point_size: u32,
    limits: Option<((f64, f64), (f64, f64))>,
    prior_circles: bool,
    equal_aspect: bool,
}

impl LatentScatter {
    /// Codes `[N, D]` (`D >= 2`) and labels `[N]` (any integer or float dtype).
    pub fn new(z: &Tensor, labels: &Tensor) -> Result<Self> {
        let codes = super::rows_f32(z, "LatentScatter::new (codes)")?;
        let labels: Vec<usize> = labels
            .flatten_all()?
            .to_dtype(DType::U32)?
            .to_device(&Device::Cpu)?
            .to_vec1::<u32>()?
            .into_iter()
            .map(|l| l as usize)
            .collect();
        Self::from_codes(codes, labels)
    }

    /// Codes and labels as plain vectors.
    pub fn from_codes(codes: Vec<Vec<f32>>, labels: Vec<usize>) -> Result<Self> {
        if codes.len() != labels.len() {
            return Err(Error::config(format!(
                "LatentScatter: {} codes but {} labels; pass one label per code",
                codes.len(),
                labels.len()
            )));
        }
        let d = codes.first().map(|c| c.len()).unwrap_or(2);
        if d < 2 || codes.iter().any(|c| c.len() != d) {
            return Err(Error::config(format!(
                "LatentScatter: codes need the same dimension, at least 2 (got {d}); \
                 a 1-D latent space is better shown as decoded images along a line"
            )));
        }
        let n_classes = labels.iter().max().map(|m| m + 1).unwrap_or(0);
        Ok(Self {
            codes,
            labels,
            class_names: (0..n_classes).map(|c| c.to_string()).collect(),
            dims: None,
            title: None,
            size: (760, 520),
            max_points: 5000,
            point_size: 2,
            limits: None,
            prior_circles: false,
            equal_aspect: true,
        })
    }

    /// Names shown in the legend, by label (e.g. `dataset.class_names`).
    pub fn class_names<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        let n = names.len().max(self.class_names.len());
        self.class_names = (0..n).map(|c| names.get(c).cloned().unwrap_or_else(|| c.to_string())).collect();
        self
    }

    /// Plot coordinates `i` and `j` of the code instead of the PCA projection.
    pub fn dims(mut self, i: usize, j: usize) -> Self {
        self.dims = Some((i, j));
        self
    }

    /// Chart title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Size of the SVG in pixels (default 760x520).
    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.size = (width.max(200), height.max(150));
        self
    }

    /// Draw at most this many points, evenly strided through the data (default 5000), which
    /// keeps the SVG small enough for a notebook.
    pub fn max_points(mut self, n: usize) -> Self {
        self.max_points = n.max(1);
        self
    }

    /// Fixed axis ranges `(x0, x1)`, `(y0, y1)` instead of the data's own (points outside are
    /// clipped): gives two scatters the same scale so that they can be compared side by side.
    pub fn limits(mut self, x: (f64, f64), y: (f64, f64)) -> Self {
        self.limits = Some((x, y));
        self
    }

    /// Draws the circles of radius 1 and 2 around the origin: for the prior
    /// `N(0, I)` on the plotted plane they hold `1 - exp(-r²/2)` of its mass, 39 % and 86 %.
    /// (Only meaningful when the axes are two code coordinates, not principal components.)
    pub fn prior_circles(mut self, on: bool) -> Self {
        self.prior_circles = on;
        self
    }

    /// One unit as long across as up (the default): the two axes are coordinates of the same
    /// code (or orthonormal principal components), so a stretched axis would distort the shape
    /// of the clusters. Off: each axis fills the plot with its own data range.
    pub fn equal_aspect(mut self, on: bool) -> Self {
        self.equal_aspect = on;
        self
    }

    /// Radius of each point in pixels (default 2).
    pub fn point_size(mut self, r: u32) -> Self {
        self.point_size = r.max(1);
        self
    }

    /// The 2-D points that are plotted and the two axis labels.
    pub fn projected(&self) -> Result<(Vec<[f32; 2]>, String, String)> {
        let d = self.codes.first().map(|c| c.len()).unwrap_or(2);
        match self.dims {
            Some((i, j)) if i >= d || j >= d => {
                Err(Error::config(format!("LatentScatter::dims({i}, {j}): the codes have only {d} dimensions")))
            }
            Some((i, j)) => {
                Ok((self.codes.iter().map(|c| [c[i], c[j]]).collect(), format!("z{}", i + 1), format!("z{}", j + 1)))
            }
            None if d == 2 => Ok((self.codes.iter().map(|c| [c[0], c[1]]).collect(), "z1".into(), "z2".into())),
            None => {
                let (p, ratio) = pca_rows(&self.codes)?;
                Ok((
                    p,
                    format!("PC1 ({:.1}% of variance)", 100.0 * ratio[0]),
                    format!("PC2 ({:.1}% of variance)", 100.0 * ratio[1]),
                ))
            }
        }
    }

    /// Renders the chart as an SVG document.
    pub fn to_svg(&self) -> Result<String> {
        let (points, x_desc, y_desc) = self.projected()?;
        let stride = points.len().div_ceil(self.max_points).max(1);
        let ((x0, x1), (y0, y1)) = self.limits.unwrap_or_else(|| {
            (
                chart::padded_range(points.iter().map(|p| p[0] as f64)),
                chart::padded_range(points.iter().map(|p| p[1] as f64)),
            )
        });
        let (w, h) = self.size;
        // At least wide enough for the "N of M points shown" note.
        let legend_w = chart::legend_width(&self.class_names).max(130);
        let err = plot_err("latent scatter plot");
        // The layout, built twice below: once to measure the plot area, once to draw.
        macro_rules! chart_on {
            ($plot:expr, $x:expr, $y:expr) => {{
                let mut builder = ChartBuilder::on($plot);
                builder.margin(12).x_label_area_size(44).y_label_area_size(56);
                if let Some(t) = &self.title {
                    builder.caption(t, ("sans-serif", 24));
                }
                builder.build_cartesian_2d($x, $y).map_err(&err)?
            }};
        }
        // Widen the axis with fewer units per pixel, measured on a throwaway layout; the prior's
        // circles need it whatever was asked, or they would be ellipses.
        let ((x0, x1), (y0, y1)) = if self.equal_aspect || self.prior_circles {
            let mut scratch = String::new();
            let (pw, ph) = {
                let root = SVGBackend::with_string(&mut scratch, (w, h)).into_drawing_area();
                let (plot, _) = root.split_horizontally(w.saturating_sub(legend_w));
                chart_on!(&plot, x0..x1, y0..y1).plotting_area().dim_in_pixel()
            };
            equal_aspect((x0, x1), (y0, y1), (pw.max(1) as f64, ph.max(1) as f64))
        } else {
            ((x0, x1), (y0, y1))
        };
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
            root.fill(&WHITE).map_err(&err)?;
            let (plot, legend) = root.split_horizontally(w.saturating_sub(legend_w));
            let mut chart = chart_on!(&plot, x0..x1, y0..y1);
            chart
                .configure_mesh()
                .x_desc(x_desc)
                .y_desc(y_desc)
                .axis_desc_style(("sans-serif", 18))
                .label_style(("sans-serif", 15))
                .max_light_lines(1)
                .light_line_style(RGBColor(245, 245, 245))
                .bold_line_style(RGBColor(225, 225, 225))
                .draw()
                .map_err(&err)?;
            let inside = |p: &[f32; 2]| (x0..=x1).contains(&(p[0] as f64)) && (y0..=y1).contains(&(p[1] as f64));
            for class in 0..self.class_names.len() {
                let style = chart::color(class).mix(0.7).filled();
                let r = self.point_size;
                chart
                    .draw_series(
                        points
                            .iter()
                            .zip(&self.labels)
                            .step_by(stride)
                            .filter(|(p, l)| **l == class && inside(p))
                            .map(|(p, _)| Circle::new((p[0] as f64, p[1] as f64), r, style)),
                    )
                    .map_err(&err)?;
            }
            // Over the points: under them a dense cloud would hide the circles.
            if self.prior_circles {
                for r in [1.0, 2.0] {
                    let ring = (0..=96).map(|i| {
                        let t = i as f64 * std::f64::consts::TAU / 96.0;
                        (r * t.cos(), r * t.sin())
                    });
                    chart.draw_series(LineSeries::new(ring, BLACK.mix(0.55).stroke_width(2))).map_err(&err)?;
                }
            }
            chart::draw_legend(&legend, Some("class"), &self.class_names, false).map_err(&err)?;
            // Say what is drawn when it is not everything: a strided subset, clipped points.
            let drawn = points.iter().step_by(stride).filter(|p| inside(p)).count();
            if drawn < points.len() {
                let y = 48 + 22 * (self.class_names.len() as i32 + 1) + 8;
                let style = ("sans-serif", 14).into_font().color(&RGBColor(90, 90, 90));
                for (k, line) in
                    [format!("{drawn} of {}", points.len()), "points shown".to_string()].into_iter().enumerate()
                {
                    legend.draw(&Text::new(line, (10, y + 18 * k as i32), style.clone())).map_err(&err)?;
                }
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

/// The ranges widened about their centres so that a unit spans as many pixels across as up on a
/// plot area of `(width, height)` pixels.
fn equal_aspect(x: (f64, f64), y: (f64, f64), (width, height): (f64, f64)) -> ((f64, f64), (f64, f64)) {
    let per_px = ((x.1 - x.0) / width).max((y.1 - y.0) / height);
    let widen = |(a, b): (f64, f64), px: f64| {
        let (mid, half) = ((a + b) / 2.0, per_px * px / 2.0);
        (mid - half, mid + half)
    };
    (widen(x, width), widen(y, height))
}

/// Projects codes `[N, D]` (`D >= 2`) onto their first two principal components. Returns the
/// projected points and the explained variance ratios of the two components. Component signs
/// are fixed so that each eigenvector's largest-magnitude entry is positive.
pub fn pca_2d(z: &Tensor) -> Result<(Vec<[f32; 2]>, [f64; 2])> {
    pca_rows(&super::rows_f32(z, "pca_2d")?)
}

// Index loops read like the matrix formulas they implement.
#[allow(clippy::needless_range_loop)]
pub(crate) fn pca_rows(rows: &[Vec<f32>]) -> Result<(Vec<[f32; 2]>, [f64; 2])> {
    let n = rows.len();
    let d = rows.first().map(|r| r.len()).unwrap_or(0);
    if n < 2 || d < 2 {
        return Err(Error::config(format!(
            "pca_2d: need at least 2 codes of dimension >= 2, got {n} of dimension {d}"
        )));
    }
    let mut mean = vec![0f64; d];
    for r in rows {
        for (m, v) in mean.iter_mut().zip(r) {
            *m += *v as f64 / n as f64;
        }
    }
    let mut cov = vec![vec![0f64; d]; d];
    for r in rows {
        for i in 0..d {
            let ci = r[i] as f64 - mean[i];
            for j in i..d {
                cov[i][j] += ci * (r[j] as f64 - mean[j]) / n as f64;
            }
        }
    }
    for i in 0..d {
        for j in 0..i {
            cov[i][j] = cov[j][i];
        }
    }
    let (values, vectors) = symmetric_eigen(cov);
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    let total: f64 = values.iter().map(|v| v.max(0.0)).sum();
    let axes: Vec<Vec<f64>> = order[..2]
        .iter()
        .map(|&k| {
            let mut v: Vec<f64> = (0..d).map(|i| vectors[i][k]).collect();
            let big = v.iter().copied().fold(0f64, |a, x| if x.abs() > a.abs() { x } else { a });
            if big < 0.0 {
                v.iter_mut().for_each(|x| *x = -*x);
            }
            v
        })
        .collect();
    let ratio =
        if total > 0.0 { [values[order[0]].max(0.0) / total, values[order[1]].max(0.0) / total] } else { [0.0, 0.0] };
    let points = rows
        .iter()
        .map(|r| {
            let p = |a: &Vec<f64>| (0..d).map(|i| (r[i] as f64 - mean[i]) * a[i]).sum::<f64>() as f32;
            [p(&axes[0]), p(&axes[1])]
        })
        .collect();
    Ok((points, ratio))
}

/// Eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations. Returns the
/// eigenvalues and a matrix whose column `k` is the eigenvector of eigenvalue `k`.
#[allow(clippy::needless_range_loop)]
fn symmetric_eigen(mut a: Vec<Vec<f64>>) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = a.len();
    let mut v: Vec<Vec<f64>> = (0..n).map(|i| (0..n).map(|j| (i == j) as u8 as f64).collect()).collect();
    let scale: f64 = a.iter().flatten().map(|x| x * x).sum::<f64>().max(f64::MIN_POSITIVE);
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        if off <= 1e-24 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                // Rotation by angle phi with tan(phi) = t chosen to zero a[p][q].
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for row in a.iter_mut() {
                    let (kp, kq) = (row[p], row[q]);
                    row[p] = c * kp - s * kq;
                    row[q] = s * kp + c * kq;
                }
                for k in 0..n {
                    let (pk, qk) = (a[p][k], a[q][k]);
                    a[p][k] = c * pk - s * qk;
                    a[q][k] = s * pk + c * qk;
                }
                for row in v.iter_mut() {
                    let (kp, kq) = (row[p], row[q]);
                    row[p] = c * kp - s * kq;
                    row[q] = s * kp + c * kq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i][i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3-D cloud: every combination of t (20 values, main axis (0.6, 0.8, 0)), u = +-1
    /// (axis (0, 0, 1)) and w = +-0.1 (axis (-0.8, 0.6, 0)), shifted away from the origin.
    /// The full product makes the three coordinates exactly uncorrelated.
    fn cloud() -> (Vec<Vec<f32>>, Vec<(f32, f32)>) {
        let mut rows = Vec::new();
        let mut truth = Vec::new();
        for a in 0..20 {
            for u in [-1.0f32, 1.0] {
                for w in [-0.1f32, 0.1] {
                    let t = (a as f32 - 9.5) / 2.0;
                    rows.push(vec![5.0 + 0.6 * t - 0.8 * w, -2.0 + 0.8 * t + 0.6 * w, 1.0 + u]);
                    truth.push((t, u));
                }
            }
        }
        (rows, truth)
    }

    #[test]
    fn pca_recovers_the_principal_axes_of_a_known_cloud() {
        let (rows, truth) = cloud();
        let (points, ratio) = pca_rows(&rows).unwrap();
        // PC1 coordinate equals t (sign fixed: the largest entry 0.8 is positive), PC2 equals u.
        for (i, (p, (t, u))) in points.iter().zip(&truth).enumerate() {
            assert!((p[0] - t).abs() < 1e-4, "point {i}: {} vs {t}", p[0]);
            assert!((p[1] - u).abs() < 1e-4, "point {i}: {} vs {u}", p[1]);
        }
        let var_t: f64 = (0..20).map(|a| ((a as f64 - 9.5) / 2.0).powi(2)).sum::<f64>() / 20.0;
        let total = var_t + 1.0 + 0.01;
        assert!((ratio[0] - var_t / total).abs() < 1e-6, "{ratio:?}");
        assert!((ratio[1] - 1.0 / total).abs() < 1e-6, "{ratio:?}");
    }

    #[test]
    fn jacobi_diagonalises_a_known_matrix() {
        // Eigenvalues of [[2, 1], [1, 2]] are 3 and 1.
        let (values, vectors) = symmetric_eigen(vec![vec![2.0, 1.0], vec![1.0, 2.0]]);
        let mut sorted = values.clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        assert!((sorted[0] - 3.0).abs() < 1e-12 && (sorted[1] - 1.0).abs() < 1e-12);
        let k = if values[0] > values[1] { 0 } else { 1 };
        assert!((vectors[0][k].abs() - 0.5f64.sqrt()).abs() < 1e-12);
        assert!((vectors[0][k] - vectors[1][k]).abs() < 1e-12);
    }

    #[test]
    fn svg_is_well_formed_and_has_legend_and_axis_labels() {
        let (rows, _) = cloud();
        let labels: Vec<usize> = (0..80).map(|i| i % 10).collect();
        let names = crate::data::FASHION_CLASSES;
        let fig = LatentScatter::from_codes(rows, labels).unwrap().class_names(names).title("Test set & codes");
        let svg = fig.to_svg().unwrap();
        super::super::curves::tests::assert_well_formed_xml(&svg);
        for name in names {
            assert!(svg.contains(name), "legend label {name} missing");
        }
        assert!(svg.contains("PC1 (") && svg.contains("% of variance)"));
        assert!(svg.contains("Test set &amp; codes"));
        assert_eq!(svg.matches("<circle").count(), 80 + 10, "80 points and 10 legend markers");
        // Ten distinct fill colours.
        let fills: std::collections::BTreeSet<&str> =
            svg.split("fill=\"").skip(1).filter_map(|s| s.split('"').next()).filter(|c| c.starts_with('#')).collect();
        assert!(fills.len() >= 10, "{fills:?}");
    }

    #[test]
    fn limits_clip_and_the_legend_says_how_many_points_are_drawn() {
        // 12 codes on a line from -5.5 to 5.5; limits [-3, 3] keep the 6 inside.
        let codes: Vec<Vec<f32>> = (0..12).map(|i| vec![i as f32 - 5.5, 0.0]).collect();
        let fig = LatentScatter::from_codes(codes, vec![0; 12]).unwrap();
        let all = fig.to_svg().unwrap();
        assert_eq!(all.matches("<circle").count(), 12 + 1);
        assert!(!all.contains("points shown"), "everything is drawn: no note");
        // Exactly the limits: equal aspect would widen the x range and let more points in.
        let clipped = fig.clone().equal_aspect(false).limits((-3.0, 3.0), (-3.0, 3.0)).to_svg().unwrap();
        super::super::curves::tests::assert_well_formed_xml(&clipped);
        assert_eq!(clipped.matches("<circle").count(), 6 + 1);
        assert!(clipped.contains("6 of 12") && clipped.contains("points shown"));
        let strided = fig.clone().max_points(4).to_svg().unwrap();
        assert!(strided.contains("4 of 12"), "every 3rd point");
        // The prior's two circles are the only lines of width 2, round in pixels on a wide figure too.
        let rings_of = |svg: &str| -> Vec<String> {
            svg.lines()
                .filter(|l| l.starts_with("<polyline") && l.contains("stroke-width=\"2\""))
                .map(String::from)
                .collect()
        };
        assert!(rings_of(&all).is_empty(), "no rings without prior_circles");
        let rings = rings_of(&fig.clone().prior_circles(true).size(900, 300).to_svg().unwrap());
        assert_eq!(rings.len(), 2);
        let ring = &rings[1];
        let pts: Vec<(f64, f64)> = ring
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .split_whitespace()
            .map(|p| p.split_once(',').map(|(a, b)| (a.parse().unwrap(), b.parse().unwrap())).unwrap())
            .collect();
        let extent = |f: fn(&(f64, f64)) -> f64| {
            let v: Vec<f64> = pts.iter().map(f).collect();
            v.iter().cloned().fold(f64::MIN, f64::max) - v.iter().cloned().fold(f64::MAX, f64::min)
        };
        let (across, up) = (extent(|p| p.0), extent(|p| p.1));
        assert!((across / up - 1.0).abs() < 0.05, "ring {across} x {up} pixels");
    }

    #[test]
    fn a_unit_spans_as_many_pixels_across_as_up_unless_turned_off() {
        // Codes spread 4 units across and 1 up, on a plot area wider than tall.
        let fig = LatentScatter::from_codes(vec![vec![0.0, 0.0], vec![4.0, 0.0], vec![0.0, 1.0]], vec![0; 3]).unwrap();
        let centres = |svg: &str| -> Vec<(f64, f64)> {
            svg.split("<circle")
                .skip(1)
                .take(3)
                .map(|c| {
                    let attr = |a: &str| {
                        c.split(&format!("{a}=\"")).nth(1).unwrap().split('"').next().unwrap().parse().unwrap()
                    };
                    (attr("cx"), attr("cy"))
                })
                .collect()
        };
        let per_unit = |svg: &str| {
            let p = centres(svg);
            ((p[1].0 - p[0].0) / 4.0, p[0].1 - p[2].1)
        };
        let (across, up) = per_unit(&fig.to_svg().unwrap());
        assert!((across / up - 1.0).abs() < 0.02, "{across} px per unit across, {up} up");
        let (across, up) = per_unit(&fig.clone().equal_aspect(false).to_svg().unwrap());
        assert!(up / across > 2.0, "off: each axis fills the plot ({across} vs {up})");
    }

    #[test]
    fn two_d_codes_are_plotted_as_is_and_bad_input_is_rejected() {
        let fig = LatentScatter::from_codes(vec![vec![1.0, 2.0], vec![3.0, 4.0]], vec![0, 1]).unwrap();
        let (p, x, y) = fig.projected().unwrap();
        assert_eq!((p, x.as_str(), y.as_str()), (vec![[1.0, 2.0], [3.0, 4.0]], "z1", "z2"));
        assert!(fig.clone().dims(0, 5).projected().is_err());
        assert!(LatentScatter::from_codes(vec![vec![1.0]], vec![0]).is_err());
        assert!(LatentScatter::from_codes(vec![vec![1.0, 2.0]], vec![]).is_err());
    }
}
