//! blankroot's integration tests, in one test binary (one build, one fake runner, one set
//! of fixtures): each module is one area. The VM tiers (`vm_e2e`, `vm_stage1`) and the real
//! libvirtd (`libvirt`) are `#[ignore]`d here; `scripts/test` runs them with `--ignored`.

mod cli;
mod cli_conventions;
mod common;
mod config_accounts;
mod config_errors;
mod config_option_rules;
mod config_resolved;
mod diff;
mod doctor;
mod doctor_rollback;
mod flake;
mod hash_libxcrypt;
mod hostile;
mod install_exec;
mod install_gate;
mod libvirt;
mod nixgen;
mod persist;
mod plan_json;
mod plan_snapshots;
mod plan_steps;
mod probe_fixtures;
mod real_disk_tools;
mod regenerate;
mod resume_record;
mod saved_plan;
mod static_binary;
mod verify;
mod vm_e2e;
mod vm_install;
mod vm_kit;
mod vm_stage1;
