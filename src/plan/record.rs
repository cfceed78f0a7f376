//! The resume record: what a re-run needs to pick an interrupted install up again, kept on the
//! target disk itself, because the installer's state directory (`/var/lib/blankroot`) is on a
//! RAM file system that a power cut empties.
//!
//! What: the plan's config and ids (no secret: the config names password *sources*, never a
//! password; see `config::PasswordSource`), with blankroot's version, behind a header line with
//! the JSON's length and SHA-256:
//!
//! ```text
//! BLANKROOT-RESUME-RECORD 1 <length> <sha256 of the JSON>\n<JSON>\n
//! ```
//!
//! Where: in the gap between the GPT's partition entries and the first partition, bytes
//! [`OFFSET`]..[`OFFSET`]+[`SIZE`] (256 KiB to 1 MiB). The GPT header and its 128 entries end at
//! 17 KiB (512-byte sectors) or 24 KiB (4 KiB sectors), and sfdisk starts the first partition at
//! 1 MiB, its default alignment ("grain"); tests/it/resume_record.rs checks both with the real
//! sfdisk on an image. Nothing reads this gap: blkid finds no signature in it, and sfdisk's
//! `--wipe` only erases the signatures it finds.
//!
//! When: the partition step writes it first (`dd … conv=sync,notrunc,fsync`, padded with zeros
//! to the whole region), before `sfdisk`, so every later state of the disk has it; the last step
//! of the install (`forget-resume`) zeroes the region, so a finished disk carries no machine-id
//! or host id outside its encrypted container. A torn record (a power cut inside the `dd`) fails
//! its checksum and counts as none: `sfdisk` had not run yet.
//!
//! A re-run of `blankroot install` with the same config (no `--plan`) finds the record through
//! [`read_cmd`] and [`parse`], builds the plan again from the record's config and ids (checked
//! like a saved plan: `plan::saved::verify_plan`), and resumes: the partition step's check
//! (the disk's GPT GUID is the record's) then holds, so no `--wipe` is needed and nothing is
//! made again.

use super::Identities;
use crate::config::Config;
use crate::infra::runner::Cmd;
use serde::{Deserialize, Serialize};

/// Where the record starts on the disk, in bytes.
pub const OFFSET: u64 = 256 << 10;
/// The region it may fill (and that the last step zeroes), in bytes: up to the 1 MiB where the
/// first partition starts.
pub const SIZE: u64 = 768 << 10;
const MAGIC: &str = "BLANKROOT-RESUME-RECORD";
const SCHEMA: u32 = 1;

/// What the disk says about the install that was started on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub blankroot_version: String,
    pub config: Config,
    pub ids: Identities,
}

impl Record {
    pub fn new(config: &Config, ids: &Identities) -> Record {
        Record { blankroot_version: env!("CARGO_PKG_VERSION").into(), config: config.clone(), ids: ids.clone() }
    }

    /// The record as written to the disk: header line and JSON. `None` when it does not fit the
    /// region (a config of hundreds of KiB; `plan::build` refuses such a config).
    pub fn to_text(&self) -> Option<String> {
        let json = serde_json::to_string(self).ok()?;
        let text = format!("{MAGIC} {SCHEMA} {} {}\n{json}\n", json.len(), sha256_hex(json.as_bytes()));
        (text.len() as u64 <= SIZE).then_some(text)
    }
}

/// The command that writes `text` over the whole region (zero-padded): the partition step's
/// first command.
pub(crate) fn write_argv(disk: &str) -> Vec<String> {
    vec![
        "dd".into(),
        format!("of={disk}"),
        format!("bs={SIZE}"),
        "count=1".into(),
        // A pipe may deliver the input in pieces: read the whole block before writing it, and
        // pad it with zeros to the region's size.
        "iflag=fullblock".into(),
        "conv=sync,notrunc,fsync".into(),
        "oflag=seek_bytes".into(),
        format!("seek={OFFSET}"),
        "status=none".into(),
    ]
}

