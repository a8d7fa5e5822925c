//! Charts drawn on the server as SVG (no script): stacked bars with a
//! legend, and a line pair (baseline against actual). Each chart carries a
//! title and a description for screen readers, and a table of the same
//! figures beneath it, so that nothing is only in the picture.

use maud::{html, Markup};

/// Colours of the series, in order (each at least 3:1 against white).
pub const PALETTE: [&str; 8] = ["#1b5e20", "#0d47a1", "#bf360c", "#4a148c", "#006064", "#827717", "#880e4f", "#3e2723"];

/// One series of a chart: its name and one value a column.
#[derive(Debug, Clone)]
pub struct Series {
    /// Its name in the legend.
    pub label: String,
    /// Its value at each column (the chart's labels).
    pub values: Vec<i64>,
}

const WIDTH: i64 = 640;
const HEIGHT: i64 = 240;
const LEFT: i64 = 56;
const BOTTOM: i64 = 28;
const TOP: i64 = 12;

/// A round top for the axis above `max` (1, 2 or 5 times a power of ten).
fn nice_ceiling(max: i64) -> i64 {
    let mut step = 1_i64;
    loop {
        for m in [1, 2, 5] {
            if step.saturating_mul(m) >= max {
                return step.saturating_mul(m).max(1);
            }
        }
        step = step.saturating_mul(10);
    }
}

/// Thousands written with a thin separator for the axis.
fn short(value: i64) -> String {
    match value {
        v if v >= 1_000_000 => format!("{}M", v / 1_000_000),
        v if v >= 10_000 => format!("{}k", v / 1_000),
        v => v.to_string(),
    }
}

/// The non-zero parts of column `i`, bottom up: (series, where it starts, its value).
fn stack(series: &[Series], i: usize) -> Vec<(usize, i64, i64)> {
    let mut base = 0;
    let mut parts = Vec::new();
    for (k, s) in series.iter().enumerate() {
        let v = s.values.get(i).copied().unwrap_or(0).max(0);
        if v > 0 {
            parts.push((k, base, v));
            base += v;
        }
    }
    parts
}

