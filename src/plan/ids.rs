//! Identifiers chosen when planning, so the plan can show the final configuration: the host
//! id, the LUKS UUID (`cryptsetup luksFormat --uuid`), the ESP's FAT volume id
//! (`mkfs.fat -i`), the GPT disk and partition GUIDs (sfdisk script) and the machine-id.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identities {
    /// `networking.hostId`, 8 lower-case hex digits.
    pub host_id: String,
    /// LUKS2 header UUID, lower-case.
    pub luks_uuid: String,
    /// FAT volume id as blkid shows it (`1A2B-3C4D`).
    pub esp_uuid: String,
    pub disk_guid: String,
    pub esp_partuuid: String,
    pub luks_partuuid: String,
    /// `/etc/machine-id`: 32 lower-case hex digits.
    pub machine_id: String,
}

/// Random bytes from the OS.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| Error::env("cannot read random numbers from the OS").caused_by(e))?;
    Ok(b)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random RFC 4122 version-4 UUID.
pub(crate) fn uuid_v4(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

impl Identities {
    /// Fresh random identities, but for those the config gives (the host id, the LUKS UUID,
    /// the ESP's volume id).
    pub(crate) fn for_config(config: &crate::config::Config) -> Result<Identities> {
        let mut ids = Identities::random(config.host_id.as_deref())?;
        ids.luks_uuid = config.luks.uuid.clone().unwrap_or(ids.luks_uuid);
        ids.esp_uuid = config.esp_uuid.clone().unwrap_or(ids.esp_uuid);
        Ok(ids)
    }

    /// Fresh random identities; `host_id` from the config when it gives one.
    pub fn random(host_id: Option<&str>) -> Result<Identities> {
        let host_id = match host_id {
            Some(h) => h.to_string(),
            None => loop {
                let h = hex(&random_bytes::<4>()?);
                if crate::config::rules::host_id(&h).is_ok() {
                    break h;
                }
            },
        };
        let vol = hex(&random_bytes::<4>()?).to_ascii_uppercase();
        Ok(Identities {
            host_id,
            luks_uuid: uuid_v4(random_bytes()?),
            esp_uuid: format!("{}-{}", &vol[..4], &vol[4..]),
            disk_guid: uuid_v4(random_bytes()?),
            esp_partuuid: uuid_v4(random_bytes()?),
            luks_partuuid: uuid_v4(random_bytes()?),
            machine_id: hex(&random_bytes::<16>()?),
        })
    }

    /// Fixed identities derived from a seed, for examples and tests (reproducible output).
    pub fn fixed(seed: u8, host_id: Option<&str>) -> Identities {
        let b = |k: u8| {
            let mut a = [0u8; 16];
            for (i, x) in a.iter_mut().enumerate() {
                *x = seed.wrapping_mul(31).wrapping_add(k.wrapping_mul(17)).wrapping_add(i as u8 * 7);
            }
            a
        };
        let vol = hex(&b(1)[..4]).to_ascii_uppercase();
        Identities {
            host_id: host_id.map_or_else(|| format!("{:08x}", 0x5eed_0000u32 + u32::from(seed)), str::to_string),
            luks_uuid: uuid_v4(b(2)),
            esp_uuid: format!("{}-{}", &vol[..4], &vol[4..]),
            disk_guid: uuid_v4(b(3)),
            esp_partuuid: uuid_v4(b(4)),
            luks_partuuid: uuid_v4(b(5)),
            machine_id: hex(&b(6)),
        }
    }

    /// The FAT volume id as `mkfs.fat -i` takes it (8 hex digits, no dash).
    pub(crate) fn esp_volume_id(&self) -> String {
        self.esp_uuid.replace('-', "")
    }

    /// Refuses identities of a form blankroot never chooses (a saved plan's are read back and
    /// end up in argv, the sfdisk script and the generated files): the host id as the config
    /// rules want it, in lower case; the UUIDs as [`uuid_v4`] writes them (RFC 4122 version 4,
    /// lower case, canonical `8-4-4-4-12`); the FAT volume id as blkid prints it (`1A2B-3C4D`);
    /// the machine-id as machine-id(5) defines it ("a single newline-terminated, hexadecimal,
    /// 32-character, lowercase ID … may not be all zeros"). The GPT's own GUIDs must differ.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, value: &str, what: &str| {
            Error::input(format!("the plan's ids.{field} {} is not {what}", crate::error::excerpt(value)))
                .hint("make a new plan on this machine: `blankroot plan --format json -o plan.json`")
        };
        match crate::config::rules::host_id(&self.host_id) {
            Ok(lower) if lower == self.host_id => {}
            Ok(_) => return Err(bad("host_id", &self.host_id, "in lower case")),
            Err(p) => return Err(bad("host_id", &self.host_id, "a usable host id").caused_by(p.message)),
        }
        for (field, value) in [
            ("luks_uuid", &self.luks_uuid),
            ("disk_guid", &self.disk_guid),
            ("esp_partuuid", &self.esp_partuuid),
            ("luks_partuuid", &self.luks_partuuid),
        ] {
            if !is_uuid_v4(value) {
                return Err(bad(field, value, "a lower-case version-4 UUID (xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx)"));
            }
        }
        if !is_fat_volume_id(&self.esp_uuid) {
            return Err(bad(
                "esp_uuid",
                &self.esp_uuid,
                "a FAT volume id as blkid prints it (XXXX-XXXX, upper-case hex)",
            ));
        }
        if !is_machine_id(&self.machine_id) {
            return Err(bad("machine_id", &self.machine_id, "32 lower-case hexadecimal digits, not all zero"));
        }
        let gpt = [&self.disk_guid, &self.esp_partuuid, &self.luks_partuuid];
        if gpt.iter().enumerate().any(|(i, a)| gpt.iter().skip(i + 1).any(|b| a == b)) {
            return Err(bad("disk_guid", &self.disk_guid, "distinct from esp_partuuid and luks_partuuid")
                .caused_by("a GPT's disk and partition GUIDs are unique"));
        }
        Ok(())
    }
}

