//! blankroot: install NixOS with root on ZFS on LUKS, rolled back to a blank snapshot on every
//! boot, and keep that system honest. The binary (`src/main.rs`) is a thin shell over this crate.
//!
//! Layers, each with one job:
//! - [`cli`]: the command line; turns arguments into a command's request and hands its report
//!   to [`output`], which renders it as text for people or as JSON.
//! - [`commands`]: one module per command; each owns its flow and returns a report.
//! - the core, pure where it can be: [`config`] (blankroot.toml and flags), [`probe`] (machine
//!   facts), [`plan`] (config + facts → the steps), [`nixgen`] (the generated NixOS files),
//!   [`checks`] (what doctor and the install gate judge), [`zdiff`], [`zfsprops`], [`systemd`],
//!   [`hash`], [`example`].
//! - [`infra`]: the machine we act on ([`infra::host::Host`]: its files and, through the one
//!   command runner, its commands), safe file writes, and the small helpers every layer shares;
//!   [`error`] is the error type of all of them.

pub mod checks;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod example;
pub mod hash;
pub mod infra;
pub mod nixgen;
pub mod output;
pub mod plan;
pub mod probe;
pub mod systemd;
pub mod zdiff;
pub mod zfsprops;
