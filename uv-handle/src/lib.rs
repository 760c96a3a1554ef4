//! Safe RAII types over libuv.
