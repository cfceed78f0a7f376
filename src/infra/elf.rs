//! Whether an executable needs a dynamic loader: an ELF file with a `PT_INTERP` program header
//! names the loader the kernel must start (`/lib64/ld-linux-x86-64.so.2`), which the NixOS
//! minimal ISO does not have (its stub loader is off: nixos/modules/profiles/minimal.nix), nor
//! does a blank root. blankroot keeps itself on the installed system only when its own
//! executable needs none (elf(5): "PT_INTERP … the location and size of a null-terminated
//! pathname to invoke as an interpreter").

/// `/proc/self/exe`: this process's own executable, whatever it was started as.
pub(crate) const SELF_EXE: &str = "/proc/self/exe";

/// Reads this process's own executable (the binary `install` keeps on the installed system).
pub(crate) fn own_executable() -> std::io::Result<Vec<u8>> {
    std::fs::read(SELF_EXE)
}

/// Whether this process's own executable is static (needs no loader); `false` when it cannot
/// be read or is not an ELF file this reads.
pub(crate) fn self_is_static() -> bool {
    // The program headers are near the start; 64 KiB holds them for any executable here.
    let head = std::fs::File::open(SELF_EXE).and_then(|f| {
        use std::io::Read;
        let mut b = Vec::new();
        f.take(64 << 10).read_to_end(&mut b).map(|_| b)
    });
    head.is_ok_and(|b| is_static(&b) == Ok(true))
}

/// `e_machine` of the machine this blankroot is built for (elf(5): EM_X86_64 62,
/// EM_AARCH64 183); an executable for another cannot run here.
const OWN_MACHINE: u16 = if cfg!(target_arch = "aarch64") { 183 } else { 62 };

/// The fields of a 64-bit little-endian ELF file that say what it needs, read without
/// trusting any offset in it: every end is computed without overflow.
struct Elf<'a> {
    bytes: &'a [u8],
    /// (type, file offset, size in the file) of each program header.
    segments: Vec<(u32, u64, u64)>,
}