/// The command that zeroes the region (the install's last step).
pub(crate) fn clear_argv(disk: &str) -> Vec<String> {
    vec![
        "dd".into(),
        "if=/dev/zero".into(),
        format!("of={disk}"),
        format!("bs={SIZE}"),
        "count=1".into(),
        "conv=notrunc,fsync".into(),
        "oflag=seek_bytes".into(),
        format!("seek={OFFSET}"),
        "status=none".into(),
    ]
}

/// The check that the region holds only zeros (GNU cmp: `-n` bytes, `-i` skips on each side).
pub(crate) fn cleared_check_argv(disk: &str) -> Vec<String> {
    ["cmp", "-s", "-n", &SIZE.to_string(), "-i", &format!("{OFFSET}:0"), disk, "/dev/zero"].map(String::from).to_vec()
}

/// The command that reads the region back.
pub fn read_cmd(disk: &str) -> Cmd {
    Cmd::new([
        "dd".to_string(),
        format!("if={disk}"),
        format!("bs={SIZE}"),
        "count=1".into(),
        "iflag=skip_bytes,fullblock".into(),
        format!("skip={OFFSET}"),
        "status=none".into(),
    ])
}

/// Why the region holds no usable record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Absent {
    /// No header: zeros, or whatever an earlier use of the disk left there.
    None,
    /// A header, but the JSON is cut short or changed (a power cut inside the write), or does
    /// not parse as this blankroot's record.
    Damaged(String),
}

/// Reads the region's bytes as a record.
pub fn parse(region: &[u8]) -> Result<Record, Absent> {
    let region = &region[..region.len().min(SIZE as usize)];
    let Some(nl) = region.iter().position(|&b| b == b'\n') else { return Err(Absent::None) };
    let header = std::str::from_utf8(&region[..nl]).map_err(|_| Absent::None)?;
    let mut f = header.split(' ');
    if f.next() != Some(MAGIC) {
        return Err(Absent::None);
    }
    let damaged = |why: &str| Absent::Damaged(why.to_string());
    if f.next() != Some("1") {
        return Err(damaged("a record of another layout"));
    }
    let len: usize = f.next().and_then(|n| n.parse().ok()).ok_or_else(|| damaged("no length in its header"))?;
    let sum = f.next().ok_or_else(|| damaged("no checksum in its header"))?;
    let body = region.get(nl + 1..nl + 1 + len).ok_or_else(|| damaged("shorter than its header says"))?;
    if sha256_hex(body) != sum || f.next().is_some() {
        return Err(damaged("its checksum does not match (a write cut short)"));
    }
    serde_json::from_slice(body).map_err(|e| Absent::Damaged(format!("not a record this blankroot reads: {e}")))
}

/// Whether a saved install's config is this command's: the same, except what the saved one
/// resolved itself (a random host id, the installer's release as state_version) when this
/// command leaves it out.
pub(crate) fn same_config(saved: &Config, config: &Config) -> bool {
    let mut same = saved.clone();
    if config.host_id.is_none() {
        same.host_id = None;
    }
    if config.state_version.is_none() {
        same.state_version = None;
    }
    if config.luks.uuid.is_none() {
        same.luks.uuid = None;
    }
    if config.esp_uuid.is_none() {
        same.esp_uuid = None;
    }
    same == *config
}

