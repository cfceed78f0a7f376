//! Fuzzes the `zfs diff` parser and the diff report with arbitrary bytes: no input may panic,
//! a parsed path is never empty, and escaping what was unescaped gives back zfs's form when
//! zfs's form was canonical. Run: `cargo fuzz run zdiff_parse` (see fuzz/README.md).
#![no_main]

use blankroot::commands::diff::{Rules, Tally};
use blankroot::zdiff;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let rules = Rules::new(&blankroot::config::Config::default(), "/mnt", &["/var/cache".into()], true);
    let mut tally = Tally::new(&rules, "rpool/local/root@blank", None);
    for line in data.split(|b| *b == b'\n') {
        if let Ok(e) = zdiff::parse_line(line) {
            assert!(!e.path.is_empty());
            let raw = zdiff::unescape(e.path);
            assert_eq!(zdiff::unescape(&zdiff::escape(&raw)), raw);
            if let Some(n) = e.new_path {
                assert!(!n.is_empty());
            }
        }
        tally.add(line);
    }
    let report = tally.finish();
    let _ = report.groups_text(10);
    let _ = serde_json::to_string(&report);
});
