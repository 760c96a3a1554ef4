//! The bench's report: the figures and their ratios as tables, printed and
//! written to RESULTS.md with the targets.

use std::collections::BTreeMap;
use std::path::Path;

use super::figures::{Figures, Metric};
use super::servers::{Contender, RAW, TOKIO_CURRENT};
use super::targets::{self, TARGETS};
use crate::command::Error;

/// The end of the part of RESULTS.md that each run rewrites; what follows
/// it is kept.
const END_OF_GENERATED: &str = "<!-- end of the part written by `cargo xtask bench` -->";

/// What follows the generated part in a new RESULTS.md.
const NEW_ANALYSIS: &str = "\n## Analysis\n\nNot written yet.\n";

/// One server's figures.
pub struct Row {
    pub contender: Contender,
    pub figures: Figures,
}

/// Everything one run found, and how it was run.
pub struct Run {
    /// When and where it ran.
    pub setting: String,
    /// The load's parameters, in a sentence.
    pub load: String,
    /// How many CPUs the run had.
    pub cpus: usize,
    pub rows: Vec<Row>,
    /// hyper on uvtcp against hyper on tokio under wrk: a markdown table.
    pub http: String,
}

impl Run {
    fn figures_by_name(&self) -> BTreeMap<&str, Figures> {
        self.rows
            .iter()
            .map(|row| (row.contender.name, row.figures.clone()))
            .collect()
    }

