//! hyper under load: `uvtcp/examples/hyper_server` served by uvtcp's local
//! tasks and, with `--tokio`, by tokio's current-thread runtime, each loaded
//! by the real `wrk` (Debian's package `wrk`) over loopback.
//!
//! Both modes run the same hyper service from the same binary, so the
//! ratio of their rates compares the transports and executors alone.

use std::process::Command;

use crate::command::{Error, cargo, require, target_dir};
use crate::server::Server;
use crate::vendor;

/// `wrk`'s load: one thread and 50 connections.
const WRK_LOAD: [&str; 2] = ["-t1", "-c50"];

/// The example's modes: the table's label and the example's flags.
const MODES: [(&str, &[&str]); 2] = [
    ("uvtcp, local tasks (`hyper_server`)", &[]),
    (
        "tokio, current-thread runtime (`hyper_server --tokio`)",
        &["--tokio"],
    ),
];

/// Builds `hyper_server` in release mode, loads each of its modes with
/// `wrk -t1 -c50` for 5 s (1 s when `quick`) on a loopback port the server
/// chose, and returns a markdown table of both rates and their ratio.
///
/// A missing `wrk` is one line naming `apt-get install wrk`; a server that
/// answers anything but success, or drops connections, fails the run.
pub fn hyper_vs_tokio(quick: bool) -> Result<String, Error> {
    require("wrk")?;
    vendor::ensure()?;
    cargo(&[
        "build",
        "--quiet",
        "--release",
        "--package",
        "uvtcp",
        "--features",
        "tokio",
        "--example",
        "hyper_server",
    ])?;
    let binary = target_dir()?
        .join("release")
        .join("examples")
        .join("hyper_server");
    let duration = if quick { "-d1s" } else { "-d5s" };
    let mut rates = Vec::new();
    for (label, flags) in MODES {
        let server = Server::start(Command::new(&binary).args(flags).args(["127.0.0.1", "0"]))?;
        let url = format!("http://{}/", server.address()?);
        eprintln!("loading {label} at {url} with wrk");
        let output = Command::new("wrk")
            .args(WRK_LOAD)
            .arg(duration)
            .arg(&url)
            .output()
            .map_err(|error| Error::new(format!("wrk did not start: {error}")))?;
        let report = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(Error::new(format!(
                "wrk failed against {label} ({}): {report}{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        let rate = requests_per_second(&report)
            .map_err(|problem| Error::new(format!("{label}: {problem}")))?;
        rates.push(rate);
    }
    Ok(table(
        &format!("wrk {} {duration}", WRK_LOAD.join(" ")),
        &rates,
    ))
}

/// The rate in a `wrk` report; `Err` says what is wrong with a report that
/// shows failed requests or has no rate.
fn requests_per_second(report: &str) -> Result<f64, String> {
    let failures = ["Socket errors:", "Non-2xx or 3xx responses:"];
    if let Some(line) = report
        .lines()
        .find(|line| failures.iter().any(|failure| line.contains(failure)))
    {
        return Err(format!(
            "wrk saw failed requests ({}):\n{report}",
            line.trim()
        ));
    }
    report
        .lines()
        .find_map(|line| line.strip_prefix("Requests/sec:"))
        .and_then(|rate| rate.trim().parse().ok())
        .ok_or_else(|| format!("no `Requests/sec:` in wrk's report:\n{report}"))
}

/// The markdown table of the rates of [`MODES`], in order, under `load`.
fn table(load: &str, rates: &[f64]) -> String {
    let mut table = format!("| hyper 1.x HTTP/1.1, `{load}` | requests/s |\n| --- | ---: |\n");
    for ((label, _), rate) in MODES.iter().zip(rates) {
        table.push_str(&format!("| {label} | {rate:.0} |\n"));
    }
    if let [uvtcp, tokio] = rates {
        table.push_str(&format!("| uvtcp / tokio | {:.2} |\n", uvtcp / tokio));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "\
Running 1s test @ http://127.0.0.1:40000/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.02ms  120.00us   3.00ms   90.00%
    Req/Sec    48.00k     1.00k   50.00k    80.00%
  48000 requests in 1.00s, 6.00MB read
Requests/sec:  48012.34
Transfer/sec:      6.00MB
";

    #[test]
    fn the_rate_is_read_from_a_clean_report() {
        assert_eq!(requests_per_second(REPORT), Ok(48012.34));
    }

    #[test]
    fn failed_requests_fail_the_run() {
        let with_errors = REPORT.replace(
            "Requests/sec",
            "  Socket errors: connect 0, read 3, write 0, timeout 0\nRequests/sec",
        );
        let problem = requests_per_second(&with_errors).unwrap_err();
        assert!(problem.contains("read 3"), "{problem}");
        let with_statuses = REPORT.replace(
            "Requests/sec",
            "  Non-2xx or 3xx responses: 7\nRequests/sec",
        );
        let problem = requests_per_second(&with_statuses).unwrap_err();
        assert!(problem.contains("responses: 7"), "{problem}");
        assert!(requests_per_second("no report at all").is_err());
    }

    #[test]
    fn the_table_has_both_rates_and_their_ratio() {
        assert_eq!(
            table("wrk -t1 -c50 -d5s", &[30000.4, 40000.0]),
            "| hyper 1.x HTTP/1.1, `wrk -t1 -c50 -d5s` | requests/s |\n\
             | --- | ---: |\n\
             | uvtcp, local tasks (`hyper_server`) | 30000 |\n\
             | tokio, current-thread runtime (`hyper_server --tokio`) | 40000 |\n\
             | uvtcp / tokio | 0.75 |\n"
        );
    }
}
