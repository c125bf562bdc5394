//! PNG plots of training curves (the `plot` feature): loss and accuracy per epoch, train and
//! validation.

use crate::train::EpochStats;
use crate::Error;
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

/// DejaVu Sans (Bitstream Vera license, see `assets/DejaVuSans.LICENSE`), so text renders
/// without looking up system fonts.
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Draws loss (left) and accuracy (right) per epoch to a 1000x420 PNG at `path`.
pub fn curves(path: &Path, epochs: &[EpochStats]) -> Result<(), Error> {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // The embedded font is known to parse; a failure would only lose the text.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
    let fail = |e: &dyn std::fmt::Display| Error::Malformed { path: path.to_path_buf(), reason: format!("plot: {e}") };
    let root = BitMapBackend::new(path, (1000, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let (left, right) = root.split_horizontally(500);
    let n = epochs.len().max(2) as f64;
    let series = |pick: fn(&EpochStats) -> f64| -> Vec<(f64, f64)> {
        epochs.iter().enumerate().map(|(i, e)| ((i + 1) as f64, pick(e))).filter(|(_, y)| y.is_finite()).collect()
    };
    type Line = (fn(&EpochStats) -> f64, &'static str);
    let panels: [(&_, &str, [Line; 2]); 2] = [
        (&left, "loss", [(|e| e.train_loss, "train"), (|e| e.val_loss, "validation")]),
        (&right, "accuracy", [(|e| e.train_accuracy, "train"), (|e| e.val_accuracy, "validation")]),
    ];
    for (area, title, lines) in panels {
        let points: Vec<Vec<(f64, f64)>> = lines.iter().map(|(pick, _)| series(*pick)).collect();
        let ys = points.iter().flatten().map(|p| p.1);
        let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), y| (lo.min(y), hi.max(y)));
        let (lo, hi) = if lo.is_finite() { (lo, hi.max(lo + 1e-6)) } else { (0.0, 1.0) };
        let pad = (hi - lo) * 0.05;
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(1.0..n, (lo - pad)..(hi + pad))
            .map_err(|e| fail(&e))?;
        chart.configure_mesh().x_desc("epoch").label_style(("sans-serif", 14)).draw().map_err(|e| fail(&e))?;
        for ((_, name), (line, color)) in lines.iter().zip(points.into_iter().zip([BLUE, RED])) {
            chart
                .draw_series(LineSeries::new(line, color.stroke_width(2)))
                .map_err(|e| fail(&e))?
                .label(*name)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(|e| fail(&e))?;
    }
    root.present().map_err(|e| fail(&e))
}
