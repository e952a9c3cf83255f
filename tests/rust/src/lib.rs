//! The Rust witness suite: see tests/.
