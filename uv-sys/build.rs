//! Builds libuv for `uv-sys`.
//!
//! By default the vendored tree in `../vendor/libuv` (filled by
//! `cargo xtask vendor`) is compiled with the `cc` crate, following the source
//! lists, defines and flags of libuv's own CMakeLists.txt for the target.
//! With `UV_SYS_USE_PKG_CONFIG=1` a system libuv is linked instead, but only a
//! release of the series the committed bindings describe.

use std::env;
use std::path::{Path, PathBuf};

/// The libuv series the committed bindings describe: a system libuv must be
/// at least the first and below the second version.
const SYSTEM_VERSION_RANGE: (&str, &str) = ("1.53.0", "1.54.0");

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=UV_SYS_USE_PKG_CONFIG");
    if env::var("UV_SYS_USE_PKG_CONFIG").is_ok_and(|value| value == "1") {
        link_system_libuv();
    } else {
        build_vendored_libuv();
    }
}

fn link_system_libuv() {
    let (min, max) = SYSTEM_VERSION_RANGE;
    // Probe first without emitting link lines, so a refused library leaves no trace.
    let probe = pkg_config::Config::new()
        .range_version(min..max)
        .cargo_metadata(false)
        .probe("libuv");
    match probe {
        Ok(_) => {
            let library = pkg_config::Config::new()
                .range_version(min..max)
                .probe("libuv")
                .expect("libuv was accepted by the probe just before");
            for include in &library.include_paths {
                println!("cargo:include={}", include.display());
            }
        }
        Err(error) => {
            let found = pkg_config::Config::new()
                .cargo_metadata(false)
                .probe("libuv")
                .map(|library| format!("found libuv {}", library.version))
                .unwrap_or_else(|_| "found no libuv through pkg-config".to_string());
            panic!(
                "UV_SYS_USE_PKG_CONFIG=1 needs a system libuv >= {min}, < {max} \
                 (the version the committed bindings describe), but {found}; \
                 unset UV_SYS_USE_PKG_CONFIG to build the vendored libuv ({error})"
            );
        }
    }
}

fn build_vendored_libuv() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir.join("..").join("vendor").join("libuv");
    let include = root.join("include");
    if !include.join("uv.h").is_file() {
        panic!("vendor/libuv is missing: run `cargo xtask vendor` in the workspace root");
    }
    println!("cargo:rerun-if-changed={}", root.display());

    let target_os = env::var("CARGO_CFG_TARGET_OS").expect("set by cargo");
    let target_family = env::var("CARGO_CFG_TARGET_FAMILY").unwrap_or_default();
    if target_os != "linux" || target_family != "unix" {
        panic!(
            "uv-sys builds the vendored libuv for Linux only (target OS `{target_os}`); \
             other targets need their own source list and bindings"
        );
    }

    let mut build = cc::Build::new();
    build.include(&include).include(root.join("src"));
    for file in source_files(&root) {
        build.file(root.join(file));
    }
    // Defines of CMakeLists.txt for every Unix and for Linux.
    for (name, value) in [
        ("_FILE_OFFSET_BITS", "64"),
        ("_LARGEFILE_SOURCE", "1"),
        ("_GNU_SOURCE", "1"),
        ("_POSIX_C_SOURCE", "200112"),
    ] {
        build.define(name, value);
    }
    // Warning flags of CMakeLists.txt; `cc` prints warnings of the vendored
    // source as cargo warnings only when asked, so they stay quiet by default.
    build
        .flag_if_supported("-Wall")
        .flag_if_supported("-Wextra")
        .flag_if_supported("-Wstrict-prototypes")
        .flag_if_supported("-Wno-unused-parameter")
        .flag_if_supported("-fno-strict-aliasing")
        // A Rust library loaded into a process that already has libuv (Node,
        // for example) must not interpose its symbols.
        .flag_if_supported("-fvisibility=hidden")
        .warnings(false);
    build.compile("uv");

    for library in ["pthread", "dl", "rt"] {
        println!("cargo:rustc-link-lib={library}");
    }
    println!("cargo:root={}", root.display());
    println!("cargo:include={}", include.display());
}

/// The sources CMakeLists.txt compiles on Linux, sorted so builds are reproducible.
fn source_files(root: &Path) -> Vec<String> {
    let common = [
        "fs-poll.c",
        "idna.c",
        "inet.c",
        "random.c",
        "strscpy.c",
        "strtok.c",
        "thread-common.c",
        "threadpool.c",
        "timer.c",
        "uv-common.c",
        "uv-data-getter-setters.c",
        "version.c",
    ];
    let unix = [
        "async.c",
        "core.c",
        "dl.c",
        "fs.c",
        "getaddrinfo.c",
        "getnameinfo.c",
        "loop-watcher.c",
        "loop.c",
        "pipe.c",
        "poll.c",
        "process.c",
        "random-devurandom.c",
        "signal.c",
        "stream.c",
        "tcp.c",
        "thread.c",
        "tty.c",
        "udp.c",
        // Linux only.
        "linux.c",
        "procfs-exepath.c",
        "random-getrandom.c",
        "random-sysctl-linux.c",
        // Linux also builds the generic proctitle support.
        "proctitle.c",
    ];
    let mut files: Vec<String> = common
        .iter()
        .map(|file| format!("src/{file}"))
        .chain(unix.iter().map(|file| format!("src/unix/{file}")))
        .collect();
    files.sort();
    for file in &files {
        assert!(
            root.join(file).is_file(),
            "vendor/libuv lacks {file}: run `cargo xtask vendor`"
        );
    }
    files
}
