//! The resume record (src/plan/record.rs) with the real tools, on image files: the plan's own
//! `dd` writes it into the gap before the first partition, the real `sfdisk` run after it (and
//! `blkid`) leave it alone, sfdisk's first partition starts after it (512-byte sectors; the
//! sfdisk 2.38 here has no `--sector-size` for a 4 KiB-sector image: the 4 KiB case is the
//! arithmetic in src/plan/record.rs's unit test), blankroot reads it back with its own read command, and the last step's `dd` zeroes
//! it so that the step's real `cmp` check holds. A re-run's plan from the record is the plan
//! that wrote it (`plan::record::resume_plan`, with a runner that reads the image).

use crate::common;

use blankroot::infra::runner::Recording;
use blankroot::plan::record::{self, Absent, OFFSET, Record, SIZE};
use blankroot::plan::{Plan, PlannedCommand, Stdin};
use std::path::Path;

/// Runs `argv` with `/dev/vda` swapped for `img` in every argument (also inside `of=…`); refuses
/// anything that still names a device of this machine. Returns (exit code, stdout).
fn run_on(img: &Path, argv: &[String], stdin: Option<&[u8]>) -> (i32, Vec<u8>) {
    let img = img.to_str().unwrap();
    let argv: Vec<String> = argv.iter().map(|a| a.replace("/dev/vda", img)).collect();
    let out = common::host_devices::run_guarded(&argv, stdin);
    (out.status.code().unwrap_or(-1), out.stdout)
}

fn ok(img: &Path, c: &PlannedCommand) -> Vec<u8> {
    let stdin = match &c.stdin {
        Some(Stdin::Text(t)) => Some(t.as_bytes()),
        None => None,
        Some(Stdin::Secret(_)) => panic!("no secret here"),
    };
    let (rc, out) = run_on(img, &c.argv, stdin);
    assert_eq!(rc, 0, "{:?} failed", c.argv);
    out
}

fn region(img: &Path) -> Vec<u8> {
    let cmd = record::read_cmd("/dev/vda");
    let (rc, out) = run_on(img, &cmd.argv, None);
    assert_eq!(rc, 0);
    assert_eq!(out.len() as u64, SIZE, "the read command reads the whole region");
    out
}

fn image(p: &Plan, dir: &Path, old: u8) -> std::path::PathBuf {
    let img = dir.join("disk.img");
    let f = std::fs::File::create(&img).unwrap();
    f.set_len(p.target.disk.size_bytes).unwrap();
    // What an earlier use of the disk left in its first 2 MiB.
    use std::os::unix::fs::FileExt;
    f.write_all_at(&vec![old; 2 << 20], 0).unwrap();
    img
}

#[test]
fn the_partition_step_writes_the_record_and_sfdisk_keeps_it() {
    let p = common::plan_for("seed-defaults");
    let dir = tempfile::tempdir().unwrap();
    let img = image(&p, dir.path(), 0xa5);
    let s = p.steps.iter().find(|s| s.id == "partition").unwrap();
    assert_eq!(s.commands[0].argv[0], "dd", "the record is written before sfdisk runs");
    ok(&img, &s.commands[0]);
    let want = Record::new(&p.config, &p.ids);
    assert_eq!(record::parse(&region(&img)).unwrap(), want, "readable before sfdisk");
    let sfdisk = s.commands.iter().find(|c| c.argv[0] == "sfdisk").unwrap();
    ok(&img, sfdisk);
    assert_eq!(record::parse(&region(&img)).unwrap(), want, "sfdisk --wipe left it alone");
    let json: serde_json::Value = serde_json::from_slice(&ok(
        &img,
        &PlannedCommand { argv: vec!["sfdisk".into(), "--json".into(), "/dev/vda".into()], stdin: None },
    ))
    .unwrap();
    let t = &json["partitiontable"];
    // sfdisk writes its GPT header and entries before the record (it survived above) and lets no
    // partition start before 1 MiB, after the record.
    assert!(t["firstlba"].as_u64().unwrap() * 512 >= OFFSET + SIZE, "no partition may start in the record: {t}");
    assert!(t["partitions"][0]["start"].as_u64().unwrap() * 512 >= OFFSET + SIZE, "ESP after the record: {t}");
    // The zero padding covers the old bytes after the record's text.
    let r = region(&img);
    let text = want.to_text().unwrap();
    assert!(r[text.len()..].iter().all(|&b| b == 0), "old contents left in the record's region");
    println!(
        "checked: record ({} bytes) written before sfdisk, intact after it, ESP at {} KiB",
        text.len(),
        (OFFSET + SIZE) >> 10
    );
}

