//! blankroot: install NixOS with root on ZFS on LUKS, rolled back to a blank snapshot on every
//! boot, and keep that system honest. The binary (`src/main.rs`) is a thin shell over this crate.

pub mod cli;
pub mod config;
pub mod diff;
pub mod doctor;
pub mod error;
pub mod example;
pub mod fsutil;
pub mod hash;
pub mod install;
pub mod libvirt;
pub mod mounts;
pub mod nixgen;
pub mod output;
pub mod persist;
pub mod plan;
pub mod probe;
pub mod regenerate;
pub mod runner;
pub mod secret;
pub mod shell;
pub mod systemd;
pub mod verify;
pub mod zdiff;
pub mod zfsprops;
