//! Benchmark: how long `blankroot plan` takes, probing included. Prints figures; asserts
//! nothing about time (the machines are shared and noisy). Target: under 50 ms per plan.
//!
//! Run: `cargo bench --bench plan` (or scripts/bench.sh).

use std::process::Command;
use std::time::{Duration, Instant};

fn stats(name: &str, mut v: Vec<Duration>) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = v.iter().sum::<Duration>() / v.len() as u32;
    println!(
        "{name:<58} n={:<4} min {:>7.3} ms  median {:>7.3} ms  mean {:>7.3} ms  p95 {:>7.3} ms",
        v.len(),
        ms(v[0]),
        ms(v[v.len() / 2]),
        ms(mean),
        ms(v[v.len() * 95 / 100])
    );
}

fn time<F: FnMut()>(n: usize, mut f: F) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect()
}

fn main() {
    use blankroot::cli::{ConfigArgs, Format, PlanArgs};
    // `cargo test --all-targets` runs benches too, without `--bench`: nothing to measure then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("a benchmark: run it with `cargo bench --bench {}`", env!("CARGO_CRATE_NAME"));
        return;
    }
    let args = |example: bool, disk: Option<String>| PlanArgs {
        config: ConfigArgs { disk, ..Default::default() },
        example,
        format: Format::Human,
        output: None,
    };

    println!("blankroot plan benchmark (target: under 50 ms per plan, probing included)");
    let ex = args(true, None);
    stats(
        "in-process: example machine, probe+config+plan+render",
        time(500, || {
            let p = blankroot::cli::make_plan(&ex).unwrap();
            std::hint::black_box(blankroot::plan::human(&p));
            std::hint::black_box(p.to_json());
        }),
    );

    // The real probe of this machine: lsblk, /sys/firmware/efi, /dev/disk/by-id, tools.
    let facts = blankroot::probe::probe(&blankroot::runner::Local::default()).expect("probe this machine");
    let disk = facts.block_devices.iter().find(|d| d.kind == "disk" && d.size_bytes >= 6 << 30).map(|d| d.path.clone());
    if let Some(disk) = &disk {
        let real = args(false, Some(disk.clone()));
        stats(
            &format!("in-process: this machine ({disk}), real probe+plan+render"),
            time(100, || {
                let p = blankroot::cli::make_plan(&real).unwrap();
                std::hint::black_box(blankroot::plan::human(&p));
            }),
        );
    } else {
        println!("(no disk of 6 GiB or more here: real-probe figure skipped)");
    }

    // The whole command, as a user runs it (process start included).
    let exe = env!("CARGO_BIN_EXE_blankroot");
    let run = |extra: &[&str]| {
        let out = Command::new(exe).arg("plan").args(extra).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    stats("process: `blankroot plan --example`", time(100, || run(&["--example"])));
    stats("process: `blankroot plan --example --format json`", time(100, || run(&["--example", "--format", "json"])));
    if let Some(disk) = &disk {
        stats(&format!("process: `blankroot plan --disk {disk}` (real probe)"), time(50, || run(&["--disk", disk])));
    }
}
