//! Shared pieces of the SVG charts: the colour palette, the legend column, error mapping.
//!
//! Charts are drawn with plotters' SVG backend built without any font stack: plotters then
//! estimates text extents from the character count, and the SVG carries real `<text>` elements
//! that the browser renders with its own sans-serif font.
use crate::Error;
use plotters::prelude::*;

/// Ten well-separated colours (the "Tableau 10" palette), one per class or series.
pub const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// Colour `i` of the palette (cycling after ten).
pub fn color(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

/// Maps a plotters drawing error to the crate error, naming the chart.
pub fn plot_err<E: std::fmt::Debug>(what: &'static str) -> impl Fn(E) -> Error {
    move |e| Error::config(format!("drawing the {what} failed: {e:?}"))
}

/// Width of the legend column for these labels at 14 px text.
pub fn legend_width(labels: &[String]) -> u32 {
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u32;
    (longest * 8 + 48).clamp(90, 260)
}

/// Draws one legend entry per label, top to bottom: a marker then the label.
pub fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: Option<&str>,
    labels: &[String],
    line_markers: bool,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let mut y = 48;
    if let Some(t) = title {
        area.draw(&Text::new(t.to_string(), (10, y - 8), ("sans-serif", 18).into_font().style(FontStyle::Bold)))?;
        y += 22;
    }
    for (i, label) in labels.iter().enumerate() {
        let c = color(i);
        if line_markers {
            area.draw(&PathElement::new(vec![(8, y), (30, y)], c.stroke_width(3)))?;
        } else {
            area.draw(&Circle::new((16, y), 5, c.filled()))?;
        }
        area.draw(&Text::new(label.clone(), (36, y - 8), ("sans-serif", 17)))?;
        y += 22;
    }
    Ok(())
}

/// `[lo, hi]` widened by 5% on each side (and to a unit range when empty or flat).
pub fn padded_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        return (lo - 1.0, hi + 1.0);
    }
    let m = 0.05 * (hi - lo);
    (lo - m, hi + m)
}
