//! `cargo xtask tidy`: house rules checked on the source tree.
//!
//! The same checks run as a `#[test]`, so `cargo test --workspace` enforces them.

use std::fs;
use std::path::{Path, PathBuf};

use crate::command::Error;

/// Checks every rule and reports all violations at once.
pub fn check(root: &Path) -> Result<(), Error> {
    let mut problems = Vec::new();
    for path in rust_files(root) {
        let text = fs::read_to_string(&path).unwrap_or_default();
        let relative = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        check_file(&relative, &text, &mut problems);
    }
    let uvtcp_lib = fs::read_to_string(root.join("uvtcp/src/lib.rs")).unwrap_or_default();
    if !uvtcp_lib.contains("#![forbid(unsafe_code)]") {
        problems.push("uvtcp/src/lib.rs must start with #![forbid(unsafe_code)]".to_string());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::new(format!(
            "house rules do not hold:\n  {}",
            problems.join("\n  ")
        )))
    }
}

fn check_file(relative: &Path, text: &str, problems: &mut Vec<String>) {
    let name = relative.display().to_string();
    let generated = name.starts_with("uv-sys/src/bindings/");
    if !generated && !text.starts_with("//!") {
        problems.push(format!("{name}: start the file with a `//!` doc comment"));
    }
    let unsafe_free = ["uvtcp/", "xtask/", "tests/"];
    let unsafe_block = ["unsafe", " {"].concat();
    if unsafe_free.iter().any(|prefix| name.starts_with(prefix)) {
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if uses_unsafe(code) {
                problems.push(format!(
                    "{name}:{}: no unsafe code outside uv-handle and uv-sys",
                    number + 1
                ));
            }
        }
    }
    // Every hand-written unsafe block is justified; only the bindings that
    // bindgen writes are exempt.
    let may_use_unsafe = name.starts_with("uv-handle/") || name.starts_with("uv-sys/");
    if may_use_unsafe && !generated {
        let lines: Vec<&str> = text.lines().collect();
        for (index, line) in lines.iter().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if !code.contains(&unsafe_block) {
                continue;
            }
            // The comment sits in the three lines above the block (or on its line).
            let start = index.saturating_sub(3);
            let justified = lines[start..=index]
                .iter()
                .any(|line| line.contains("SAFETY:"));
            if !justified {
                problems.push(format!(
                    "{name}:{}: an unsafe block needs a `// SAFETY:` comment just above it",
                    index + 1
                ));
            }
        }
    }
    for attribute in ["#[ignore", "#[should_panic"] {
        for (number, line) in text.lines().enumerate() {
            if line.trim_start().starts_with(attribute) && !line.contains("FIXME") {
                problems.push(format!(
                    "{name}:{}: `{attribute}]` needs a FIXME that says why",
                    number + 1
                ));
            }
        }
    }
}

/// Whether a line of code opens an unsafe block or declares an unsafe item.
fn uses_unsafe(code: &str) -> bool {
    let keyword = ["un", "safe"].concat();
    code.match_indices(&keyword).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = &code[at + keyword.len()..];
        let starts_word = !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '"');
        let use_follows = [" {", " fn", " impl", " extern", " trait"]
            .iter()
            .any(|next| after.starts_with(next));
        starts_word && use_follows
    })
}

fn rust_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["uv-sys", "uv-handle", "uvtcp", "xtask", "tests"] {
        collect(&root.join(dir), &mut files);
    }
    files.sort();
    files
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|name| name != "target") {
                collect(&path, files);
            }
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::command::project_root;

    #[test]
    fn house_rules_hold() {
        if let Err(error) = super::check(&project_root()) {
            panic!("{error}");
        }
    }

    #[test]
    fn only_generated_bindings_may_hold_unjustified_unsafe_blocks() {
        let problems_in = |name: &str, text: &str| {
            let mut problems = Vec::new();
            super::check_file(std::path::Path::new(name), text, &mut problems);
            problems
        };
        let bare = ["//! A file.\nfn f() {\n    un", "safe { g() };\n}\n"].concat();
        for name in [
            "uv-sys/examples/raw_echo.rs",
            "uv-sys/tests/smoke.rs",
            "uv-handle/src/tcp.rs",
            "uv-handle/examples/handle_echo.rs",
        ] {
            assert_eq!(problems_in(name, &bare).len(), 1, "{name} must be checked");
        }
        let bindings = "uv-sys/src/bindings/x86_64-unknown-linux-gnu.rs";
        assert!(problems_in(bindings, &bare).is_empty());
        let justified = bare.replace(
            "fn f() {",
            "fn f() {\n    // SAFETY: g has no precondition.",
        );
        assert!(problems_in("uv-sys/examples/raw_echo.rs", &justified).is_empty());
    }
}
