//! What `blankroot libvirt` changes in a domain's XML, as small text edits on the original:
//! a `<serial>` for every virtio disk that lacks one and may carry one, and UEFI firmware
//! chosen the way current libvirt prefers (`<os firmware='efi'>`, firmware autoselection) with
//! secure boot off unless asked. Pure: text in, text and a list of changes out.
//!
//! libvirt facts relied on (checked against libvirt 9.0's qemu and test drivers): `<serial>`
//! is refused for `device='lun'` ("scsi-block 'lun' devices do not support the serial
//! property") and for `type='vhostuser'` disks ("serial is not supported with vhostuser
//! disk"); a target without `bus` whose `dev` starts with `vd` is a virtio disk; a virtio-blk
//! serial is at most 20 bytes (the guest sees no more); `<os firmware='efi'>` with
//! `<firmware><feature enabled='no' name='secure-boot'/></firmware>` makes libvirt pick a
//! non-secure-boot OVMF (without it, Debian's and Fedora's descriptors rank the
//! secure-boot-with-enrolled-keys build first, and systemd-boot's unsigned NixOS entries would
//! not boot).

use super::xml::{Doc, XmlError};
use crate::error::{Error, Result};
use serde::Serialize;

/// What to ask for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Turn UEFI secure boot on (enrolled keys) instead of off.
    pub secure_boot: bool,
}

/// One change, for people and for JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum Change {
    /// A serial added to a virtio disk (the guest sees /dev/disk/by-id/virtio-<serial>).
    Serial { target: String, serial: String },
    /// The firmware switched from BIOS to UEFI.
    Uefi { secure_boot: bool, removed_loader: Option<String> },
}

impl Change {
    pub(crate) fn describe(&self) -> String {
        match self {
            Change::Serial { target, serial } => {
                format!("virtio disk {target}: serial {serial} (in the guest: /dev/disk/by-id/virtio-{serial})")
            }
            Change::Uefi { secure_boot, removed_loader } => {
                let sb = if *secure_boot { "on" } else { "off" };
                match removed_loader {
                    Some(l) => format!("firmware: BIOS ({l}) -> UEFI, chosen by libvirt, secure boot {sb}"),
                    None => format!("firmware: BIOS -> UEFI, chosen by libvirt, secure boot {sb}"),
                }
            }
        }
    }
}

/// The result: the new text, what changed, and what was left alone with a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixed {
    pub name: Option<String>,
    pub text: String,
    pub changes: Vec<Change>,
    pub notes: Vec<String>,
}

/// A virtio-blk serial: what the guest sees of it (20 bytes) and what libvirt accepts.
const SERIAL_MAX: usize = 20;

fn xml_error(what: &str, e: XmlError) -> Error {
    Error::input(format!("{what} is not well-formed XML: line {}, column {}: {}", e.line, e.column, e.message))
        .hint("fix the file, or export the domain again with `virsh dumpxml DOMAIN > FILE`")
}

/// A text edit: replace `at` with `with`.
struct Edit {
    at: std::ops::Range<usize>,
    with: String,
}

fn apply(text: &str, mut edits: Vec<Edit>) -> String {
    edits.sort_by_key(|e| std::cmp::Reverse(e.at.start));
    let mut out = text.to_string();
    for e in edits {
        out.replace_range(e.at, &e.with);
    }
    out
}

/// Refuses a document where one of `names` appears more than once under `parent`: libvirt's
/// domain schema (docs/schemas/domaincommon.rng) allows each of them once, so an edit of the
/// first would leave the second to decide what the machine is.
fn once(doc: &super::xml::Doc, parent: usize, what: &str, names: &[&str]) -> Result<()> {
    for name in names {
        if doc.children(parent, name).nth(1).is_some() {
            return Err(Error::input(format!(
                "{what} has more than one <{name}> in <{}>; a libvirt domain has one",
                doc.elem(parent).name
            ))
            .hint("export the domain again with `virsh dumpxml DOMAIN > FILE`; libvirt does not accept this XML"));
        }
    }
    Ok(())
}

