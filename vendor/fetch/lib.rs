//! Never built: see Cargo.toml beside this file.