    fn row(&self, name: &str) -> Option<&Row> {
        self.rows.iter().find(|row| row.contender.name == name)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Style {
    Text,
    Markdown,
}

/// Lays out a table of figures: the first column (the names) left-aligned,
/// the others right-aligned.
fn table(style: Style, headings: &[String], rows: &[Vec<String>]) -> String {
    aligned_table(style, headings, rows, 1)
}

/// Lays out a table with its first `left` columns left-aligned and the
/// others right-aligned.
fn aligned_table(style: Style, headings: &[String], rows: &[Vec<String>], left: usize) -> String {
    let widths: Vec<usize> = (0..headings.len())
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .chain([headings[column].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(column, (cell, &width))| {
                if column < left {
                    format!("{cell:<width$}")
                } else {
                    format!("{cell:>width$}")
                }
            })
            .collect();
        match style {
            Style::Text => padded.join("  ").trim_end().to_string(),
            Style::Markdown => format!("| {} |", padded.join(" | ")),
        }
    };
    let mut text = line(headings);
    text.push('\n');
    if style == Style::Markdown {
        let rule: Vec<String> = widths
            .iter()
            .enumerate()
            .map(|(column, &width)| {
                let dashes = "-".repeat(width.max(3) - 1);
                if column < left {
                    format!("{dashes}-")
                } else {
                    format!("{dashes}:")
                }
            })
            .collect();
        text.push_str(&format!("| {} |\n", rule.join(" | ")));
    }
    for row in rows {
        text.push_str(&line(row));
        text.push('\n');
    }
    text
}

fn headings(first: &str, metrics: &[Metric]) -> Vec<String> {
    std::iter::once(first.to_string())
        .chain(metrics.iter().map(|metric| metric.heading().to_string()))
        .collect()
}

/// The figures of `metrics`, one row per server.
fn figures_table(style: Style, run: &Run, metrics: &[Metric]) -> String {
    let rows: Vec<Vec<String>> = run
        .rows
        .iter()
        .map(|row| {
            std::iter::once(row.contender.name.to_string())
                .chain(metrics.iter().map(|metric| {
                    row.figures
                        .get(metric)
                        .map_or("-".to_string(), |sample| metric.format_sample(sample))
                }))
                .collect()
        })
        .collect();
    table(style, &headings("server", metrics), &rows)
}

/// Every figure divided by the same figure of server `base`.
fn ratio_table(style: Style, run: &Run, base: &str) -> String {
    let base_figures = run.row(base).map(|row| &row.figures);
    let rows: Vec<Vec<String>> = run
        .rows
        .iter()
        .map(|row| {
            std::iter::once(row.contender.name.to_string())
                .chain(Metric::ALL.iter().map(|metric| {
                    let base_value = base_figures.and_then(|figures| figures.get(metric));
                    match (row.figures.get(metric), base_value) {
                        (Some(value), Some(base_value)) if base_value.median > 0.0 => {
                            format!("{:.2}", value.median / base_value.median)
                        }
                        _ => "-".to_string(),
                    }
                }))
                .collect()
        })
        .collect();
    table(style, &headings("server", &Metric::ALL), &rows)
}

/// The tables, as the terminal shows them.
pub fn print(run: &Run) {
    println!();
    println!("{}", run.setting);
    println!("{}", run.load);
    println!();
    println!("speeds (higher is better; median of the rounds, ± the farthest round):");
    print!("{}", figures_table(Style::Text, run, &Metric::SPEEDS));
    println!();
    println!("costs (lower is better):");
    print!("{}", figures_table(Style::Text, run, &Metric::COSTS));
    for base in [RAW, TOKIO_CURRENT] {
        println!();
        println!("ratios to {base} (speeds: above 1 is faster; costs: below 1 is cheaper):");
        print!("{}", ratio_table(Style::Text, run, base));
    }
    println!();
    println!("HTTP/1.1 under wrk (hyper_server on uvtcp local tasks and on tokio current-thread):");
    print!("{}", run.http);
    println!();
    println!("targets:");
    let figures = run.figures_by_name();
    for target in TARGETS {
        let judged = target.judge(&figures);
        println!(
            "  {:<34} {:<24} achieved {:<8} {}",
            judged.subject.replace('`', ""),
            judged.required.replace('`', ""),
            judged.achieved,
            judged.verdict
        );
    }
}

/// The part of RESULTS.md that a run writes.
fn generated(run: &Run, chart_name: &str) -> String {
    let mut text = String::new();
    let mut add = |part: &str| text.push_str(part);
    add("# Benchmark results\n\n");
    add(
        "Written by `cargo xtask bench`, which rewrites everything above the end marker below and keeps what follows it.\n",
    );
    add(&format!("{}\n{}\n\n", run.setting, run.load));
    add("## Servers\n\n");
    let servers: Vec<Vec<String>> = run
        .rows
        .iter()
        .map(|row| {
            vec![
                format!("`{}`", row.contender.name),
                row.contender.description.to_string(),
            ]
        })
        .collect();
    add(&aligned_table(
        Style::Markdown,
        &["server", "what it is"].map(String::from),
        &servers,
        2,
    ));
    add("\n## HTTP/1.1 under wrk\n\n");
    add(
        "`examples/hyper_server.rs` serves the same hyper service on uvtcp local tasks and on tokio's current-thread runtime, each loaded by `wrk` in turn.\n\n",
    );
    add(&run.http);
    add("\n## Figures\n\n");
    for metric in Metric::ALL {
        add(&format!(
            "- {}: {}.\n",
            metric.heading(),
            metric.description()
        ));
    }
    add(
        "\nSpeeds, higher is better (median of the rounds, ± the distance of the farthest round from it):\n\n",
    );
    add(&figures_table(Style::Markdown, run, &Metric::SPEEDS));
    add("\nCosts, lower is better:\n\n");
    add(&figures_table(Style::Markdown, run, &Metric::COSTS));
    for (base, what) in [
        (RAW, "raw libuv"),
        (TOKIO_CURRENT, "tokio's current-thread runtime"),
    ] {
        add(&format!("\n## Ratios to {what} (`{base}`)\n\n"));
        add(
            "Each figure divided by the same figure of the base: for speeds above 1 is faster, for costs below 1 is cheaper.\n\n",
        );
        add(&ratio_table(Style::Markdown, run, base));
    }
    add(&format!("\n![The figures as bars]({chart_name})\n\n"));
    add("## Targets\n\n");
    add("The targets set for the loop-thread fast path, judged on this run.\n\n");
    let figures = run.figures_by_name();
    let judged: Vec<_> = TARGETS
        .iter()
        .map(|target| target.judge(&figures))
        .collect();
    let rows: Vec<Vec<String>> = judged
        .iter()
        .map(|judged| {
            vec![
                judged.subject.clone(),
                judged.required.clone(),
                judged.achieved.clone(),
                judged.verdict.to_string(),
            ]
        })
        .collect();
    add(&table(
        Style::Markdown,
        &["target", "required", "achieved", "verdict"].map(String::from),
        &rows,
    ));
    add("\n");
    for judged in judged.iter().filter(|judged| !judged.note.is_empty()) {
        add(&format!("- {}: {}.\n", judged.subject, judged.note));
    }
    for reading in targets::readings(&figures, run.cpus) {
        add(&format!("- {reading}\n"));
    }
    add(&format!("\n{END_OF_GENERATED}\n"));
    text
}

/// Writes RESULTS.md into `directory`, keeping what an earlier file had
/// after its generated part.
pub fn write(run: &Run, directory: &Path, chart_name: &str) -> Result<(), Error> {
    let path = directory.join("RESULTS.md");
    let earlier = std::fs::read_to_string(&path).unwrap_or_default();
    let kept = match earlier.split_once(END_OF_GENERATED) {
        Some((_, kept)) => kept.trim_start_matches('\n').to_string(),
        None => NEW_ANALYSIS.trim_start_matches('\n').to_string(),
    };
    let text = format!("{}\n{kept}", generated(run, chart_name));
    std::fs::write(&path, text)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::servers::CONTENDERS;
    use crate::bench::stats::Sample;

    fn run() -> Run {
        let rows = CONTENDERS
            .iter()
            .enumerate()
            .map(|(index, contender)| Row {
                contender: *contender,
                figures: Metric::ALL
                    .iter()
                    .map(|&metric| {
                        (
                            metric,
                            Sample::of(&[1.0 + index as f64, 2.0 + index as f64]),
                        )
                    })
                    .collect(),
            })
            .collect();
        Run {
            setting: "Measured here.".to_string(),
            load: "Some load.".to_string(),
            cpus: 2,
            rows,
            http: "| a | b |\n".to_string(),
        }
    }

    #[test]
    fn tables_align_their_columns() {
        let headings = ["name", "value"].map(String::from);
        let rows = vec![
            vec!["a".to_string(), "1".to_string()],
            vec!["bcd".to_string(), "22".to_string()],
        ];
        assert_eq!(
            table(Style::Text, &headings, &rows),
            "name  value\na         1\nbcd      22\n"
        );
        assert_eq!(
            table(Style::Markdown, &headings, &rows),
            "| name | value |\n| ---- | ----: |\n| a    |     1 |\n| bcd  |    22 |\n"
        );
    }

    #[test]
    fn ratios_divide_by_the_base_server() {
        let text = ratio_table(Style::Text, &run(), RAW);
        let raw_line = text.lines().nth(1).unwrap();
        assert!(
            raw_line.starts_with("raw_echo") && raw_line.ends_with("1.00"),
            "{raw_line}"
        );
        // handle_echo's medians are 2.5 against raw_echo's 1.5.
        assert!(text.lines().nth(2).unwrap().ends_with("1.67"), "{text}");
    }

    #[test]
    fn a_rewrite_keeps_what_follows_the_generated_part() {
        let directory = std::env::temp_dir().join(format!("xtask-report-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        write(&run(), &directory, "chart.svg").unwrap();
        let first = std::fs::read_to_string(directory.join("RESULTS.md")).unwrap();
        assert!(first.contains("| `local_echo`: syscalls/rt |"), "{first}");
        assert!(first.ends_with(NEW_ANALYSIS.trim_start_matches('\n')));
        let analysed = first.replace("Not written yet.", "The loop is fast.");
        std::fs::write(directory.join("RESULTS.md"), analysed).unwrap();
        write(&run(), &directory, "chart.svg").unwrap();
        let second = std::fs::read_to_string(directory.join("RESULTS.md")).unwrap();
        assert!(
            second.ends_with("## Analysis\n\nThe loop is fast.\n"),
            "{second}"
        );
        assert_eq!(second.matches(END_OF_GENERATED).count(), 1);
        std::fs::remove_dir_all(&directory).unwrap();
    }
}
