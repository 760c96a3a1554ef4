//! `cargo xtask vendor`: fills `vendor/libuv/` with the pinned libuv release and
//! verifies it against the committed manifest `vendor/libuv.manifest`.
//!
//! The release comes from a package of the Rust package registry, fetched by
//! cargo with `--locked` through the throwaway manifest in `vendor/fetch/`, so
//! cargo verifies the package checksum recorded in `vendor/fetch/Cargo.lock`.
//! The tree we copy out of it is then hashed (see [`tree_sha256`]) and compared
//! with the manifest, so a tampered or different tree is refused.

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::command::{Error, cargo_command, project_root};

/// What `vendor/libuv.manifest` pins.
struct Manifest {
    libuv_version: String,
    package: String,
    package_version: String,
    tree_sha256: String,
}

/// The parts of libuv's release that the build and its users need: headers,
/// sources and licences. Tests, docs sources and build files stay behind.
const COPIED: &[&str] = &[
    "include",
    "src",
    "AUTHORS",
    "ChangeLog",
    "LICENSE",
    "LICENSE-extra",
    "README.md",
];

fn vendor_dir() -> PathBuf {
    project_root().join("vendor")
}

fn libuv_dir() -> PathBuf {
    vendor_dir().join("libuv")
}

/// `cargo xtask vendor`: vendors libuv unless the verified tree is already there.
pub fn vendor() -> Result<(), Error> {
    let manifest = Manifest::read()?;
    if verify(&manifest).is_ok() {
        println!(
            "vendor/libuv holds libuv {} and matches vendor/libuv.manifest",
            manifest.libuv_version
        );
        return Ok(());
    }
    let package_dir = fetch_package(&manifest)?;
    let source = package_dir.join("libuv");
    let staging = vendor_dir().join("libuv.partial");
    if staging.exists() {
        fs::remove_dir_all(&staging)?;
    }
    fs::create_dir_all(&staging)?;
    for entry in COPIED {
        copy_tree(&source.join(entry), &staging.join(entry))?;
    }
    let actual = tree_sha256(&staging)?;
    if actual != manifest.tree_sha256 {
        fs::remove_dir_all(&staging)?;
        return Err(Error::new(format!(
            "the libuv tree in {} has SHA-256 {actual}, but vendor/libuv.manifest pins {}; \
             refusing to vendor it",
            source.display(),
            manifest.tree_sha256
        )));
    }
    if libuv_dir().exists() {
        fs::remove_dir_all(libuv_dir())?;
    }
    fs::rename(&staging, libuv_dir())?;
    println!(
        "vendored libuv {} from {} {} into vendor/libuv (SHA-256 {actual})",
        manifest.libuv_version, manifest.package, manifest.package_version
    );
    Ok(())
}

/// `cargo xtask vendor --check`: verifies the vendored tree, changes nothing.
pub fn check() -> Result<(), Error> {
    let manifest = Manifest::read()?;
    verify(&manifest)?;
    println!(
        "vendor/libuv holds libuv {} and matches vendor/libuv.manifest",
        manifest.libuv_version
    );
    Ok(())
}

/// Vendors libuv if the tree is missing or does not match; quiet when it does.
pub fn ensure() -> Result<(), Error> {
    let manifest = Manifest::read()?;
    if verify(&manifest).is_ok() {
        return Ok(());
    }
    vendor()
}

fn verify(manifest: &Manifest) -> Result<(), Error> {
    let dir = libuv_dir();
    if !dir.join("include").join("uv.h").is_file() {
        return Err(Error::new(
            "vendor/libuv is missing: run `cargo xtask vendor`",
        ));
    }
    let actual = tree_sha256(&dir)?;
    if actual != manifest.tree_sha256 {
        return Err(Error::new(format!(
            "vendor/libuv has SHA-256 {actual} but vendor/libuv.manifest pins {}: \
             delete vendor/libuv and run `cargo xtask vendor`",
            manifest.tree_sha256
        )));
    }
    Ok(())
}

/// Lets cargo download and verify the pinned package; returns its unpacked folder.
fn fetch_package(manifest: &Manifest) -> Result<PathBuf, Error> {
    let fetch_manifest = vendor_dir().join("fetch").join("Cargo.toml");
    let output = cargo_command(&["metadata", "--format-version", "1", "--locked"])
        .arg("--manifest-path")
        .arg(&fetch_manifest)
        .output()?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let reason = stderr
            .lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .unwrap_or("no output")
            .trim();
        return Err(Error::new(format!(
            "could not fetch {} {} from the Rust package registry ({reason}); \
             check the network connection and rerun `cargo xtask vendor`",
            manifest.package, manifest.package_version
        )));
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|error| Error::new(format!("cargo metadata printed invalid JSON: {error}")))?;
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    let package = packages
        .iter()
        .find(|package| {
            package["name"] == manifest.package.as_str()
                && package["version"] == manifest.package_version.as_str()
        })
        .ok_or_else(|| {
            Error::new(format!(
                "vendor/fetch does not resolve to {} {}: vendor/fetch/Cargo.toml and \
                 vendor/libuv.manifest disagree",
                manifest.package, manifest.package_version
            ))
        })?;
    let package_manifest = package["manifest_path"]
        .as_str()
        .ok_or_else(|| Error::new("cargo metadata gave no manifest_path"))?;
    Ok(Path::new(package_manifest)
        .parent()
        .expect("a manifest path has a parent folder")
        .to_path_buf())
}

/// A SHA-256 over a tree: for each file, in the order of its sorted relative
/// path (with `/` separators), the path bytes, a NUL byte, the length of the
/// contents as a little-endian `u64`, and the contents.
pub fn tree_sha256(root: &Path) -> Result<String, Error> {
    let mut files = Vec::new();
    list_files(root, root, &mut files)?;
    files.sort();
    let mut hasher = Sha256::new();
    for relative in &files {
        let contents = fs::read(root.join(relative))?;
        hasher.update(relative.as_bytes());
        hasher.update([0]);
        hasher.update((contents.len() as u64).to_le_bytes());
        hasher.update(&contents);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect())
}

fn list_files(root: &Path, dir: &Path, files: &mut Vec<String>) -> Result<(), Error> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            list_files(root, &path, files)?;
        } else {
            let relative = path.strip_prefix(root).expect("listed below the root");
            let parts: Vec<_> = relative
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect();
            files.push(parts.join("/"));
        }
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), Error> {
    if from.is_dir() {
        fs::create_dir_all(to)?;
        for entry in fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
    } else {
        fs::copy(from, to)
            .map_err(|error| Error::new(format!("could not copy {}: {error}", from.display())))?;
    }
    Ok(())
}

impl Manifest {
    fn read() -> Result<Manifest, Error> {
        let path = vendor_dir().join("libuv.manifest");
        let text = fs::read_to_string(&path)
            .map_err(|error| Error::new(format!("cannot read {}: {error}", path.display())))?;
        let field = |key: &str| -> Result<String, Error> {
            text.lines()
                .filter_map(|line| line.split_once('='))
                .find(|(name, _)| name.trim() == key)
                .map(|(_, value)| value.trim().trim_matches('"').to_string())
                .ok_or_else(|| Error::new(format!("{} has no `{key}`", path.display())))
        };
        Ok(Manifest {
            libuv_version: field("libuv_version")?,
            package: field("package")?,
            package_version: field("package_version")?,
            tree_sha256: field("tree_sha256")?,
        })
    }
}