/// Only hex digits of one case (`upper`: `0-9A-F`, else `0-9a-f`).
fn is_hex(s: &str, upper: bool) -> bool {
    s.bytes().all(|b| b.is_ascii_digit() || if upper { (b'A'..=b'F').contains(&b) } else { (b'a'..=b'f').contains(&b) })
}

/// Exactly `n` lower-case hex digits.
pub(crate) fn is_lower_hex(s: &str, n: usize) -> bool {
    s.len() == n && is_hex(s, false)
}

/// A UUID as the kernel and [`uuid_v4`] print one: `8-4-4-4-12` lower-case hex digits (the
/// boot id in `/proc/sys/kernel/random/boot_id` has this form too).
pub(crate) fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    lens == [8, 4, 4, 4, 12] && groups.iter().all(|g| is_hex(g, false))
}

/// `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx` in lower case, `y` one of 8, 9, a, b: what
/// [`uuid_v4`] writes.
pub(crate) fn is_uuid_v4(s: &str) -> bool {
    is_uuid(s) && s.get(14..15) == Some("4") && s.get(19..20).is_some_and(|y| matches!(y, "8" | "9" | "a" | "b"))
}

/// A machine id as machine-id(5) defines it: "a single newline-terminated, hexadecimal,
/// 32-character, lowercase ID … This ID may not be all zeros".
pub(crate) fn is_machine_id(s: &str) -> bool {
    is_lower_hex(s, 32) && s.bytes().any(|b| b != b'0')
}

/// `1A2B-3C4D`: the FAT volume id as blkid prints it (two groups of four upper-case hex digits).
pub(crate) fn is_fat_volume_id(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 2 && groups.iter().all(|g| g.len() == 4 && is_hex(g, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_well_formed_and_differ() {
        let a = Identities::random(None).unwrap();
        let b = Identities::random(None).unwrap();
        assert_ne!(a.luks_uuid, b.luks_uuid);
        assert!(crate::config::rules::host_id(&a.host_id).is_ok());
        assert_eq!(a.luks_uuid.len(), 36);
        assert_eq!(&a.luks_uuid[14..15], "4");
        assert_eq!(a.esp_uuid.len(), 9);
        assert_eq!(a.machine_id.len(), 32);
        assert_eq!(Identities::random(Some("deadbeef")).unwrap().host_id, "deadbeef");
        a.validate().unwrap();
        Identities::fixed(7, None).validate().unwrap();
    }

    #[test]
    fn malformed_ids_are_refused_naming_the_field() {
        let good = Identities::fixed(3, None);
        type Mutation = Box<dyn Fn(&mut Identities)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("host_id", Box::new(|i| i.host_id = "DEADBEEF".into())),
            ("host_id", Box::new(|i| i.host_id = "00000000".into())),
            ("host_id", Box::new(|i| i.host_id = "dead beef".into())),
            ("luks_uuid", Box::new(|i| i.luks_uuid = "0A1B2C3D-0A1B-4C2D-8E3F-0A1B2C3D4E5F".into())),
            ("luks_uuid", Box::new(|i| i.luks_uuid = "00000000-0000-0000-0000-000000000000".into())),
            ("luks_uuid", Box::new(|i| i.luks_uuid = format!("{} --header /dev/sdb", i.luks_uuid))),
            ("disk_guid", Box::new(|i| i.disk_guid = format!("{}\nlabel: dos", i.disk_guid))),
            ("esp_partuuid", Box::new(|i| i.esp_partuuid = String::new())),
            ("luks_partuuid", Box::new(|i| i.luks_partuuid = "é".repeat(36))),
            ("esp_uuid", Box::new(|i| i.esp_uuid = "1a2b-3c4d".into())),
            ("esp_uuid", Box::new(|i| i.esp_uuid = "1A2B3C4D".into())),
            ("machine_id", Box::new(|i| i.machine_id = "0".repeat(32))),
            ("machine_id", Box::new(|i| i.machine_id = "ABCDEF0123456789ABCDEF0123456789".into())),
            ("machine_id", Box::new(|i| i.machine_id.push('0'))),
            ("disk_guid", Box::new(|i| i.esp_partuuid = i.disk_guid.clone())),
        ];
        for (field, mutate) in cases {
            let mut ids = good.clone();
            mutate(&mut ids);
            let e = ids.validate().unwrap_err();
            assert_eq!(e.kind, crate::error::ErrorKind::Input);
            assert!(e.message.contains(&format!("ids.{field}")), "{field}: {}", e.message);
            assert!(e.hint.unwrap().contains("blankroot plan"));
        }
    }
}
