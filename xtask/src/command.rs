//! Running programs and reporting failures.

use std::fmt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// A failed step, with a message that says what to do about it.
#[derive(Debug)]
pub struct Error(String);

impl Error {
    pub fn new(message: impl Into<String>) -> Error {
        Error(message.into())
    }

    /// Adds a line that says how to fix the failure.
    pub fn context(self, fix: &str) -> Error {
        Error(format!("{}\n{fix}", self.0))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<std::io::Error> for Error {
    fn from(error: std::io::Error) -> Error {
        Error(error.to_string())
    }
}

/// The workspace root, found from this crate's manifest directory.
pub fn project_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// A `cargo` command (the one that runs xtask) in the workspace root.
pub fn cargo_command(args: &[&str]) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.args(args).current_dir(project_root());
    command
}

/// Runs `cargo` with `args` in the workspace root.
pub fn cargo(args: &[&str]) -> Result<(), Error> {
    run(&mut cargo_command(args))
}

/// Runs a command, echoing it first, and fails if it does not succeed.
pub fn run(command: &mut Command) -> Result<(), Error> {
    let shown = describe(command);
    eprintln!("$ {shown}");
    let status = command
        .status()
        .map_err(|error| Error::new(format!("could not start `{shown}`: {error}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::new(format!("`{shown}` failed ({status})")))
    }
}

/// cargo's target directory for this workspace, as cargo itself resolves
/// it (`CARGO_TARGET_DIR`, `build.target-dir`, or `target/`).
pub fn target_dir() -> Result<PathBuf, Error> {
    let output = cargo_command(&["metadata", "--format-version", "1", "--no-deps"])
        .stderr(Stdio::inherit())
        .output()?;
    if !output.status.success() {
        return Err(Error::new(format!(
            "`cargo metadata` failed ({}), so the target directory is unknown",
            output.status
        )));
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|error| Error::new(format!("cargo metadata printed invalid JSON: {error}")))?;
    metadata["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| Error::new("cargo metadata gave no target_directory"))
}

/// The Debian package of each tool a command may need.
const DEBIAN_PACKAGES: &[(&str, &str)] = &[
    ("libclang", "libclang-dev"),
    ("valgrind", "valgrind"),
    ("strace", "strace"),
    ("taskset", "util-linux"),
    ("prlimit", "util-linux"),
    ("wrk", "wrk"),
    ("redis-server", "redis-server"),
    ("pkg-config", "pkg-config"),
];

/// Checks that `tool` is there before a command uses it: a program on the
/// `PATH`, or `"libclang"`, looked for the way bindgen loads it (which
/// honours `LIBCLANG_PATH`). When it is missing, the error is one line that
/// names the Debian package to install.
pub fn require(tool: &str) -> Result<(), Error> {
    let found = if tool == "libclang" {
        // Leaves the library loaded for this thread, where bindgen uses it.
        clang_sys::load().is_ok()
    } else {
        on_path(tool)
    };
    if found { Ok(()) } else { Err(missing(tool)) }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

fn missing(tool: &str) -> Error {
    let package = DEBIAN_PACKAGES
        .iter()
        .find(|(name, _)| *name == tool)
        .map_or(tool, |(_, package)| package);
    Error::new(format!(
        "`{tool}` was not found: install it with `apt-get install {package}` (Debian) and rerun"
    ))
}

fn describe(command: &Command) -> String {
    let mut words = vec![command.get_program().to_string_lossy().into_owned()];
    words.extend(
        command
            .get_args()
            .map(|arg| arg.to_string_lossy().into_owned()),
    );
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_is_one_line_naming_its_debian_package() {
        for (tool, package) in DEBIAN_PACKAGES {
            let message = missing(tool).to_string();
            assert!(!message.contains('\n'), "{message}");
            assert!(
                message.contains(&format!("`apt-get install {package}`")),
                "{message}"
            );
        }
        let message = require("no-such-tool-anywhere").unwrap_err().to_string();
        assert_eq!(
            message,
            "`no-such-tool-anywhere` was not found: \
             install it with `apt-get install no-such-tool-anywhere` (Debian) and rerun"
        );
    }

    #[test]
    fn a_program_on_the_path_is_found() {
        assert!(require("sh").is_ok());
    }

    #[test]
    fn the_target_directory_is_cargo_s() {
        let target = target_dir().unwrap();
        assert!(target.is_absolute(), "{}", target.display());
        // This test runs from a binary cargo put below the target directory.
        let this_test = std::env::current_exe().unwrap();
        assert!(this_test.starts_with(&target), "{}", this_test.display());
    }
}
