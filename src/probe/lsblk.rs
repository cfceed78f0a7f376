//! Block devices as `lsblk --json --bytes --output-all` reports them, read leniently so that
//! the output of every util-linux version since JSON output exists (2.27) parses:
//!
//! - util-linux before 2.33 prints every value as a string (`"size": "8589934592"`,
//!   `"ro": "0"`); 2.33 and later print numbers and booleans.
//! - util-linux before 2.37 has only `mountpoint` (one string); 2.37 and later add
//!   `mountpoints` (an array, `[null]` when nothing is mounted) and keep `mountpoint` too.
//! - Columns come and go between versions (`path` appeared in 2.33); a missing column reads
//!   as empty, except `name`, which every version prints.
//!
//! Filesystem and partition columns (`fstype`, `label`, `uuid`, `partuuid`, `parttype`,
//! `pttype`, `serial`, `model`) come from the udev database. Where udev does not run (a
//! container, a minimal rescue system) lsblk prints them as null even as root, while the
//! device tree, sizes and mount points (from sysfs and /proc) are still right.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One block device and everything stacked on it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BlockDevice {
    /// lsblk's NAME: the kernel name, or the mapping name for device-mapper devices
    /// (`cryptroot` rather than `dm-0`).
    pub name: String,
    /// lsblk's KNAME, the kernel name (`dm-0`); what `/dev/disk/by-id` links point to.
    pub kname: String,
    /// The device node, e.g. `/dev/vda1` or `/dev/mapper/cryptroot`.
    pub path: String,
    /// lsblk's TYPE: `disk`, `part`, `loop`, `rom`, `crypt`, `lvm`, `raid1`, …
    pub kind: String,
    pub size_bytes: u64,
    pub model: Option<String>,
    pub serial: Option<String>,
    /// Signature found on the device: `vfat`, `ext4`, `swap`, `crypto_LUKS`, `zfs_member`, …
    pub fstype: Option<String>,
    /// Filesystem label; for `zfs_member` the pool name.
    pub label: Option<String>,
    pub uuid: Option<String>,
    pub partuuid: Option<String>,
    /// Partition label (GPT partition name).
    pub partlabel: Option<String>,
    /// Partition type: a GUID on GPT (`c12a7328-…` is the ESP), `0x83` style on MBR.
    pub parttype: Option<String>,
    /// Partition table type on (or around) this device: `gpt` or `dos`.
    pub pttype: Option<String>,
    /// Where it is mounted; `[SWAP]` for active swap. Empty when not mounted.
    pub mountpoints: Vec<String>,
    pub ro: bool,
    /// Removable medium.
    pub rm: bool,
    /// What is stacked on this device (lsblk's `children`): partitions of a disk, device-mapper
    /// mappings (an open LUKS container) of a partition, and so on.
    pub children: Vec<BlockDevice>,
}

/// Parses the complete output of `lsblk --json --bytes --output-all`.
pub fn parse(json: &[u8]) -> Result<Vec<BlockDevice>> {
    let value: Value = serde_json::from_slice(json).map_err(|e| bad_output("it is not JSON").caused_by(e))?;
    let list = value
        .get("blockdevices")
        .ok_or_else(|| bad_output("it has no `blockdevices` list"))?
        .as_array()
        .ok_or_else(|| bad_output("`blockdevices` is not a list"))?;
    list.iter().map(device).collect()
}

fn bad_output(why: &str) -> Error {
    Error::command(format!("cannot read the output of `lsblk --json`: {why}"))
        .hint("blankroot needs lsblk from util-linux 2.27 or later (JSON output)")
}

fn device(value: &Value) -> Result<BlockDevice> {
    let obj = value.as_object().ok_or_else(|| bad_output("a device entry is not an object"))?;
    let name = string(obj, "name")?.or(string(obj, "kname")?).ok_or_else(|| bad_output("a device has no `name`"))?;
    let kname = string(obj, "kname")?.unwrap_or_else(|| name.clone());
    let kind = string(obj, "type")?.unwrap_or_default();
    let path = match string(obj, "path")? {
        Some(p) => p,
        None if kind == "crypt" || kind == "lvm" || kind == "dm" => format!("/dev/mapper/{name}"),
        None => format!("/dev/{name}"),
    };
    let children = match obj.get("children") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().map(device).collect::<Result<_>>()?,
        Some(_) => return Err(bad_output(&format!("`children` of {name} is not a list"))),
    };
    Ok(BlockDevice {
        kname,
        path,
        size_bytes: number(obj, "size", &name)?,
        model: string(obj, "model")?,
        serial: string(obj, "serial")?,
        fstype: string(obj, "fstype")?,
        label: string(obj, "label")?,
        uuid: string(obj, "uuid")?,
        partuuid: string(obj, "partuuid")?,
        partlabel: string(obj, "partlabel")?,
        parttype: string(obj, "parttype")?,
        pttype: string(obj, "pttype")?,
        mountpoints: mountpoints(obj)?,
        ro: boolean(obj, "ro", &name)?,
        rm: boolean(obj, "rm", &name)?,
        children,
        kind,
        name,
    })
}

