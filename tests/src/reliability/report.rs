//! What a case found: a short account of what was tried, tables of the
//! figures measured, and the failures, rendered as Markdown for
//! `RELIABILITY.md` and as plain lines for the terminal.

use std::fmt::Write as _;

/// A table: a header row and rows of the same width.
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column names.
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(ToString::to_string).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.header.len());
        self.rows.push(cells);
    }

    fn markdown(&self, out: &mut String) {
        let _ = writeln!(out, "| {} |", self.header.join(" | "));
        let _ = writeln!(out, "|{}", " --- |".repeat(self.header.len()));
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(|cell| cell.replace('|', "\\|")).collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
    }
}

/// The outcome of one case.
#[derive(Debug)]
pub struct CaseReport {
    /// The heading, e.g. "Concurrent connections held".
    pub title: &'static str,
    /// What was tried, one sentence per entry.
    pub tried: Vec<String>,
    /// The measured figures.
    pub tables: Vec<Table>,
    /// What went wrong; empty when the case passed.
    pub failures: Vec<String>,
    /// Seconds the case took.
    pub seconds: f64,
}

impl CaseReport {
    /// A report with nothing measured yet.
    pub fn new(title: &'static str) -> CaseReport {
        CaseReport {
            title,
            tried: Vec::new(),
            tables: Vec::new(),
            failures: Vec::new(),
            seconds: 0.0,
        }
    }

    /// Records a failure unless `holds`.
    pub fn check(&mut self, holds: bool, failure: impl FnOnce() -> String) {
        if !holds {
            self.failures.push(failure());
        }
    }

    /// How many failures mention `word` ("panicked", "hung", ...).
    pub fn failures_mentioning(&self, word: &str) -> usize {
        self.failures
            .iter()
            .filter(|failure| failure.contains(word))
            .count()
    }

    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// The case as a Markdown section.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let verdict = if self.passed() { "passed" } else { "FAILED" };
        let _ = writeln!(out, "## {}\n", self.title);
        for sentence in &self.tried {
            let _ = writeln!(out, "{sentence}");
        }
        let _ = writeln!(out, "\nResult: **{verdict}** in {:.1} s.\n", self.seconds);
        for table in &self.tables {
            table.markdown(&mut out);
            out.push('\n');
        }
        for failure in &self.failures {
            let _ = writeln!(out, "- failure: {failure}");
        }
        if !self.failures.is_empty() {
            out.push('\n');
        }
        out
    }

    /// The case as plain lines for the terminal.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let verdict = if self.passed() { "ok" } else { "FAILED" };
        let _ = writeln!(out, "{}: {verdict} ({:.1} s)", self.title, self.seconds);
        for table in &self.tables {
            for row in &table.rows {
                let _ = writeln!(out, "    {}", row.join(" | "));
            }
        }
        for failure in &self.failures {
            let _ = writeln!(out, "    failure: {failure}");
        }
        out
    }
}

/// Bytes as MiB with one decimal.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1u32 << 20))
}
