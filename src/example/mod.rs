//! The built-in example machine for `blankroot plan --example`: a libvirt VM booted with UEFI
//! from the NixOS minimal ISO, with an empty 20 GiB virtio disk `/dev/vda` (serial `disk01`,
//! as the seed sets it). Its facts go through the same probe and parsers as a real machine's:
//! a fake runner answers the probe's commands with the outputs below (hand-written in the
//! format util-linux 2.38's `lsblk --json --bytes --output-all` prints, trimmed to the
//! columns blankroot reads). It runs the NixOS 25.11 installer.

use crate::error::Result;
use crate::infra::runner::{Cmd, Recording};
use crate::probe::{self, Facts};

const LSBLK: &str = include_str!("lsblk.json");
const BY_ID: &str = include_str!("by-id.txt");

/// The example machine's facts, probed through a fake runner. Its blankroot is the static
/// executable users copy onto the installer.
pub fn facts() -> Result<Facts> {
    let runner = machine();
    Ok(Facts { static_blankroot: true, ..probe::probe(&runner)? })
}

/// A fake runner that answers like the example machine.
pub fn machine() -> Recording {
    let tools: String = probe::TOOLS.iter().map(|t| format!("{t}\n")).collect();
    let r = answer(Recording::new(), probe::lsblk_cmd(), LSBLK);
    let r = answer(r, probe::firmware_cmd(), "");
    let r = answer(r, probe::by_id_cmd(), BY_ID);
    let r = answer(r, probe::nixos_version_cmd(), "25.11.20251130.abcdef0 (Xantusia)\n");
    // The installer's kernel has ZFS: its module loads (doctor's and the gate's question).
    let r = answer(r, crate::checks::live::zfs_module_cmd(), "");
    answer(r, probe::tools_cmd(), &tools)
}

fn answer(r: Recording, cmd: Cmd, stdout: &str) -> Recording {
    r.answer(&cmd.argv.iter().map(String::as_str).collect::<Vec<_>>(), stdout)
}

#[cfg(test)]
mod tests {
    #[test]
    fn example_machine_has_an_empty_virtio_disk_with_serial() {
        let f = super::facts().unwrap();
        let vda = f.find_disk("/dev/vda").unwrap();
        assert_eq!(vda.size_bytes, 20 << 30);
        assert!(vda.holders_summary().is_empty());
        assert_eq!(f.find_disk("/dev/disk/by-id/virtio-disk01").unwrap().name, "vda");
        assert_eq!(f.firmware, crate::probe::Firmware::Uefi);
        assert!(f.has_command("zpool"));
        assert_eq!(f.nixos_release.as_deref(), Some("25.11"), "the installer's release");
    }
}