/// A text column: null, missing and "" are all "no value". lsblk pads some columns (MODEL on
/// SCSI disks) with trailing blanks; they are trimmed.
fn string(obj: &Map<String, Value>, key: &str) -> Result<Option<String>> {
    Ok(match obj.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        Some(_) => return Err(bad_output(&format!("column `{key}` is not text"))),
    })
}

/// A byte count: a JSON number (2.33+) or a string of digits (older). Missing or null is 0.
fn number(obj: &Map<String, Value>, key: &str, dev: &str) -> Result<u64> {
    let bad = |v: &Value| bad_output(&format!("`{key}` of {dev} is {v}, not a number of bytes"));
    match obj.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(v @ Value::Number(n)) => n.as_u64().ok_or_else(|| bad(v)),
        Some(v @ Value::String(s)) => s.trim().parse().map_err(|_| bad(v)),
        Some(v) => Err(bad(v)),
    }
}

/// A flag: `true`/`false` (2.33+), `"1"`/`"0"` (older), or 1/0. Missing or null is false.
fn boolean(obj: &Map<String, Value>, key: &str, dev: &str) -> Result<bool> {
    let bad = |v: &Value| bad_output(&format!("`{key}` of {dev} is {v}, not a flag"));
    match obj.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v @ Value::Number(n)) => match n.as_u64() {
            Some(0) => Ok(false),
            Some(1) => Ok(true),
            _ => Err(bad(v)),
        },
        Some(v @ Value::String(s)) => match s.trim() {
            "0" | "false" | "" => Ok(false),
            "1" | "true" => Ok(true),
            _ => Err(bad(v)),
        },
        Some(v) => Err(bad(v)),
    }
}

/// `mountpoints` (2.37+: an array, `[null]` when unmounted) or else `mountpoint` (one string).
fn mountpoints(obj: &Map<String, Value>) -> Result<Vec<String>> {
    match obj.get("mountpoints") {
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for item in items {
                match item {
                    Value::Null => {}
                    Value::String(s) if s.is_empty() => {}
                    Value::String(s) => out.push(s.clone()),
                    _ => return Err(bad_output("`mountpoints` holds something other than text")),
                }
            }
            Ok(out)
        }
        None | Some(Value::Null) => Ok(string(obj, "mountpoint")?.into_iter().collect()),
        Some(_) => Err(bad_output("`mountpoints` is not a list")),
    }
}

/// Partition type GUID of an EFI System Partition (lsblk prints GUIDs in lower case).
pub const ESP_GPT_TYPE: &str = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";

impl BlockDevice {
    /// This device and everything stacked on it, depth first, parents before children.
    pub fn walk(&self) -> Vec<&BlockDevice> {
        let mut out = vec![self];
        for c in &self.children {
            out.extend(c.walk());
        }
        out
    }

    /// The partitions directly on this device.
    pub fn partitions(&self) -> Vec<&BlockDevice> {
        self.children.iter().filter(|c| c.kind == "part").collect()
    }

    /// Whether this is active swap (`[SWAP]` among its mount points).
    pub fn is_active_swap(&self) -> bool {
        self.mountpoints.iter().any(|m| m == "[SWAP]")
    }

    /// Mount points other than `[SWAP]`.
    pub(crate) fn mounted_at(&self) -> Vec<&str> {
        self.mountpoints.iter().filter(|m| *m != "[SWAP]").map(String::as_str).collect()
    }

    /// Whether this device or anything on it is live: mounted, active swap, or held open by a
    /// device-mapper mapping (an open LUKS container, LVM, RAID). Wiping it would fail or pull
    /// the floor from under a running system.
    pub fn is_in_use(&self) -> bool {
        self.walk().iter().any(|d| !d.mountpoints.is_empty() || d.children.iter().any(|c| c.kind != "part"))
    }

    /// Whether the device carries nothing lsblk can see: no partitions, no partition table, no
    /// signature, nothing stacked on it, not mounted. (Without udev lsblk cannot see
    /// signatures; see the module documentation.)
    pub fn is_blank(&self) -> bool {
        self.holders_summary().is_empty()
    }

