//! Benchmark: `blankroot diff` classifying and grouping a synthetic 1,000,000-line
//! `zfs diff -FHt` file (about 64 MB), against the shell pipelines users run today, on the same
//! file in the same run: the bare filter `grep -v -F -f <persisted list>` and the grouping
//! pipeline `grep -v -F -f <list> | cut -f4 | cut -d/ -f2-3 | sort | uniq -c | sort -rn`.
//! Prints wall times (median of 5), their ratios and peak memory (GNU time's %M: the largest
//! process of a pipeline); asserts nothing. Targets: the grouped report at least as fast as
//! the bare grep (which does less, and wrongly: -F matches substrings anywhere in a line), and
//! under 20 MB peak memory.
//!
//! Run: `cargo bench --bench diff` (needs GNU time, `/usr/bin/time`).

use std::io::Write;
use std::process::{Command, Stdio};

/// The lines, made like real `zfs diff -FHt` output of a busy root: entries come in runs per
/// directory (zfs walks objects in allocation order), ~1/8 directories, some renames and link
/// changes, and some persisted and noise paths the filters must drop.
fn synthetic(path: &std::path::Path, lines: usize) -> u64 {
    let dirs = [
        "/root/.cache/mozilla/firefox/profile.default/cache2/entries",
        "/root/.cache/pip/http/v2",
        "/var/lib/docker/overlay2/4f1c3e0a9b/diff/usr/lib/python3/dist-packages",
        "/var/lib/systemd/coredump",
        "/var/cache/man/cat1",
        "/etc/nixos",
        "/var/log/journal/0f2b4c",
        "/tmp/nix-build-linux-6.6.drv-0/source/drivers/net",
        "/etc/static",
        "/root/src/project/target/release/deps",
        "/var/lib/containers/storage/overlay/l",
        "/usr/share/fonts/truetype",
        "/srv/app/data/uploads/2026/12",
        "/var/lib/postgresql/15/main/base/16384",
    ];
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut written = 0u64;
    let mut i = 0;
    while i < lines {
        let dir = dirs[(rnd() % dirs.len() as u64) as usize];
        let run = 1 + (rnd() % 64) as usize;
        for _ in 0..run.min(lines - i) {
            let r = rnd();
            let name = if i % 97 == 0 { format!("with\\0040space\\0040{i}.txt") } else { format!("f{:07x}.dat", i) };
            let t = format!("{:10}.{:09}", 1_764_600_000 + i / 100, r % 1_000_000_000);
            let line = match r % 16 {
                0 => format!("{t}\tR\tF\t{dir}/{name}\t{dir}/{name}.new\n"),
                1 => format!("{t}\tM\tF\t{dir}/{name}\t(+1)\n"),
                2 | 3 => format!("{t}\t+\t/\t{dir}/d{i}\n"),
                4 | 5 => format!("{t}\tM\tF\t{dir}/{name}\n"),
                6 => format!("{t}\t-\tF\t{dir}/{name}\n"),
                7 => format!("{t}\t+\t@\t{dir}/{name}\n"),
                _ => format!("{t}\t+\tF\t{dir}/{name}\n"),
            };
            written += line.len() as u64;
            f.write_all(line.as_bytes()).unwrap();
            i += 1;
        }
    }
    f.flush().unwrap();
    written
}

/// Runs `sh -c script` under GNU time `runs` times, its stdout into a pipe that is drained
/// (so that nothing short-cuts writing to /dev/null); returns (median seconds, max KiB).
fn measure(script: &str, runs: usize) -> (f64, u64) {
    let mut times = Vec::new();
    let mut peak = 0;
    for _ in 0..runs {
        let out = Command::new("/usr/bin/time")
            .args(["-f", "BENCH %e %M", "sh", "-c", &format!("{script} | cat > /dev/null")])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("run /usr/bin/time (Debian package `time`)");
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err.lines().find(|l| l.starts_with("BENCH ")).unwrap_or_else(|| panic!("{script}: {err}"));
        let f: Vec<&str> = line.split_whitespace().collect();
        times.push(f[1].parse::<f64>().unwrap());
        peak = peak.max(f[2].parse::<u64>().unwrap());
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], peak)
}

/// Peak memory of the first command of a pipeline is what `cat` and `sh` add nothing to; for
/// one command, its own.
fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("a benchmark: run it with `cargo bench --bench diff`");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.zdiff");
    let lines = 1_000_000;
    let bytes = synthetic(&input, lines);
    // The persisted list of the seed's layout, as users keep it for grep.
    let list = dir.path().join("persisted.list");
    std::fs::write(&list, "/etc/nixos\n/var/lib/nixos\n/var/log\n/etc/machine-id\n").unwrap();
    let cfg = dir.path().join("blankroot.toml");
    std::fs::write(&cfg, "").unwrap();
    let bin = env!("CARGO_BIN_EXE_blankroot");
    let (i, l, c) = (input.display(), list.display(), cfg.display());
    println!(
        "blankroot diff vs shell pipelines on {lines} lines of `zfs diff -FHt` ({:.1} MB), median of 5 runs, peak RSS by GNU time",
        bytes as f64 / 1e6
    );
    let cases = [
        ("blankroot diff (grouped, JSON)", format!("{bin} diff --input {i} --config {c} --format json")),
        ("blankroot diff (grouped, text)", format!("{bin} diff --input {i} --config {c}")),
        ("grep -v -F -f list (bare filter)", format!("grep -v -F -f {l} {i}")),
        (
            "grep | cut | cut | sort | uniq -c | sort -rn",
            format!("grep -v -F -f {l} {i} | cut -f4 | cut -d/ -f2-3 | sort | uniq -c | sort -rn"),
        ),
    ];
    let results: Vec<(&str, f64, u64)> = cases
        .iter()
        .map(|(name, script)| {
            let (t, kib) = measure(script, 5);
            (*name, t, kib)
        })
        .collect();
    let grep = results[2].1;
    for (name, t, kib) in &results {
        println!("  {name:<46} {t:>6.3} s  {:>5.2}x the bare grep  peak {:>6.1} MB", t / grep, *kib as f64 / 1024.0);
    }
    let (b, p) = (results[0], results[3]);
    println!(
        "blankroot's grouped report: {:.2}x the bare grep's time (target at most 1), {:.2}x the grouping pipeline's; peak {:.1} MB (target under 20 MB)",
        b.1 / grep,
        b.1 / p.1,
        b.2 as f64 / 1024.0
    );
}
