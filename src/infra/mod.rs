//! The infrastructure layer: how blankroot touches a machine and the small helpers every
//! layer shares, so that no command imports another command's module for one. [`host`] is the
//! one seam for "the machine we act on" (its files and its commands, through [`runner`]);
//! [`fsutil`] writes files safely; [`clock`], [`prompt`], [`size`] and [`paths`] are the
//! shared helpers; [`secret`] holds passphrases; [`shell`] quotes commands for people;
//! [`mounts`] reads the kernel's mount table; [`elf`] tells a static executable.

pub mod clock;
pub mod elf;
pub mod fsutil;
pub mod host;
pub mod mounts;
pub mod paths;
pub mod prompt;
pub mod runner;
pub mod secret;
pub mod shell;
pub mod size;