    /// Everything that makes this device not blank, one sentence each, outermost first:
    /// partitions, mounts, swap, ZFS pool membership, LUKS containers and what they are open
    /// as, other signatures. Empty for a blank device.
    pub fn holders_summary(&self) -> Vec<String> {
        let mut out = Vec::new();
        let parts = self.partitions();
        if !parts.is_empty() {
            let names: Vec<&str> = parts.iter().map(|p| p.name.as_str()).collect();
            let table = self.pttype.as_deref().map(|t| format!("{t} ")).unwrap_or_default();
            let noun = if parts.len() == 1 { "partition" } else { "partitions" };
            out.push(format!("{} has {} {table}{noun}: {}", self.name, parts.len(), names.join(", ")));
        } else if let Some(t) = &self.pttype {
            // lsblk repeats the disk's table type on each partition; only a device without
            // partitions that still reports one has an (empty) table of its own.
            if self.kind != "part" {
                out.push(format!("{} has an empty {t} partition table", self.name));
            }
        }
        for d in self.walk() {
            d.describe_self(&mut out);
        }
        out
    }

    fn describe_self(&self, out: &mut Vec<String>) {
        let name = &self.name;
        let mounted = self.mounted_at();
        if !mounted.is_empty() {
            out.push(format!("{name} is mounted at {}", mounted.join(", ")));
        }
        match self.fstype.as_deref() {
            _ if self.is_active_swap() => out.push(format!("{name} is swap, in use")),
            Some("swap") => out.push(format!("{name} is swap (not in use)")),
            Some("zfs_member") => match &self.label {
                Some(pool) => out.push(format!("{name} is a member of ZFS pool {pool}")),
                None => out.push(format!("{name} is a member of a ZFS pool")),
            },
            Some("crypto_LUKS") if !self.children.iter().any(|c| c.kind == "crypt") => {
                out.push(format!("{name} is a LUKS container (closed)"));
            }
            Some("crypto_LUKS") => {} // "is open as" below
            Some(fs) if mounted.is_empty() => {
                let label = self.label.as_deref().map(|l| format!(" labelled {l}")).unwrap_or_default();
                out.push(format!("{name} contains {fs}{label}"));
            }
            _ => {}
        }
        for c in self.children.iter().filter(|c| c.kind != "part") {
            if self.fstype.as_deref() == Some("crypto_LUKS") || c.kind == "crypt" {
                out.push(format!("{name} is open as {}", c.path));
            } else {
                out.push(format!("{name} is held by {} ({})", c.path, c.kind));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(json: &str) -> BlockDevice {
        parse(json.as_bytes()).unwrap().remove(0)
    }

    #[test]
    fn reads_typed_values_of_new_versions() {
        let d = one(r#"{"blockdevices":[{"name":"vda","kname":"vda","path":"/dev/vda","type":"disk","size":4294967296,
            "ro":false,"rm":true,"mountpoint":null,"mountpoints":[null],"serial":"disk01"}]}"#);
        assert_eq!(d.size_bytes, 4 << 30);
        assert!(!d.ro && d.rm);
        assert!(d.mountpoints.is_empty());
        assert_eq!(d.serial.as_deref(), Some("disk01"));
        assert_eq!(d.model, None);
    }

    #[test]
    fn reads_string_values_of_old_versions_and_fills_in_missing_columns() {
        let d = one(r#"{"blockdevices":[{"name":"sda","type":"disk","size":"1000","ro":"1","rm":"0",
            "mountpoint":null,"children":[{"name":"sda1","type":"part","size":"500","ro":"0","rm":"0",
            "mountpoint":"/boot","fstype":""}]}]}"#);
        assert_eq!(d.size_bytes, 1000);
        assert!(d.ro);
        assert_eq!(d.path, "/dev/sda");
        assert_eq!(d.kname, "sda");
        assert_eq!(d.children[0].mountpoints, vec!["/boot"]);
        assert_eq!(d.children[0].fstype, None);
    }

    #[test]
    fn mapper_devices_without_path_get_a_mapper_path() {
        let d = one(r#"{"blockdevices":[{"name":"cryptroot","kname":"dm-0","type":"crypt","size":1}]}"#);
        assert_eq!(d.path, "/dev/mapper/cryptroot");
        assert_eq!(d.kname, "dm-0");
    }

    #[test]
    fn human_sizes_are_refused_with_a_hint() {
        let err = parse(br#"{"blockdevices":[{"name":"sda","size":"465.8G"}]}"#).unwrap_err();
        assert!(err.message.contains("`size` of sda is \"465.8G\""), "{}", err.message);
        assert!(err.hint.is_some());
        assert!(parse(b"not json").is_err());
        assert!(parse(br#"{"devices":[]}"#).is_err());
    }

    #[test]
    fn summary_of_a_blank_disk_is_empty() {
        let d = one(r#"{"blockdevices":[{"name":"vdb","type":"disk","size":1}]}"#);
        assert!(d.is_blank());
        assert!(!d.is_in_use());
    }
}