#[test]
fn blkid_sees_no_signature_in_the_record() {
    let p = common::plan_for("seed-defaults");
    let dir = tempfile::tempdir().unwrap();
    let img = image(&p, dir.path(), 0);
    ok(&img, &p.steps.iter().find(|s| s.id == "partition").unwrap().commands[0]);
    // blkid -p exits 2 when it finds nothing: the record alone is not mistaken for a file system
    // or partition table (so it never makes an empty disk look "not empty").
    let (rc, out) = run_on(&img, &["blkid".into(), "-p".into(), "/dev/vda".into()], None);
    assert_eq!(rc, 2, "blkid found something: {}", String::from_utf8_lossy(&out));
}

#[test]
fn the_last_step_zeroes_the_record_and_its_real_check_says_so() {
    let p = common::plan_for("seed-defaults");
    let dir = tempfile::tempdir().unwrap();
    let img = image(&p, dir.path(), 0);
    ok(&img, &p.steps.iter().find(|s| s.id == "partition").unwrap().commands[0]);
    let last = p.steps.last().unwrap();
    assert_eq!(last.id, "forget-resume");
    let check = &last.check[0];
    assert_eq!(run_on(&img, &check.argv, None).0, 1, "the check must not hold while the record is there");
    for c in &last.commands {
        ok(&img, c);
    }
    assert_eq!(run_on(&img, &check.argv, None).0, 0, "the check holds once zeroed");
    assert_eq!(record::parse(&region(&img)), Err(Absent::None));
}

/// The fake machine whose disk is an image: the record's read command (`dd`) runs on it, and
/// nothing else is answered.
fn image_reader(img: &Path) -> Recording {
    let img = img.to_path_buf();
    Recording::new().respond("dd", move |cmd| {
        let (rc, stdout) = run_on(&img, &cmd.argv, None);
        Ok(blankroot::infra::runner::Output { status: Some(rc), stdout, stderr: Vec::new() })
    })
}

#[test]
fn a_rerun_with_the_same_config_gets_the_recorded_plan_and_another_config_is_refused() {
    let p = common::plan_for("seed-defaults");
    let dir = tempfile::tempdir().unwrap();
    let img = image(&p, dir.path(), 0);
    let facts = blankroot::example::facts().unwrap();
    let reader = image_reader(&img);
    // Nothing recorded yet: no resume.
    assert!(record::resume_plan(&reader, &p.config, &p.target, &facts, false).unwrap().is_none());
    ok(&img, &p.steps[0].commands[0]);
    let again = record::resume_plan(&reader, &p.config, &p.target, &facts, false).unwrap().expect("a record");
    assert_eq!(again.ids, p.ids, "the recorded ids, not new ones");
    assert_eq!(again.steps, p.steps);
    // A config without host_id resumes the recorded random one.
    let mut loose = p.config.clone();
    loose.host_id = None;
    assert!(record::resume_plan(&reader, &loose, &p.target, &facts, false).unwrap().is_some());
    // Another config: refused, naming the field, unless --wipe starts over.
    let mut other = p.config.clone();
    other.hostname = "elsewhere".into();
    let e = record::resume_plan(&reader, &other, &p.target, &facts, false).unwrap_err();
    let text = e.render();
    assert!(text.contains("interrupted blankroot install") && text.contains("hostname"), "{text}");
    assert!(text.contains("--wipe"), "{text}");
    assert!(record::resume_plan(&reader, &other, &p.target, &facts, true).unwrap().is_none());
}
