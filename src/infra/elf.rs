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

/// Whether the ELF file whose first bytes are `bytes` needs no dynamic loader (no `PT_INTERP`
/// program header). An error says why the bytes are not a 64-bit little-endian ELF executable
/// this can judge.
pub fn is_static(bytes: &[u8]) -> Result<bool, String> {
    const PT_INTERP: u32 = 3;
    if bytes.get(..4) != Some(b"\x7fELF") {
        return Err("not an ELF file".into());
    }
    // EI_CLASS 2: 64-bit; EI_DATA 1: little-endian (x86_64, aarch64).
    if bytes.get(4) != Some(&2) || bytes.get(5) != Some(&1) {
        return Err("not a 64-bit little-endian ELF file".into());
    }
    // Offsets come from the file: every end is computed without overflow.
    let field = |o: usize, n: usize| bytes.get(o..o.checked_add(n)?);
    let u16_at = |o: usize| field(o, 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| field(o, 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let u64_at = |o: usize| field(o, 8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
    let short = || "cut short before its program headers".to_string();
    let phoff = usize::try_from(u64_at(0x20).ok_or_else(short)?).map_err(|_| short())?;
    let phentsize = usize::from(u16_at(0x36).ok_or_else(short)?);
    let phnum = usize::from(u16_at(0x38).ok_or_else(short)?);
    if phentsize < 4 || phnum == 0 {
        return Err("no program headers: not an executable".into());
    }
    for i in 0..phnum {
        let at = phoff.checked_add(i.checked_mul(phentsize).ok_or_else(short)?).ok_or_else(short)?;
        if u32_at(at).ok_or_else(short)? == PT_INTERP {
            return Ok(false);
        }
    }
    Ok(true)
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
    fn every_cut_and_every_flipped_header_byte_is_an_answer_not_a_panic() {
        // This test's own executable (dynamic: cargo's test binaries link glibc).
        let own = std::fs::read(SELF_EXE).unwrap();
        assert_eq!(is_static(&own), Ok(false), "a test binary has PT_INTERP");
        let head = &own[..own.len().min(4096)];
        for n in 0..head.len() {
            let _ = is_static(&head[..n]);
        }
        for at in 0..0x40 {
            for value in [0x00, 0x7f, 0x80, 0xff] {
                let mut b = head.to_vec();
                b[at] = value;
                let _ = is_static(&b);
            }
        }
    }
}