/// Computes the changes for the domain XML `text`; `what` names it in errors.
pub fn fix(text: &str, what: &str, opts: Options) -> Result<Fixed> {
    // quick-xml skips a UTF-8 byte order mark without counting it, so every position it
    // reports would be 3 bytes off: edit the text after the mark, and keep the mark.
    if let Some(body) = text.strip_prefix('\u{feff}') {
        let mut fixed = fix(body, what, opts)?;
        fixed.text.insert(0, '\u{feff}');
        return Ok(fixed);
    }
    let doc = super::xml::parse(text).map_err(|e| xml_error(what, e))?;
    let root = doc.root;
    if doc.elem(root).name != "domain" {
        return Err(Error::input(format!("{what} is a <{}> document, not a libvirt domain", doc.elem(root).name))
            .hint("give the XML of a domain (a virtual machine): `virsh dumpxml DOMAIN > FILE`"));
    }
    once(&doc, root, what, &["name", "uuid", "memory", "vcpu", "os", "features", "clock", "devices"])?;
    let name = doc.child(root, "name").map(|n| doc.elem(n).text.trim().to_string());
    let label = name.as_deref().map_or_else(|| what.to_string(), crate::error::excerpt);
    let disks: Vec<usize> = doc.child(root, "devices").map(|d| doc.children(d, "disk").collect()).unwrap_or_default();
    if disks.is_empty() {
        return Err(Error::input(format!("the domain {label} has no disks"))
            .hint("add the disk NixOS is to be installed on (virt-manager: Add Hardware > Storage; or `virsh attach-disk`), then run again"));
    }
    let os = doc.child(root, "os").ok_or_else(|| {
        Error::input(format!("the domain {label} has no <os> element")).hint("export it again with `virsh dumpxml`")
    })?;
    once(&doc, os, what, &["type", "loader", "nvram"])?;
    let os_type = doc.child(os, "type").map(|t| doc.elem(t).text.trim().to_string()).unwrap_or_default();
    if os_type != "hvm" {
        return Err(Error::input(format!(
            "the domain {label} is not a full virtual machine (its <os><type> is {os_type:?}, not \"hvm\")"
        ))
        .hint("UEFI firmware and virtio disk serials apply to QEMU/KVM virtual machines only"));
    }
    let mut edits = Vec::new();
    let mut changes = Vec::new();
    let mut notes = Vec::new();
    serials(&doc, &disks, &mut edits, &mut changes, &mut notes);
    firmware(&doc, os, opts, &mut edits, &mut changes, &mut notes)?;
    Ok(Fixed { name, text: apply(text, edits), changes, notes })
}

/// `<serial>` for each virtio disk without one that may carry one.
fn serials(doc: &Doc, disks: &[usize], edits: &mut Vec<Edit>, changes: &mut Vec<Change>, notes: &mut Vec<String>) {
    let mut taken: Vec<String> =
        disks.iter().filter_map(|&d| doc.child(d, "serial")).map(|s| doc.elem(s).text.trim().to_string()).collect();
    for &disk in disks {
        let Some(target) = doc.child(disk, "target") else { continue };
        let dev = doc.attr(target, "dev").unwrap_or_default().to_string();
        let virtio = match doc.attr(target, "bus") {
            Some(bus) => bus == "virtio",
            None => dev.starts_with("vd"),
        };
        if !virtio || doc.child(disk, "serial").is_some() {
            continue;
        }
        let device = doc.attr(disk, "device").unwrap_or("disk");
        if doc.attr(disk, "type") == Some("vhostuser") {
            notes.push(format!(
                "virtio disk {dev} is a vhost-user disk: libvirt allows it no serial, so the guest has no /dev/disk/by-id name for it"
            ));
            continue;
        }
        if device != "disk" {
            continue;
        }
        let serial = unique_serial(&dev, &taken);
        taken.push(serial.clone());
        edits.push(insert_after(doc, target, &[format!("<serial>{serial}</serial>")]));
        changes.push(Change::Serial { target: dev, serial });
    }
}

/// The serial for target `dev`: the name itself (readable, and stable while the disk keeps its
/// target), cut to what libvirt and the guest accept, made unique among the domain's serials.
fn unique_serial(dev: &str, taken: &[String]) -> String {
    let base: String =
        dev.chars().filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).take(SERIAL_MAX).collect();
    let base = if base.is_empty() { "disk".to_string() } else { base };
    let mut candidate = base.clone();
    let mut n = 2;
    while taken.contains(&candidate) {
        let suffix = format!("-{n}");
        let keep = SERIAL_MAX - suffix.len();
        candidate = format!("{}{suffix}", &base[..base.len().min(keep)]);
        n += 1;
    }
    candidate
}

