//! `cargo xtask`: the project's automation, in plain Rust.
//!
//! Run `cargo xtask help` for the list of commands.

mod bench;
mod codegen;
mod command;
mod demo;
mod http_load;
mod reliability;
mod server;
mod tidy;
mod vendor;

use std::process::{Command, ExitCode};

use bench::peers::Scheduler;
use command::{Error, cargo, project_root};

const HELP: &str = "\
usage: cargo xtask <command>

commands:
  vendor [--check]   fill vendor/libuv from the pinned package and verify it (--check: verify only)
  bindgen [--check]  regenerate uv-sys's committed bindings (--check: fail if they are stale)
  test               vendor if needed, then run every test of the workspace
  valgrind           run uv-handle's tests and the uvtcp leakcheck under valgrind
  ci                 everything CI checks: fmt, clippy, bindgen, vendor, tidy, test, valgrind,
                     reliability --quick, docs, bench --quick
  system-libuv       check the opt-in system libuv build (UV_SYS_USE_PKG_CONFIG=1)
  http-load [--quick] load the hyper example on uvtcp and on tokio with wrk; print both rates
  demo               run the echo demo and print what happened
  bench [--quick]    measure the echo servers of every layer against tokio and std::net peers
                     and write bench/RESULTS.md (--quick: a short run that checks the bench)
  reliability [--quick]
                     the heavy reliability cases, valgrind and the long property test;
                     rewrites RELIABILITY.md (--quick: the light version CI runs, writes nothing)
  tidy               check the project's house rules";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[&str]) -> Result<(), Error> {
    match args {
        ["vendor"] => vendor::vendor(),
        ["vendor", "--check"] => vendor::check(),
        ["bindgen"] => codegen::bindgen(codegen::Mode::Write),
        ["bindgen", "--check"] => codegen::bindgen(codegen::Mode::Check),
        ["test"] => test(),
        ["valgrind"] => valgrind(),
        ["ci"] => ci(),
        ["demo"] => demo::demo(),
        ["bench", flags @ ..] => bench::bench(flags),
        ["__bench", flags @ ..] => bench::measure(flags),
        ["__std-echo"] => bench::peers::std_echo(),
        ["__tokio-current-echo"] => bench::peers::tokio_echo(Scheduler::CurrentThread),
        ["__tokio-multi-echo"] => bench::peers::tokio_echo(Scheduler::MultiThread),
        ["reliability"] => reliability::reliability(reliability::Mode::Full),
        ["reliability", "--quick"] => reliability::reliability(reliability::Mode::Quick),
        ["system-libuv"] => system_libuv(),
        ["http-load"] => http_load(false),
        ["http-load", "--quick"] => http_load(true),
        ["tidy"] => tidy::check(&project_root()),
        [] | ["help"] | ["--help"] | ["-h"] => {
            println!("{HELP}");
            Ok(())
        }
        _ => Err(Error::new(format!(
            "unknown command `{}`\n{HELP}",
            args.join(" ")
        ))),
    }
}

/// Prints the table of `http_load::hyper_vs_tokio`.
fn http_load(quick: bool) -> Result<(), Error> {
    println!("{}", http_load::hyper_vs_tokio(quick)?);
    Ok(())
}

/// Vendors libuv when needed, then runs every test target and the doc tests.
fn test() -> Result<(), Error> {
    vendor::ensure()?;
    cargo(&["test", "--workspace", "--all-targets", "--locked"])?;
    cargo(&["test", "--workspace", "--doc", "--locked"])
}

/// Runs uv-handle's unit tests, and a workout of uvtcp's public API (the
/// `leakcheck` binary of the tests crate), under valgrind's leak checker.
fn valgrind() -> Result<(), Error> {
    vendor::ensure()?;
    command::require("valgrind")?;
    let runner = "valgrind --leak-check=full --errors-for-leak-kinds=definite \
                  --error-exitcode=1 --quiet";
    command::run(
        command::cargo_command(&["test", "--package", "uv-handle", "--lib", "--locked"])
            .env("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER", runner)
            .env("RUST_TEST_THREADS", "1")
            // The tests shrink their bulk transfers and lengthen their
            // timeouts under valgrind; none is skipped.
            .env("UV_HANDLE_UNDER_VALGRIND", "1"),
    )?;
    command::run(
        command::cargo_command(&[
            "run",
            "--package",
            "uvtcp-tests",
            "--bin",
            "leakcheck",
            "--locked",
        ])
        .env("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER", runner),
    )
}

/// Builds uv-sys against the system libuv (`UV_SYS_USE_PKG_CONFIG=1`): it
/// must link a libuv 1.53.x and refuse, with a message naming the version
/// found, any other.
fn system_libuv() -> Result<(), Error> {
    command::require("pkg-config")?;
    let version = Command::new("pkg-config")
        .args(["--modversion", "libuv"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
        .ok_or_else(|| {
            Error::new(
                "pkg-config finds no libuv: install it with `apt-get install libuv1-dev` (Debian)",
            )
        })?;
    let target_dir = command::target_dir()?.join("system-libuv");
    let output = command::cargo_command(&["build", "--package", "uv-sys", "--tests", "--locked"])
        .env("UV_SYS_USE_PKG_CONFIG", "1")
        .env("CARGO_TARGET_DIR", &target_dir)
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let supported = version.starts_with("1.53.");
    match (supported, output.status.success()) {
        (true, true) => {
            println!("uv-sys builds against the system libuv {version}");
            Ok(())
        }
        (false, false) if stderr.contains("needs a system libuv") && stderr.contains(&version) => {
            println!(
                "uv-sys refuses the system libuv {version}, as it must (the bindings describe 1.53)"
            );
            Ok(())
        }
        (true, false) => Err(Error::new(format!(
            "uv-sys does not build against the system libuv {version}:\n{stderr}"
        ))),
        (false, _) => Err(Error::new(format!(
            "uv-sys did not refuse the system libuv {version} with a clear message:\n{stderr}"
        ))),
    }
}

/// Everything CI checks, in order of cost.
fn ci() -> Result<(), Error> {
    // A fresh clone has no vendored tree yet: fetch it, then verify it.
    vendor::ensure()?;
    vendor::check()?;
    cargo(&["fmt", "--all", "--", "--check"])
        .map_err(|e| e.context("formatting differs: run `cargo fmt --all` and commit"))?;
    tidy::check(&project_root())?;
    codegen::bindgen(codegen::Mode::Check)?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ])?;
    test()?;
    system_libuv()?;
    valgrind()?;
    reliability::reliability(reliability::Mode::Quick)?;
    command::run(
        command::cargo_command(&["doc", "--workspace", "--no-deps", "--locked"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    bench::bench(&["--quick"])
}