/// The interrupted install recorded on the target disk (`plan::record`), when this command is
/// the one that started it: its plan, rebuilt from the record's config and ids and verified as
/// a saved plan is. A record of another config or blankroot version is refused unless `--wipe`
/// asks to start over; a damaged one (torn by a power cut before sfdisk ran) counts as none.
pub fn resume_plan(
    host: &dyn crate::infra::host::Host,
    config: &Config,
    target: &super::Target,
    facts: &crate::probe::Facts,
    wipe: bool,
) -> crate::error::Result<Option<super::Plan>> {
    let disk = &config.disk;
    let out = host.output(&read_cmd(disk))?;
    let record = match out.success().then(|| parse(&out.stdout)) {
        Some(Ok(r)) => r,
        _ => return Ok(None),
    };
    let shown = crate::error::excerpt(disk);
    let version = env!("CARGO_PKG_VERSION");
    let other = if record.blankroot_version != version {
        Some(format!(
            "it was started by blankroot {}; this is blankroot {version}",
            crate::error::excerpt(&record.blankroot_version)
        ))
    } else if !same_config(&record.config, config) {
        Some(config_difference(&record.config, config))
    } else {
        None
    };
    if let Some(why) = other {
        if wipe {
            return Ok(None); // start over: the new plan's partition step overwrites the record
        }
        return Err(crate::error::Error::input(format!("{shown} holds an interrupted blankroot install that this command did not start"))
            .caused_by(why)
            .hint("re-run the command that started it (same config and flags) to resume it, or pass --wipe to start over (everything on the disk is lost)"));
    }
    let theirs = super::build(&record.config, target, &record.ids)
        .map_err(|e| e.caused_by(format!("in the resume record on {shown}")))?;
    let ours = super::saved::verify_plan(&theirs, facts)
        .map_err(|e| e.caused_by(format!("in the resume record on {shown}")))?;
    Ok(Some(ours))
}

/// The first config field where the recorded install and this command differ, in words.
fn config_difference(recorded: &Config, config: &Config) -> String {
    let json = |c: &Config| serde_json::to_value(c).unwrap_or_default();
    match super::saved::first_difference("config", &json(recorded), &json(config)) {
        Some((field, a, b)) => format!("its {field} is {a}; this command's is {b}"),
        None => "its config differs from this command's".to_string(),
    }
}

/// SHA-256 of `data`, lower-case hex.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        let c = crate::config::parse_str("t.toml", "", &Default::default()).unwrap();
        Record::new(&c, &Identities::fixed(1, None))
    }

    #[test]
    fn round_trips_through_a_zero_padded_region() {
        let r = record();
        let mut region = r.to_text().unwrap().into_bytes();
        region.resize(SIZE as usize, 0);
        assert_eq!(parse(&region).unwrap(), r);
    }

    #[test]
    fn zeros_and_foreign_bytes_are_no_record() {
        assert_eq!(parse(&vec![0; SIZE as usize]), Err(Absent::None));
        assert_eq!(parse(b"\xeb\x3c\x90mkfs.fat\n"), Err(Absent::None));
        assert_eq!(parse(b""), Err(Absent::None));
    }

    #[test]
    fn a_torn_or_changed_record_is_damaged_never_read() {
        let text = record().to_text().unwrap();
        let cut = &text.as_bytes()[..text.len() / 2];
        assert!(matches!(parse(cut), Err(Absent::Damaged(_))));
        let changed = text.replacen("\"hostname\":\"", "\"hostname\":\"x", 1);
        assert!(matches!(parse(changed.as_bytes()), Err(Absent::Damaged(_))));
        let mut torn = text.into_bytes();
        let mid = torn.len() - 40;
        torn[mid..].fill(0);
        assert!(matches!(parse(&torn), Err(Absent::Damaged(_))));
    }

    #[test]
    fn the_commands_stay_inside_the_gap() {
        const { assert!(OFFSET >= 24 << 10, "after the GPT entries, also with 4 KiB sectors") };
        const { assert!(OFFSET + SIZE == 1 << 20, "up to sfdisk's first partition") };
        let w = write_argv("/dev/vda").join(" ");
        assert!(w.contains("seek=262144") && w.contains("bs=786432") && w.contains("notrunc"), "{w}");
        assert!(clear_argv("/dev/vda").join(" ").contains("if=/dev/zero"));
    }
}