fn data_table(caption: &str, labels: &[String], series: &[Series], unit: &str) -> Markup {
    html! {
        details class="chart-data" {
            summary { (caption) }
            div class="table-wrap" tabindex="0" {
                table {
                    thead { tr { th scope="col" { } @for s in series { th scope="col" { (s.label) } } } }
                    tbody {
                        @for (i, label) in labels.iter().enumerate() {
                            tr {
                                th scope="row" { (label) }
                                @for s in series { td { (s.values.get(i).copied().unwrap_or(0)) " " (unit) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Stacked bars: one bar a label, one coloured part a series; `title` names
/// it, `unit` follows each figure, `table_caption` opens the table.
pub fn stacked_bars(
    id: &str,
    title: &str,
    labels: &[String],
    series: &[Series],
    unit: &str,
    table_caption: &str,
) -> Markup {
    let totals: Vec<i64> =
        (0..labels.len()).map(|i| series.iter().map(|s| s.values.get(i).copied().unwrap_or(0).max(0)).sum()).collect();
    let top = nice_ceiling(totals.iter().copied().max().unwrap_or(0));
    let plot_h = HEIGHT - BOTTOM - TOP;
    let plot_w = WIDTH - LEFT - 8;
    let slot = if labels.is_empty() { plot_w } else { plot_w / labels.len() as i64 };
    let bar = (slot * 7 / 10).max(2);
    let y_of = |v: i64| TOP + plot_h - v * plot_h / top;
    let title_id = format!("{id}-title");
    let desc_id = format!("{id}-desc");
    let description =
        labels.iter().zip(&totals).map(|(l, t)| format!("{l}: {t} {unit}")).collect::<Vec<_>>().join("; ");
    html! {
        figure class="chart" {
            svg viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-labelledby=(format!("{title_id} {desc_id}"))
                xmlns="http://www.w3.org/2000/svg" {
                title id=(title_id) { (title) }
                desc id=(desc_id) { (description) }
                @for tick in [0, top / 2, top] {
                    line x1=(LEFT) x2=(WIDTH - 4) y1=(y_of(tick)) y2=(y_of(tick)) stroke="#c8d3c9" stroke-width="1" {}
                    text x=(LEFT - 6) y=(y_of(tick) + 4) text-anchor="end" font-size="11" fill="#4a4a4a" { (short(tick)) }
                }
                @for (i, label) in labels.iter().enumerate() {
                    @let x = LEFT + i as i64 * slot + (slot - bar) / 2;
                    @for (k, base, v) in stack(series, i) {
                        rect x=(x) y=(y_of(base + v)) width=(bar) height=((y_of(base) - y_of(base + v)).max(1))
                            fill=(PALETTE[k % PALETTE.len()]) {
                            title { (label) " · " (series[k].label) ": " (v) " " (unit) }
                        }
                    }
                    @if labels.len() <= 16 || i % (labels.len() / 8).max(1) == 0 {
                        text x=(x + bar / 2) y=(HEIGHT - 10) text-anchor="middle" font-size="11" fill="#4a4a4a" { (label) }
                    }
                }
            }
            figcaption {
                ul class="legend" {
                    @for (k, s) in series.iter().enumerate() {
                        li { span class=(format!("swatch swatch-{}", k % PALETTE.len())) aria-hidden="true" {} (s.label) }
                    }
                }
            }
            (data_table(table_caption, labels, series, unit))
        }
    }
}

/// Two lines over the same labels (a baseline, dashed, and what happened),
/// as for a power-saving event's half-hours.
pub fn lines(id: &str, title: &str, labels: &[String], series: &[Series], unit: &str, table_caption: &str) -> Markup {
    let max = series.iter().flat_map(|s| s.values.iter().copied()).max().unwrap_or(0);
    let top = nice_ceiling(max.max(1));
    let plot_h = HEIGHT - BOTTOM - TOP;
    let plot_w = WIDTH - LEFT - 8;
    let n = labels.len().max(2) as i64;
    let x_of = |i: usize| LEFT + i as i64 * plot_w / (n - 1);
    let y_of = |v: i64| TOP + plot_h - v.max(0) * plot_h / top;
    let title_id = format!("{id}-title");
    html! {
        figure class="chart" {
            svg viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-labelledby=(title_id)
                xmlns="http://www.w3.org/2000/svg" {
                title id=(title_id) { (title) }
                @for tick in [0, top / 2, top] {
                    line x1=(LEFT) x2=(WIDTH - 4) y1=(y_of(tick)) y2=(y_of(tick)) stroke="#c8d3c9" stroke-width="1" {}
                    text x=(LEFT - 6) y=(y_of(tick) + 4) text-anchor="end" font-size="11" fill="#4a4a4a" { (short(tick)) }
                }
                @for (k, s) in series.iter().enumerate() {
                    @let points = s.values.iter().enumerate().map(|(i, v)| format!("{},{}", x_of(i), y_of(*v))).collect::<Vec<_>>().join(" ");
                    polyline points=(points) fill="none" stroke=(PALETTE[k % PALETTE.len()]) stroke-width="2.5"
                        stroke-dasharray=[(k == 0).then_some("6 4")] {}
                }
                @for (i, label) in labels.iter().enumerate() {
                    @if labels.len() <= 12 || i % (labels.len() / 6).max(1) == 0 {
                        text x=(x_of(i)) y=(HEIGHT - 10) text-anchor="middle" font-size="11" fill="#4a4a4a" { (label) }
                    }
                }
            }
            figcaption {
                ul class="legend" {
                    @for (k, s) in series.iter().enumerate() {
                        li { span class=(format!("swatch swatch-{}", k % PALETTE.len())) aria-hidden="true" {} (s.label) }
                    }
                }
            }
            (data_table(table_caption, labels, series, unit))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_axis_tops_out_at_a_round_figure() {
        assert_eq!(nice_ceiling(0), 1);
        assert_eq!(nice_ceiling(7), 10);
        assert_eq!(nice_ceiling(800), 1000);
        assert_eq!(nice_ceiling(1001), 2000);
        assert_eq!(nice_ceiling(4_900), 5_000);
    }

    #[test]
    fn bars_stack_their_series_and_the_table_repeats_them() {
        let labels = vec!["2026-11".to_owned(), "2026-12".to_owned()];
        let series = vec![
            Series { label: "transport".to_owned(), values: vec![800, 0] },
            Series { label: "food".to_owned(), values: vec![200, 500] },
        ];
        let svg = stacked_bars("c", "By month", &labels, &series, "g", "Figures").into_string();
        assert_eq!(svg.matches("<rect").count(), 3, "no bar for a zero: {svg}");
        assert!(svg.contains("2026-11: 1000 g; 2026-12: 500 g"), "{svg}");
        assert!(svg.contains("<td>800 g</td>") && svg.contains("<td>500 g</td>"), "{svg}");
    }
}
