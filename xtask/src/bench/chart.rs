//! The bench's figures as an SVG bar chart: a panel per metric, a bar per
//! server, each labelled with its value and its ratio to raw libuv.

use std::fmt::Write;

use super::figures::Metric;
use super::report::Row;
use super::servers::{Family, RAW};

const PANEL_WIDTH: usize = 470;
const LABEL_WIDTH: usize = 105;
const BAR_SPACE: usize = 230;
const ROW_HEIGHT: usize = 17;
const PANEL_TOP: usize = 22;
const COLUMNS: usize = 2;
const LEGEND_HEIGHT: usize = 62;

fn colour(family: Family) -> &'static str {
    match family {
        Family::Libuv => "#4c72b0",
        Family::Uvtcp => "#dd8452",
        Family::Peer => "#8c8c8c",
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The chart of `rows`, as an SVG document.
pub fn svg(rows: &[Row]) -> String {
    let panel_height = PANEL_TOP + rows.len() * ROW_HEIGHT + 16;
    let panel_rows = Metric::ALL.len().div_ceil(COLUMNS);
    let width = COLUMNS * PANEL_WIDTH + 10;
    let height = LEGEND_HEIGHT + panel_rows * panel_height;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="10" y="18" font-size="14" font-weight="bold">Echo servers, one run of cargo xtask bench</text>"#
    );
    let legend = [
        (Family::Libuv, "libuv by hand"),
        (Family::Uvtcp, "uvtcp"),
        (Family::Peer, "peers (tokio, std::net)"),
    ];
    for (index, (family, label)) in legend.iter().enumerate() {
        let x = 10 + index * 170;
        let _ = writeln!(
            svg,
            r#"<rect x="{x}" y="28" width="12" height="12" fill="{}"/><text x="{}" y="38">{label}</text>"#,
            colour(*family),
            x + 16
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="10" y="54" fill="dimgray">bar: the median; whisker: the lowest to the highest round; (xN): the ratio to {RAW}</text>"#
    );
    for (index, metric) in Metric::ALL.iter().enumerate() {
        let x = (index % COLUMNS) * PANEL_WIDTH + 10;
        let y = LEGEND_HEIGHT + (index / COLUMNS) * panel_height;
        panel(&mut svg, rows, *metric, x, y);
    }
    svg.push_str("</svg>\n");
    svg
}

/// One metric's panel with its top-left corner at (`x`, `y`).
fn panel(svg: &mut String, rows: &[Row], metric: Metric, x: usize, y: usize) {
    let better = if metric.higher_is_better() {
        "higher is better"
    } else {
        "lower is better"
    };
    let _ = writeln!(
        svg,
        r#"<text x="{x}" y="{}" font-weight="bold">{}</text><text x="{}" y="{}" fill="dimgray">{better}</text>"#,
        y + 14,
        escape(metric.heading()),
        x + LABEL_WIDTH + BAR_SPACE,
        y + 14
    );
    let largest = rows
        .iter()
        .filter_map(|row| row.figures.get(&metric))
        .map(|sample| sample.high)
        .fold(0.0, f64::max);
    let base = rows
        .iter()
        .find(|row| row.contender.name == RAW)
        .and_then(|row| row.figures.get(&metric))
        .map(|sample| sample.median);
    let scale = |value: f64| {
        if largest > 0.0 {
            value / largest * BAR_SPACE as f64
        } else {
            0.0
        }
    };
    for (index, row) in rows.iter().enumerate() {
        let top = y + PANEL_TOP + index * ROW_HEIGHT;
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            x + LABEL_WIDTH - 6,
            top + 11,
            escape(row.contender.name)
        );
        let Some(sample) = row.figures.get(&metric) else {
            continue;
        };
        let left = (x + LABEL_WIDTH) as f64;
        let _ = writeln!(
            svg,
            r#"<rect x="{left}" y="{}" width="{:.1}" height="12" fill="{}"/>"#,
            top + 2,
            scale(sample.median),
            colour(row.contender.family)
        );
        if sample.low < sample.high {
            let _ = writeln!(
                svg,
                r#"<line x1="{:.1}" x2="{:.1}" y1="{}" y2="{}" stroke="black"/>"#,
                left + scale(sample.low),
                left + scale(sample.high),
                top + 8,
                top + 8
            );
        }
        let ratio = match base {
            Some(base) if base > 0.0 => format!(" (x{:.2})", sample.median / base),
            _ => String::new(),
        };
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{}">{}{ratio}</text>"#,
            left + scale(sample.median.max(sample.high)) + 4.0,
            top + 11,
            escape(&metric.format(sample.median))
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::servers::CONTENDERS;
    use crate::bench::stats::Sample;

    #[test]
    fn every_server_gets_a_bar_in_every_panel() {
        let rows: Vec<Row> = CONTENDERS[..3]
            .iter()
            .map(|contender| Row {
                contender: *contender,
                figures: Metric::ALL
                    .iter()
                    .map(|&metric| (metric, Sample::of(&[2.0, 4.0, 3.0])))
                    .collect(),
            })
            .collect();
        let svg = svg(&rows);
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<line ").count(), 3 * Metric::ALL.len());
        assert_eq!(
            svg.matches(" (x1.00)</text>").count(),
            3 * Metric::ALL.len()
        );
        // The largest round fills the bar space; the median is 3 of 4.
        let full = format!(r#"width="{:.1}""#, BAR_SPACE as f64 * 0.75);
        assert_eq!(svg.matches(&full).count(), 3 * Metric::ALL.len());
    }
}
