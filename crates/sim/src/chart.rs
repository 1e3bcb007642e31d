//! Charts of the verification report (SVG, via plotters): wrong results
//! accepted, and replicas per task, against the share of lying devices,
//! one line per policy.

use anyhow::{Result, anyhow};
use plotters::prelude::*;

use crate::report::{POLICIES, Row, policy_name};

const COLOURS: [RGBColor; 4] = [RED, BLUE, GREEN, MAGENTA];

/// Draws `value(row)` against the adversary share for every policy.
fn draw(
    rows: &[Row],
    path: &std::path::Path,
    title: &str,
    y_label: &str,
    value: impl Fn(&Row) -> f64,
) -> Result<()> {
    let y_max = rows.iter().map(&value).fold(0.0f64, f64::max).max(1e-9) * 1.1;
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0f64..35.0f64, 0.0f64..y_max)
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("lying devices (%)")
        .y_desc(y_label)
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    for (policy, colour) in POLICIES.iter().zip(COLOURS) {
        let points: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.policy == *policy)
            .map(|r| (r.adversaries * 100.0, value(r)))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
            .map_err(|e| anyhow!("{e}"))?
            .label(policy_name(*policy))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, colour.filled())),
            )
            .map_err(|e| anyhow!("{e}"))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

/// Writes `<stem>-wrong.svg` and `<stem>-work.svg` next to `report`.
///
/// # Errors
/// If a chart cannot be drawn or written.
pub fn write(
    rows: &[Row],
    report: &std::path::Path,
    label: &str,
) -> Result<Vec<std::path::PathBuf>> {
    let stem = report.with_extension("");
    let wrong = stem.with_file_name(format!(
        "{}-{label}-wrong.svg",
        stem.file_name()
            .and_then(|s| s.to_str())
            .unwrap_or("verification")
    ));
    let work = stem.with_file_name(format!(
        "{}-{label}-work.svg",
        stem.file_name()
            .and_then(|s| s.to_str())
            .unwrap_or("verification")
    ));
    draw(
        rows,
        &wrong,
        &format!("Wrong results accepted ({label})"),
        "wrong / accepted",
        |r| r.report.wrong_share(),
    )?;
    draw(
        rows,
        &work,
        &format!("Work per task ({label})"),
        "replicas per task",
        |r| r.report.replicas_per_task,
    )?;
    Ok(vec![wrong, work])
}
