//! Fuzzes the libvirt domain XML editor with arbitrary bytes: the lossless parser
//! (`libvirt::xml::parse`) and the fix (`libvirt::fix::fix`, with and without secure boot)
//! never panic; a refusal is an input error with a hint; a fixed document is fixed for good
//! (a second run has nothing to change) and is unchanged when no change is reported. Run:
//! `cargo fuzz run libvirt_xml` (see fuzz/README.md).
#![no_main]

use blankroot::error::ErrorKind;
use blankroot::commands::libvirt::{fix, xml};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = xml::parse(text);
    for secure_boot in [false, true] {
        let opts = fix::Options { secure_boot };
        match fix::fix(text, "vm.xml", opts) {
            Err(e) => {
                assert!(matches!(e.kind, ErrorKind::Input | ErrorKind::Environment), "{e}");
                assert!(e.hint.is_some(), "no hint: {e}");
                assert!(!e.render().contains('\u{1b}'), "a raw terminal escape in {:?}", e.render());
            }
            Ok(fixed) => {
                if fixed.changes.is_empty() {
                    assert_eq!(fixed.text, text, "no change reported, yet the text changed");
                }
                let again = fix::fix(&fixed.text, "vm.xml", opts).expect("the fixed document is read again");
                assert!(again.changes.is_empty(), "a second run changes {:?}", again.changes);
                assert_eq!(again.text, fixed.text);
            }
        }
    }
});
