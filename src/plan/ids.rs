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
pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| Error::env("cannot read random numbers from the OS").caused_by(e))?;
    Ok(b)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random RFC 4122 version-4 UUID.
pub fn uuid_v4(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

impl Identities {
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
    pub fn esp_volume_id(&self) -> String {
        self.esp_uuid.replace('-', "")
    }
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
    }
}