/// An edit that puts `lines` after element `after`, each on a line of its own indented like
/// it; after a comment that ends the same line, if there is one. Inline when `after` does not
/// start its own line.
fn insert_after(doc: &Doc, after: usize, lines: &[String]) -> Edit {
    let end = doc.span(after).end;
    let Some(indent) = doc.indent(after) else {
        return Edit { at: end..end, with: lines.concat() };
    };
    let rest_of_line = &doc.text[end..doc.text[end..].find('\n').map_or(doc.text.len(), |i| end + i)];
    let trimmed = rest_of_line.trim();
    let at = if trimmed.is_empty() || (trimmed.starts_with("<!--") && trimmed.ends_with("-->")) {
        end + rest_of_line.len()
    } else {
        end
    };
    Edit { at: at..at, with: lines.iter().map(|l| format!("\n{indent}{l}")).collect() }
}

/// Whether `<os>` already selects UEFI: libvirt's autoselection (`firmware='efi'`), or a
/// manual UEFI loader (a pflash, or an OVMF/edk2/AAVMF image).
fn is_uefi(doc: &Doc, os: usize) -> bool {
    if doc.attr(os, "firmware") == Some("efi") {
        return true;
    }
    doc.child(os, "loader").is_some_and(|l| {
        let path = doc.elem(l).text.to_ascii_lowercase();
        doc.attr(l, "type") == Some("pflash") || ["ovmf", "edk2", "aavmf", "qemu_efi"].iter().any(|k| path.contains(k))
    })
}

fn firmware(
    doc: &Doc,
    os: usize,
    opts: Options,
    edits: &mut Vec<Edit>,
    changes: &mut Vec<Change>,
    notes: &mut Vec<String>,
) -> Result<()> {
    if is_uefi(doc, os) {
        let sb = doc
            .child(os, "firmware")
            .into_iter()
            .flat_map(|f| doc.children(f, "feature"))
            .find(|&f| doc.attr(f, "name") == Some("secure-boot"))
            .and_then(|f| doc.attr(f, "enabled"));
        let sb_loader = doc.child(os, "loader").is_some_and(|l| doc.attr(l, "secure") == Some("yes"));
        if !opts.secure_boot && (sb == Some("yes") || sb_loader) {
            notes.push("the firmware is UEFI with secure boot on: NixOS's systemd-boot entries are not signed, so turn it off (or set up signed boot, e.g. lanzaboote); blankroot leaves a UEFI choice as it is".to_string());
        }
        return Ok(());
    }
    let machine = doc.child(os, "type").and_then(|t| doc.attr(t, "machine")).unwrap_or_default();
    if opts.secure_boot && (machine == "pc" || machine.starts_with("pc-i440fx")) {
        return Err(Error::input(format!("secure boot needs a q35 machine; this domain's is {machine} (i440fx)"))
            .hint("leave out --secure-boot (NixOS's systemd-boot is not signed anyway), or make a q35 domain"));
    }
    let q = doc.quote(os);
    // <os firmware='efi'>: replace a firmware='bios', or add the attribute.
    match doc.elem(os).attrs.iter().find(|a| a.name == "firmware") {
        Some(a) => edits.push(Edit { at: a.value_at.clone(), with: "efi".into() }),
        None => {
            let tag_end = doc.elem(os).start.end - 1; // before '>'
            edits.push(Edit { at: tag_end..tag_end, with: format!(" firmware={q}efi{q}") });
        }
    }
    // A BIOS loader (SeaBIOS ROM) and any NVRAM belong to the old firmware.
    let mut removed_loader = None;
    for name in ["loader", "nvram"] {
        if let Some(e) = doc.child(os, name) {
            if name == "loader" {
                removed_loader = Some(doc.elem(e).text.trim().to_string());
            }
            edits.push(remove_line(doc, e));
        }
    }
    let enabled = if opts.secure_boot { "yes" } else { "no" };
    let mut features = vec![format!("<feature enabled={q}{enabled}{q} name={q}secure-boot{q}/>")];
    if opts.secure_boot {
        features.push(format!("<feature enabled={q}yes{q} name={q}enrolled-keys{q}/>"));
    }
    let typ = doc.child(os, "type");
    match doc.child(os, "firmware") {
        Some(fw) if doc.children(fw, "feature").any(|f| doc.attr(f, "name") == Some("secure-boot")) => {}
        Some(fw) => match doc.elem(fw).children.last() {
            Some(&last) => edits.push(insert_after(doc, last, &features)),
            None => edits.push(Edit { at: doc.span(fw), with: firmware_block(doc, fw, os, &features) }),
        },
        None => {
            let block = firmware_block(doc, typ.unwrap_or(os), os, &features);
            match typ {
                Some(t) => edits.push(insert_after(doc, t, &[block])),
                None => {
                    let at = doc.elem(os).start.end;
                    edits.push(Edit { at: at..at, with: block });
                }
            }
        }
    }
    if opts.secure_boot {
        notes.push("secure boot on: libvirt needs SMM for it (q35 machines; it turns SMM on itself), and NixOS needs signed boot entries (e.g. lanzaboote) to start".to_string());
    }
    changes.push(Change::Uefi { secure_boot: opts.secure_boot, removed_loader });
    Ok(())
}

