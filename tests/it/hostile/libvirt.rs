//! Hostile domain XML for `blankroot libvirt --xml FILE --yes`, on copies in the case's
//! folder: not XML, truncated, entity bombs and external entities, huge attributes, deep
//! nesting, no `<devices>`, two `<os>`, terminal escapes, NUL, declared and real non-UTF-8
//! encodings; CRLF and BOM files must be edited keeping their line endings and BOM; a symlinked
//! file is edited through the link (it stays a link) or refused. Refusals exit 2 with nothing
//! changed; accepted edits are checked.

use super::harness::{Case, Expect, refused};
use std::path::Path;

const GOOD: &str = include_str!("../../fixtures/libvirt/virt-install-q35-bios.xml");
const UEFI: &str = include_str!("../../fixtures/libvirt/virt-install-q35-uefi.xml");

fn xml_case(name: &str, bytes: impl Into<Vec<u8>>, expect: Expect) -> Case {
    Case::bin(format!("libvirt/{name}"), &["libvirt", "--xml", "vm.xml", "--yes"], expect).put("vm.xml", bytes)
}

fn hostile(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile/libvirt").join(name)).unwrap()
}

fn read(dir: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(dir.join("vm.xml")).map_err(|e| format!("vm.xml: {e}"))
}

/// The written document is well-formed and fixed for good: read again, nothing to change (a
/// BOM shifting the edits' offsets wrote `firmware='efi'<os>` and `</ty<firmware>…pe>`).
fn fixed_for_good(b: &[u8]) -> Result<(), String> {
    let t = String::from_utf8_lossy(b);
    let t = t.strip_prefix('\u{feff}').unwrap_or(&t);
    match blankroot::commands::libvirt::fix::fix(t, "vm.xml", Default::default()) {
        Ok(again) if again.changes.is_empty() => Ok(()),
        Ok(again) => Err(format!("a second run would still change {:?}", again.changes)),
        Err(e) => Err(format!("the written file is no longer read: {}", e.message)),
    }
}

/// After an accepted run: the file is the fixed domain (a serial and UEFI), with CRLF kept.
fn fixed_crlf(dir: &Path) -> Result<(), String> {
    let b = read(dir)?;
    let t = String::from_utf8_lossy(&b);
    if !t.contains("<serial>vda</serial>") {
        return Err("no <serial> added".into());
    }
    let bare_lf =
        b.windows(2).filter(|w| w[1] == b'\n' && w[0] != b'\r').count() + usize::from(b.first() == Some(&b'\n'));
    if bare_lf > 0 {
        return Err(format!("{bare_lf} LF line ending(s) written into a CRLF file"));
    }
    fixed_for_good(&b)
}

fn fixed_bom(dir: &Path) -> Result<(), String> {
    let b = read(dir)?;
    if !b.starts_with("\u{feff}".as_bytes()) {
        return Err("the BOM was dropped".into());
    }
    if !String::from_utf8_lossy(&b).contains("<serial>vda</serial>") {
        return Err("no <serial> added".into());
    }
    fixed_for_good(&b)
}

/// Nothing expanded, nothing read from outside: the file did not grow past the input.
fn not_expanded(dir: &Path) -> Result<(), String> {
    let b = read(dir)?;
    let t = String::from_utf8_lossy(&b);
    if t.contains("lollollol") || t.contains("root:") || b.len() > 8192 {
        return Err("an entity was expanded into the file".into());
    }
    Ok(())
}

/// The link is still a link to real.xml, and real.xml is the fixed domain.
fn link_kept(dir: &Path) -> Result<(), String> {
    let m = std::fs::symlink_metadata(dir.join("vm.xml")).map_err(|e| e.to_string())?;
    if !m.file_type().is_symlink() {
        return Err("the symlinked --xml became a regular file".into());
    }
    Ok(())
}

fn link_kept_and_fixed(dir: &Path) -> Result<(), String> {
    link_kept(dir)?;
    let t = std::fs::read_to_string(dir.join("real.xml")).map_err(|e| e.to_string())?;
    if !t.contains("<serial>vda</serial>") {
        return Err("the link's target was not fixed".into());
    }
    fixed_for_good(t.as_bytes())
}

fn either(check: super::harness::Check) -> Expect {
    Expect::Either { check: Some(check) }
}