impl<'a> Elf<'a> {
    fn read(bytes: &'a [u8]) -> Result<Elf<'a>, String> {
        if bytes.get(..4) != Some(b"\x7fELF") {
            return Err("not an ELF file".into());
        }
        // EI_CLASS 2: 64-bit; EI_DATA 1: little-endian (x86_64, aarch64).
        if bytes.get(4) != Some(&2) || bytes.get(5) != Some(&1) {
            return Err("not a 64-bit little-endian ELF file".into());
        }
        let short = || "cut short before its program headers".to_string();
        let e_type = u16_at(bytes, 0x10).ok_or_else(short)?;
        let machine = u16_at(bytes, 0x12).ok_or_else(short)?;
        // ET_EXEC 2, ET_DYN 3 (a position-independent executable, static-pie among them).
        if e_type != 2 && e_type != 3 {
            return Err(format!("not an executable (ELF type {e_type})"));
        }
        if machine != OWN_MACHINE {
            return Err(format!("built for another machine (ELF machine {machine}; this one is {OWN_MACHINE})"));
        }
        let phoff = usize::try_from(u64_at(bytes, 0x20).ok_or_else(short)?).map_err(|_| short())?;
        let phentsize = usize::from(u16_at(bytes, 0x36).ok_or_else(short)?);
        let phnum = usize::from(u16_at(bytes, 0x38).ok_or_else(short)?);
        if phentsize < 0x28 || phnum == 0 {
            return Err("no program headers: not an executable".into());
        }
        let mut segments = Vec::with_capacity(phnum);
        for i in 0..phnum {
            let at = phoff.checked_add(i.checked_mul(phentsize).ok_or_else(short)?).ok_or_else(short)?;
            let field = |o: usize| at.checked_add(o).ok_or_else(short);
            let kind = u32_at(bytes, at).ok_or_else(short)?;
            let offset = u64_at(bytes, field(0x08)?).ok_or_else(short)?;
            let size = u64_at(bytes, field(0x20)?).ok_or_else(short)?;
            segments.push((kind, offset, size));
        }
        Ok(Elf { bytes, segments })
    }
}

fn field(bytes: &[u8], o: usize, n: usize) -> Option<&[u8]> {
    bytes.get(o..o.checked_add(n)?)
}
fn u16_at(bytes: &[u8], o: usize) -> Option<u16> {
    field(bytes, o, 2).map(|b| u16::from_le_bytes([b[0], b[1]]))
}
fn u32_at(bytes: &[u8], o: usize) -> Option<u32> {
    field(bytes, o, 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}
fn u64_at(bytes: &[u8], o: usize) -> Option<u64> {
    field(bytes, o, 8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes)
}

/// Whether the ELF file whose first bytes are `bytes` needs no dynamic loader (no `PT_INTERP`
/// program header). An error says why the bytes are not a 64-bit little-endian ELF executable
/// for this machine that this can judge.
pub fn is_static(bytes: &[u8]) -> Result<bool, String> {
    const PT_INTERP: u32 = 3;
    Ok(!Elf::read(bytes)?.segments.iter().any(|(kind, _, _)| *kind == PT_INTERP))
}

/// That `bytes`, a whole file, hold every loadable segment its program headers name: a copy
/// cut short (an interrupted write) does not.
pub fn is_whole(bytes: &[u8]) -> Result<(), String> {
    const PT_LOAD: u32 = 1;
    let elf = Elf::read(bytes)?;
    let len = elf.bytes.len() as u64;
    match elf
        .segments
        .iter()
        .find(|(kind, offset, size)| *kind == PT_LOAD && offset.checked_add(*size).is_none_or(|end| end > len))
    {
        Some((_, offset, size)) => {
            Err(format!("cut short: a segment at byte {offset} of {size} bytes runs past its end ({len} bytes)"))
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 header with these program header types.
    fn elf(types: &[u32]) -> Vec<u8> {
        let mut b = vec![0u8; 64 + 56 * types.len()];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[0x10] = 2;
        b[0x12..0x14].copy_from_slice(&OWN_MACHINE.to_le_bytes());
        b[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        b[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&(types.len() as u16).to_le_bytes());
        for (i, t) in types.iter().enumerate() {
            b[64 + 56 * i..64 + 56 * i + 4].copy_from_slice(&t.to_le_bytes());
        }
        b
    }

    #[test]
    fn interp_means_a_loader_is_needed() {
        assert_eq!(is_static(&elf(&[6, 1, 1, 2])), Ok(true), "PHDR, LOAD, LOAD, DYNAMIC (static-pie)");
        assert_eq!(is_static(&elf(&[6, 3, 1])), Ok(false), "INTERP");
        assert!(is_static(b"#!/bin/sh\n").is_err());
        assert!(is_static(&elf(&[1])[..66]).is_err(), "cut short");
        assert!(is_static(&elf(&[1])[..40]).is_err(), "cut short in the header");
        let mut odd = elf(&[1]);
        odd[0x20..0x28].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(is_static(&odd).is_err(), "an offset past the end is an error, not a panic");
    }

    #[test]
    fn another_machine_or_a_file_that_is_not_an_executable_is_refused() {
        let mut arm = elf(&[1]);
        let other = if OWN_MACHINE == 62 { 183u16 } else { 62 };
        arm[0x12..0x14].copy_from_slice(&other.to_le_bytes());
        assert!(is_static(&arm).unwrap_err().contains("built for another machine"));
        let mut object = elf(&[1]);
        object[0x10] = 1; // ET_REL: an object file
        assert_eq!(is_static(&object), Err("not an executable (ELF type 1)".into()));
    }

    #[test]
    fn a_copy_cut_short_is_not_whole() {
        let own = std::fs::read(SELF_EXE).unwrap();
        assert_eq!(is_whole(&own), Ok(()));
        // Cut one byte before the end of its last loadable segment (a debug build's debug
        // sections, which are not loaded, lie after it).
        let loaded = Elf::read(&own).unwrap().segments.iter().filter(|s| s.0 == 1).map(|s| s.1 + s.2).max().unwrap();
        let cut = &own[..usize::try_from(loaded).unwrap() - 1];
        assert_eq!(is_static(cut), Ok(false), "its headers still read");
        assert!(is_whole(cut).unwrap_err().starts_with("cut short: a segment at byte"), "{:?}", is_whole(cut));
        // A segment whose end overflows is past the end too.
        let mut b = elf(&[1]);
        b[64 + 8..64 + 16].copy_from_slice(&u64::MAX.to_le_bytes());
        b[64 + 0x20..64 + 0x28].copy_from_slice(&2u64.to_le_bytes());
        assert!(is_whole(&b).is_err());
    }

    #[test]
    fn every_cut_and_every_flipped_header_byte_is_an_answer_not_a_panic() {
        // This test's own executable (dynamic: cargo's test binaries link glibc).
        let own = std::fs::read(SELF_EXE).unwrap();
        assert_eq!(is_static(&own), Ok(false), "a test binary has PT_INTERP");
        let head = &own[..own.len().min(4096)];
        for n in 0..head.len() {
            let _ = is_static(&head[..n]);
            let _ = is_whole(&head[..n]);
        }
        for at in 0..0x40 {
            for value in [0x00, 0x7f, 0x80, 0xff] {
                let mut b = head.to_vec();
                b[at] = value;
                let _ = is_static(&b);
                let _ = is_whole(&b);
            }
        }
    }
}
