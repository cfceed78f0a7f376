//! Fuzzes the `blankroot.toml` reader with arbitrary bytes: no input may panic; a refusal is
//! an input error whose message and hint stay readable (echoed input cut, never a raw terminal
//! escape); an accepted config plans for the example machine and reads back the same from the
//! blankroot.toml the plan installs. Run: `cargo fuzz run config_parse` (see fuzz/README.md).
#![no_main]

use blankroot::config::{Overrides, parse_str, to_toml};
use blankroot::error::ErrorKind;
use blankroot::plan::{self, Identities};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse_str("blankroot.toml", text, &Overrides::default()) {
        Err(e) => {
            assert_eq!(e.kind, ErrorKind::Input, "{e}");
            let shown = e.render();
            assert!(shown.len() <= 4096, "an error of {} bytes: echoed input is not cut", shown.len());
            assert!(!shown.contains('\u{1b}'), "a raw terminal escape in {shown:?}");
            assert!(e.hint.as_deref().is_some_and(|h| !h.is_empty()), "no hint: {shown}");
        }
        Ok(config) => {
            let facts = blankroot::example::facts().expect("the example machine");
            // A disk other than the example's is the machine's business (exit 3), not a panic.
            let Ok(target) = plan::target::from_facts(&facts, &config.disk) else { return };
            let ids = Identities::fixed(1, config.host_id.as_deref());
            let Ok(p) = plan::build(&config, &target, &ids) else { return };
            let again = parse_str("blankroot.toml", &to_toml(&p.config, &ids), &Overrides::default())
                .unwrap_or_else(|e| panic!("the installed blankroot.toml is refused: {e}"));
            assert_eq!(again.datasets, p.config.datasets);
            assert_eq!(again.persist, p.config.persist);
            assert_eq!(again.luks.uuid.as_deref(), Some(ids.luks_uuid.as_str()), "the LUKS UUID is recorded");
        }
    }
});
