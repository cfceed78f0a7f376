//! Hostile output streams: standard output a pipe whose reader is gone (`blankroot … | head`)
//! must end quietly, and `/dev/full` must be a clear error with a documented exit code, for
//! every command that prints: plan (human and JSON), diff, doctor, verify-rollback, libvirt,
//! --help and --version. Nothing in the case's folder is half-written: libvirt's file is either
//! as it was or completely fixed.

use super::harness::{Case, Expect, Sink};
use std::path::Path;

const GOOD_XML: &str = include_str!("../../fixtures/libvirt/virt-install-q35-bios.xml");
const ZDIFF: &str = include_str!("../../fixtures/zdiff/installed-FHt.txt");

/// The domain file is the original or the whole fix, never something in between.
fn xml_whole(dir: &Path) -> Result<(), String> {
    let now = std::fs::read_to_string(dir.join("vm.xml")).map_err(|e| e.to_string())?;
    let fixed =
        blankroot::commands::libvirt::fix::fix(GOOD_XML, "vm.xml", Default::default()).map_err(|e| e.to_string())?.text;
    if now == GOOD_XML || now == fixed { Ok(()) } else { Err("vm.xml is half-written".into()) }
}

fn with_sinks(name: &str, args: &[&str], prepare: impl Fn(Case) -> Case) -> Vec<Case> {
    vec![
        prepare(Case::bin(format!("stream/{name}/closed-pipe"), args, Expect::Quiet).sink(Sink::ClosedPipe)),
        prepare(Case::bin(format!("stream/{name}/dev-full"), args, Expect::OutputError).sink(Sink::Full)),
    ]
}

pub fn cases() -> Vec<Case> {
    let none = |c: Case| c;
    let mut v = Vec::new();
    v.extend(with_sinks("plan", &["plan", "--example"], none));
    v.extend(with_sinks("plan-json", &["plan", "--example", "--format", "json"], none));
    v.extend(with_sinks("plan-config", &["plan", "--example", "-c", "blankroot.toml"], |c| {
        c.put("blankroot.toml", "hostname = \"web\"\n")
    }));
    v.extend(with_sinks("help", &["--help"], none));
    v.extend(with_sinks("plan-help", &["plan", "--help"], none));
    v.extend(with_sinks("version", &["--version"], none));
    let diff = ["diff", "--input", "in.txt", "--config", "blankroot.toml", "--root", "/tmp/root"];
    let with_input = |c: Case| c.put("in.txt", ZDIFF).put("blankroot.toml", "");
    v.extend(with_sinks("diff", &diff, with_input));
    v.extend(with_sinks("diff-all", &[&diff[..], &["--all"]].concat(), with_input));
    v.extend(with_sinks("diff-json", &[&diff[..], &["--format", "json"]].concat(), with_input));
    v.extend(with_sinks("libvirt", &["libvirt", "--xml", "vm.xml", "--yes"], |c| {
        c.put("vm.xml", GOOD_XML).after(xml_whole)
    }));
    v.extend(with_sinks("libvirt-json", &["libvirt", "--xml", "vm.xml", "--yes", "--format", "json"], |c| {
        c.put("vm.xml", GOOD_XML).after(xml_whole)
    }));
    v
}