/// `<firmware>` with `features`, laid out like element `like` (a sibling-to-be) inside `os`.
fn firmware_block(doc: &Doc, like: usize, os: usize, features: &[String]) -> String {
    match doc.indent(like) {
        Some(indent) => {
            let inner = format!("{indent}{}", step(doc, os));
            let lines: String = features.iter().map(|f| format!("\n{inner}{f}")).collect();
            format!("<firmware>{lines}\n{indent}</firmware>")
        }
        None => format!("<firmware>{}</firmware>", features.concat()),
    }
}

/// One level of the document's indentation, as its `<os>` children show it (two spaces if
/// they do not).
fn step(doc: &Doc, parent: usize) -> String {
    let outer = doc.indent(parent).unwrap_or_default();
    doc.elem(parent)
        .children
        .iter()
        .find_map(|&c| doc.indent(c).and_then(|i| i.strip_prefix(outer)).filter(|s| !s.is_empty()))
        .unwrap_or("  ")
        .to_string()
}

/// An edit that removes element `e`, with its line when it stands alone on it.
fn remove_line(doc: &Doc, e: usize) -> Edit {
    let span = doc.span(e);
    if doc.indent(e).is_some() {
        let line_start = doc.text[..span.start].rfind('\n').map_or(0, |i| i + 1);
        let rest = &doc.text[span.end..];
        if let Some(nl) = rest.find('\n')
            && rest[..nl].trim().is_empty()
        {
            return Edit { at: line_start..span.end + nl + 1, with: String::new() };
        }
    }
    Edit { at: span, with: String::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_readable_unique_and_short() {
        assert_eq!(unique_serial("vda", &[]), "vda");
        assert_eq!(unique_serial("vda", &["vda".into()]), "vda-2");
        assert_eq!(unique_serial("vda", &["vda".into(), "vda-2".into()]), "vda-3");
        assert_eq!(unique_serial("", &[]), "disk");
        let long = unique_serial("vdabcdefghijklmnopqrstuvwxyz", &[]);
        assert_eq!(long.len(), SERIAL_MAX);
        let again = unique_serial("vdabcdefghijklmnopqrstuvwxyz", std::slice::from_ref(&long));
        assert_eq!(again.len(), SERIAL_MAX);
        assert!(again.ends_with("-2") && again != long);
    }

    #[test]
    fn a_one_line_document_is_edited_inline() {
        let text = "<domain><name>x</name><os><type>hvm</type></os><devices><disk type='file'><target dev='vda' bus='virtio'/></disk></devices></domain>";
        let f = fix(text, "x.xml", Options::default()).unwrap();
        assert_eq!(
            f.text,
            "<domain><name>x</name><os firmware='efi'><type>hvm</type><firmware><feature enabled='no' name='secure-boot'/></firmware></os><devices><disk type='file'><target dev='vda' bus='virtio'/><serial>vda</serial></disk></devices></domain>"
        );
        assert_eq!(fix(&f.text, "x.xml", Options::default()).unwrap().changes, vec![]);
    }

    #[test]
    fn firmware_bios_is_replaced_and_an_existing_firmware_element_is_completed() {
        let text = "<domain>\n  <os firmware=\"bios\">\n    <type>hvm</type>\n    <firmware>\n      <feature enabled=\"no\" name=\"enrolled-keys\"/>\n    </firmware>\n  </os>\n  <devices>\n    <disk><target dev='sda' bus='sata'/></disk>\n  </devices>\n</domain>\n";
        let f = fix(text, "x.xml", Options::default()).unwrap();
        assert_eq!(
            f.text,
            "<domain>\n  <os firmware=\"efi\">\n    <type>hvm</type>\n    <firmware>\n      <feature enabled=\"no\" name=\"enrolled-keys\"/>\n      <feature enabled=\"no\" name=\"secure-boot\"/>\n    </firmware>\n  </os>\n  <devices>\n    <disk><target dev='sda' bus='sata'/></disk>\n  </devices>\n</domain>\n"
        );
    }
}
