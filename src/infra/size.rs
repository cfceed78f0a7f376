//! Sizes for people, one way everywhere: disks in GiB with one decimal (`20.0 GiB`), anything
//! else in the largest binary unit that keeps a number of at least one (`1.5 MiB`, `512 B`).

const GIB: f64 = (1u64 << 30) as f64;

/// A disk or partition size: `20.0 GiB`.
pub fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / GIB)
}

/// Any amount of data: `512 B`, `4.0 KiB`, `1.5 MiB`, `2.3 GiB`, `1.0 TiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{bytes} B") } else { format!("{v:.1} {}", UNITS[u]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(gib(20 << 30), "20.0 GiB");
        assert_eq!(gib(6_442_450_944 + (1 << 29)), "6.5 GiB");
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(1024), "1.0 KiB");
        assert_eq!(human(3 << 19), "1.5 MiB");
        assert_eq!(human(u64::MAX), "16777216.0 TiB");
    }
}
