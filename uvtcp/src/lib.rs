//! A high-level TCP API on libuv.
#![forbid(unsafe_code)]
