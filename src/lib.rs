//! blankroot: install NixOS with root on ZFS on LUKS, rolled back to a blank snapshot on every
//! boot, and keep that system honest. The binary (`src/main.rs`) is a thin shell over this crate.

pub mod config;
pub mod error;
pub mod runner;
pub mod shell;
