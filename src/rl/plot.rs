//! Learning curves from a training run's metrics log, drawn as SVG.
//!
//! One figure, three panels: critic loss and actor objective against the
//! update count (all rounds laid end to end), and simulated return per round
//! with its 95% CI. The static search has no critic, so its figure shows the
//! elite and population returns per iteration instead.

use plotters::prelude::*;
use serde_json::Value;

/// A named series of `(x, y)` points.
struct Series {
    name: &'static str,
    points: Vec<(f64, f64)>,
    color: RGBColor,
}

fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

/// The SVG backend refused to draw.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the learning curves")]
pub struct PlotError(#[source] Box<dyn std::error::Error + Send + Sync>);

/// Points of `key` against the global update index `round · per_round + update`.
fn per_update(metrics: &[Value], key: &str, per_round: f64) -> Vec<(f64, f64)> {
    metrics.iter().filter_map(|m| Some((num(m, "round")? * per_round + num(m, "update")?, num(m, key)?))).collect()
}

fn panel(area: &DrawingArea<SVGBackend, plotters::coord::Shift>, title: &str, x_label: &str, series: &[Series], error: Option<&[(f64, f64, f64)]>) -> Result<(), PlotError> {
    let all: Vec<(f64, f64)> = series.iter().flat_map(|s| s.points.iter().copied()).chain(error.unwrap_or(&[]).iter().flat_map(|&(x, y, e)| [(x, y - e), (x, y + e)])).collect();
    if all.is_empty() {
        return Ok(());
    }
    let (mut x0, mut x1) = all.iter().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (mut y0, mut y1) = all.iter().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    if error.is_some() || x1 <= x0 {
        (x0, x1) = (x0 - 0.5, x1 + 0.5);
    }
    let pad = ((y1 - y0) * 0.08).max(1e-3);
    (y0, y1) = (y0 - pad, y1 + pad);
    let e = |err: DrawingAreaErrorKind<std::io::Error>| PlotError(Box::new(err));
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(e)?;
    chart.configure_mesh().x_desc(x_label).x_label_formatter(&|v| format!("{v:.0}")).light_line_style(WHITE.mix(0.0)).draw().map_err(e)?;
    for s in series {
        let c = s.color;
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), c.stroke_width(2)))
            .map_err(e)?
            .label(s.name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2)));
    }
    if let Some(points) = error {
        chart.draw_series(points.iter().map(|&(x, y, ci)| ErrorBar::new_vertical(x, y - ci, y, y + ci, BLUE.filled(), 8))).map_err(e)?;
        chart.draw_series(points.iter().map(|&(x, y, _)| Circle::new((x, y), 4, BLUE.filled()))).map_err(e)?;
    }
    if series.len() > 1 {
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(e)?;
    }
    Ok(())
}

/// Renders the learning curves of one run's metrics (the `.metrics.jsonl`
/// lines) to an SVG string.
pub fn learning_curves_svg(metrics: &[Value], updates_per_round: usize) -> Result<String, PlotError> {
    let algo = metrics.iter().find_map(|m| m.get("algo").and_then(Value::as_str)).unwrap_or("?").to_string();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1200, 380)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| PlotError(Box::new(e)))?;
        if algo == "static" {
            let pts = |k: &str| metrics.iter().filter_map(|m| Some((num(m, "iteration")?, num(m, k)?))).collect::<Vec<_>>();
            panel(&root, "static (cross-entropy search): simulated return per iteration", "iteration", &[
                Series { name: "elite best", points: pts("charts/elite_return"), color: BLUE },
                Series { name: "population mean", points: pts("charts/population_mean"), color: RED },
            ], None)?;
        } else {
            let panels = root.split_evenly((1, 3));
            let per_round = updates_per_round as f64;
            panel(&panels[0], &format!("{algo}: critic loss"), "update", &[Series { name: "critic", points: per_update(metrics, "losses/critic", per_round), color: RED }], None)?;
            panel(&panels[1], &format!("{algo}: actor objective"), "update", &[Series { name: "actor", points: per_update(metrics, "losses/actor_objective", per_round), color: GREEN }], None)?;
            let ret: Vec<(f64, f64, f64)> = metrics.iter().filter_map(|m| Some((num(m, "round")?, num(m, "charts/return")?, num(m, "charts/return_ci95")?))).collect();
            panel(&panels[2], &format!("{algo}: simulated return ± 95% CI"), "round", &[], Some(&ret))?;
        }
        root.present().map_err(|e| PlotError(Box::new(e)))?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rl_curves_draw_every_panel() {
        let mut m = Vec::new();
        for round in 0..2 {
            for update in [0, 50, 99] {
                m.push(serde_json::json!({"algo": "enhanced", "round": round, "update": update, "losses/critic": 1.0 / (1 + update) as f64, "losses/actor_objective": update as f64}));
            }
            m.push(serde_json::json!({"algo": "enhanced", "round": round, "charts/return": 3.0 + round as f64, "charts/return_ci95": 0.1}));
        }
        let svg = learning_curves_svg(&m, 100).unwrap();
        for title in ["enhanced: critic loss", "enhanced: actor objective", "simulated return"] {
            assert!(svg.contains(title), "missing panel {title}");
        }
        assert!(svg.matches("<polyline").count() >= 2, "expected a line per loss");
    }

    #[test]
    fn static_curves_and_empty_logs() {
        let m = vec![serde_json::json!({"algo": "static", "iteration": 0, "charts/elite_return": 2.0, "charts/population_mean": 1.5})];
        assert!(learning_curves_svg(&m, 1).unwrap().contains("cross-entropy"));
        assert!(learning_curves_svg(&[], 1).unwrap().starts_with("<svg"));
    }
}