pub fn cases() -> Vec<Case> {
    let half = GOOD.get(..GOOD.len() / 2).unwrap_or_default();
    let huge_attr =
        GOOD.replacen("<domain type=\"qemu\">", &format!("<domain type=\"qemu\" x=\"{}\">", "a".repeat(8 << 20)), 1);
    let deep =
        GOOD.replacen("<metadata>", &format!("<metadata>{}{}", "<a>".repeat(200_000), "</a>".repeat(200_000)), 1);
    let no_devices = {
        let (a, b) = (GOOD.find("<devices>").unwrap(), GOOD.find("</devices>").unwrap() + "</devices>".len());
        format!("{}{}", &GOOD[..a], &GOOD[b..])
    };
    let two_devices = GOOD.replacen("<devices>", "<devices>\n    <disk type=\"file\" device=\"disk\"><target dev=\"vdz\" bus=\"virtio\"/></disk>\n  </devices>\n  <devices>", 1);
    let latin1: Vec<u8> = GOOD
        .replacen("<name>nixos-unstable</name>", "<name>nixos-\u{e9}t\u{e9}</name>", 1)
        .chars()
        .map(|c| c as u32 as u8)
        .collect();
    let latin1_declared = [b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n".as_slice(), &latin1].concat();
    let utf16: Vec<u8> = [0xFFu8, 0xFE].into_iter().chain(GOOD.encode_utf16().flat_map(|u| u.to_le_bytes())).collect();
    let mut v = vec![
        xml_case("not-xml", "hello, I am not XML\n", refused(&["vm.xml", "XML"])),
        xml_case("empty", "", refused(&["vm.xml"])),
        xml_case("whitespace-only", "\n\n   \n", refused(&["vm.xml"])),
        xml_case("truncated", half, refused(&["vm.xml"])),
        xml_case(
            "malformed-unclosed",
            include_str!("../../fixtures/libvirt/bad/malformed.xml"),
            refused(&["vm.xml", "broken"]),
        ),
        xml_case("billion-laughs", hostile("billion-laughs.xml"), either(not_expanded)),
        xml_case("external-entity", hostile("external-entity.xml"), either(not_expanded)),
        xml_case("parameter-entity", hostile("parameter-entity.xml"), either(not_expanded)),
        xml_case("two-os", hostile("two-os.xml"), refused(&["<os>", "os"])),
        // Found by the libvirt_xml fuzz target: a BOM, and an attribute name starting with `%`.
        xml_case("fuzz-bom-bad-attribute", hostile("fuzz-bom-bad-attribute.xml"), refused(&["vm.xml", "%machine"])),
        xml_case("two-devices", two_devices, refused(&["<devices>", "devices"])),
        xml_case("no-devices", no_devices, refused(&["disks", "devices"])),
        xml_case("network-document", "<network><name>default</name></network>\n", refused(&["network"])),
        xml_case("xen-pv", GOOD.replace(">hvm<", ">xen<"), refused(&["hvm"])),
        xml_case("nul-byte", GOOD.replacen("<vcpu>", "<vcpu>\0", 1), refused(&["vm.xml"])),
        xml_case(
            "raw-escape-in-name",
            GOOD.replacen("nixos-unstable</name>", "\u{1b}[2J\u{1b}]0;pwn\u{7}</name>", 1),
            refused(&["vm.xml"]),
        ),
        xml_case("latin1-declared", latin1_declared, refused(&["vm.xml", "UTF-8"])),
        xml_case("utf16", utf16, refused(&["vm.xml", "UTF-8"])),
        xml_case(
            "utf16-declared-but-utf8",
            format!("<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n{GOOD}"),
            Expect::Either { check: None },
        ),
        xml_case(
            "duplicate-attribute",
            GOOD.replacen(
                "<target dev=\"vda\" bus=\"virtio\"/>",
                "<target dev=\"vda\" dev=\"vdb\" bus=\"virtio\"/>",
                1,
            ),
            refused(&["vm.xml", "dev"]),
        ),
        xml_case("mismatched-tag", GOOD.replacen("</devices>", "</device>", 1), refused(&["vm.xml"])),
        xml_case("unclosed-comment", GOOD.replacen("<devices>", "<devices><!-- never closed", 1), refused(&["vm.xml"])),
        xml_case("two-roots", format!("{GOOD}{GOOD}"), refused(&["vm.xml"])),
        xml_case("text-after-root", format!("{GOOD}trailing garbage\n"), refused(&["vm.xml"])),
        xml_case("huge-attribute", huge_attr, Expect::Either { check: None }),
        xml_case("deep-nesting", deep, Expect::Either { check: None }),
    ];
    v.extend(edit_cases());
    v
}

/// Files blankroot edits (or refuses) and the controls.
fn edit_cases() -> Vec<Case> {
    let mut v = vec![
        xml_case("crlf", GOOD.replace('\n', "\r\n"), either(fixed_crlf)),
        xml_case("crlf-uefi-serial-only", UEFI.replace('\n', "\r\n"), either(fixed_crlf)),
        xml_case("bom", format!("\u{feff}{GOOD}"), either(fixed_bom)),
        xml_case(
            "serial-too-long-target",
            GOOD.replacen("dev=\"vda\"", &format!("dev=\"vd{}\"", "a".repeat(200)), 1),
            Expect::Either { check: None },
        ),
        xml_case(
            "escape-in-target",
            GOOD.replacen("dev=\"vda\"", "dev=\"vd&#27;[2J\"", 1),
            Expect::Either { check: None },
        ),
        Case::bin("libvirt/is-a-directory", &["libvirt", "--xml", "vm.xml", "--yes"], refused(&["vm.xml"]))
            .dir("vm.xml"),
        Case::bin("libvirt/missing", &["libvirt", "--xml", "absent.xml", "--yes"], refused(&["absent.xml"])),
        Case::bin("libvirt/dangling-link", &["libvirt", "--xml", "vm.xml", "--yes"], refused(&["vm.xml"]))
            .link("vm.xml", "nowhere.xml"),
        Case::bin("libvirt/symlinked-xml", &["libvirt", "--xml", "vm.xml", "--yes"], either(link_kept_and_fixed))
            .put("real.xml", GOOD)
            .link("vm.xml", "real.xml")
            .after(link_kept),
        Case::bin("libvirt/no-yes-no-tty", &["libvirt", "--xml", "vm.xml"], refused(&["--yes"])).put("vm.xml", GOOD),
        Case::bin("libvirt/xml-and-domain", &["libvirt", "dom", "--xml", "vm.xml"], refused(&["--xml"]))
            .put("vm.xml", GOOD),
    ];
    // Controls: a BIOS domain is fixed (the harness sees the change); a fixed one is left alone.
    v.push(xml_case(
        "control/fix",
        GOOD,
        Expect::Accepted { stdout_has: vec!["<serial>vda</serial>".into()], changes: true },
    ));
    let fixed = blankroot::commands::libvirt::fix::fix(GOOD, "vm.xml", Default::default()).unwrap().text;
    v.push(xml_case(
        "control/already-fixed",
        fixed,
        Expect::Accepted { stdout_has: vec!["nothing to change".into()], changes: false },
    ));
    v
}
