//! `zfs diff` output, parsed exactly (OpenZFS `lib/libzfs/libzfs_diff.c`): with `-H` the fields
//! are TAB-separated; `-t` puts the inode change time first (`%10lld.%09lld`, so it may start
//! with spaces); then the change (`+` created, `-` removed, `M` modified, `R` renamed); `-F`
//! adds the file type (`B` block, `C` char, `/` directory, `>` door, `|` pipe, `@` symlink,
//! `P` event port, `=` socket, `F` file, `?`); then the path, and for `R` the new path; a
//! change of the link count is an `M` line ending in a `(+N)`/`(-N)` field. Paths begin with the
//! dataset's mount point and are escaped: every byte that is not printable ASCII, a space or a
//! backslash is written `\` + four octal digits (`\0040` is a space, `\0012` a newline), so a
//! path never holds a TAB or a newline. Names are bytes (not always UTF-8) and stay bytes.

/// What happened to a path since the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Removed,
    Modified,
    Renamed,
}

impl Change {
    pub fn symbol(self) -> char {
        match self {
            Change::Added => '+',
            Change::Removed => '-',
            Change::Modified => 'M',
            Change::Renamed => 'R',
        }
    }
}

/// `-F`'s file type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileType {
    Block,
    Char,
    Directory,
    Door,
    Pipe,
    Symlink,
    Port,
    Socket,
    File,
    Unknown,
}

impl FileType {
    fn from_byte(b: u8) -> Option<FileType> {
        Some(match b {
            b'B' => FileType::Block,
            b'C' => FileType::Char,
            b'/' => FileType::Directory,
            b'>' => FileType::Door,
            b'|' => FileType::Pipe,
            b'@' => FileType::Symlink,
            b'P' => FileType::Port,
            b'=' => FileType::Socket,
            b'F' => FileType::File,
            b'?' => FileType::Unknown,
            _ => return None,
        })
    }
}

/// One line, borrowing the line's bytes (paths still escaped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Inode change time (seconds, nanoseconds), with `-t`.
    pub ctime: Option<(i64, u32)>,
    pub change: Change,
    /// With `-F`.
    pub file_type: Option<FileType>,
    /// As zfs printed it (escaped).
    pub path: &'a [u8],
    /// The new name of a rename (escaped).
    pub new_path: Option<&'a [u8]>,
    /// A change of the link count (`M` lines only).
    pub link_delta: Option<i64>,
}

/// Why a line is not `zfs diff -H` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine(pub String);

/// `%10lld.%09lld` and its TAB at the start of `line`: (seconds, nanoseconds) and the length
/// taken, in one pass (a `memchr` costs more than these 20 bytes).
fn ctime(line: &[u8]) -> Option<((i64, u32), usize)> {
    let mut i = 0;
    while line.get(i) == Some(&b' ') {
        i += 1;
    }
    let start = i;
    let mut sec = 0i64;
    // At most 18 digits: no overflow to check.
    while i - start < 18 && i < line.len() && line[i].is_ascii_digit() {
        sec = sec * 10 + i64::from(line[i] - b'0');
        i += 1;
    }
    if i == start || line.len() < i + 11 || line[i] != b'.' || line[i + 10] != b'\t' {
        return None;
    }
    let mut nsec = 0u32;
    for &b in &line[i + 1..i + 10] {
        if !b.is_ascii_digit() {
            return None;
        }
        nsec = nsec * 10 + u32::from(b - b'0');
    }
    Some(((sec, nsec), i + 11))
}

fn link_delta(field: &[u8]) -> Option<i64> {
    let inner = field.strip_prefix(b"(")?.strip_suffix(b")")?;
    let s = std::str::from_utf8(inner).ok()?;
    if !(s.starts_with('+') || s.starts_with('-')) {
        return None;
    }
    s.parse().ok()
}

/// Parses one line of `zfs diff -H` (with or without `-t` and `-F`), without its newline.
///
/// One pass from the left over the short leading fields, then one `memchr` over the path for
/// a second path or a link count: a million lines take a few dozen milliseconds.
pub fn parse_line(line: &[u8]) -> Result<Entry<'_>, BadLine> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let bad = |why: &str| BadLine(format!("{why}: {:?}", String::from_utf8_lossy(line)));
    let mut rest = line;
    // -t: `%10lld.%09lld` and a TAB.
    let ctime = match ctime(rest) {
        Some((t, taken)) => {
            rest = &rest[taken..];
            Some(t)
        }
        None => None,
    };
    let change = match rest {
        [b'+', b'\t', ..] => Change::Added,
        [b'-', b'\t', ..] => Change::Removed,
        [b'M', b'\t', ..] => Change::Modified,
        [b'R', b'\t', ..] => Change::Renamed,
        _ => return Err(bad("no change type (+, -, M or R)")),
    };
    rest = &rest[2..];
    // -F: one type character and a TAB; a path always starts with `/`, so `/` followed by a
    // TAB is the directory type (a path `/` alone would end the line, or be followed by a
    // new path only in a rename).
    let mut file_type = None;
    if rest.len() >= 2 && rest[1] == b'\t' {
        let t = FileType::from_byte(rest[0]).ok_or_else(|| bad("an unknown file type"))?;
        let after = &rest[2..];
        // `R\t/\t/new` is a rename of `/` without a type; with a type there is one more field.
        let untyped_root_rename =
            change == Change::Renamed && rest[0] == b'/' && memchr::memchr(b'\t', after).is_none();
        if !untyped_root_rename {
            file_type = Some(t);
            rest = after;
        }
    }
    let (path, tail) = match memchr::memchr(b'\t', rest) {
        Some(tab) => (&rest[..tab], Some(&rest[tab + 1..])),
        None => (rest, None),
    };
    if path.is_empty() {
        return Err(bad("an empty path"));
    }
    let (new_path, link) = match (change, tail) {
        (Change::Renamed, Some(new)) if !new.is_empty() && memchr::memchr(b'\t', new).is_none() => (Some(new), None),
        (Change::Renamed, _) => return Err(bad("a rename needs exactly two paths")),
        (Change::Modified, Some(t)) => match link_delta(t) {
            Some(d) => (None, Some(d)),
            None => return Err(bad("the wrong number of fields")),
        },
        (_, Some(_)) => return Err(bad("the wrong number of fields")),
        (_, None) => (None, None),
    };
    Ok(Entry { ctime, change, file_type, path, new_path, link_delta: link })
}

/// The bytes a zfs-escaped path stands for (`\0040` → space). A backslash not followed by four
/// octal digits is kept as it is.
pub fn unescape(escaped: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(escaped.len());
    let mut i = 0;
    while i < escaped.len() {
        let b = escaped[i];
        if b == b'\\' && i + 5 <= escaped.len() {
            let d = &escaped[i + 1..i + 5];
            if d.iter().all(|c| (b'0'..=b'7').contains(c)) {
                let v = d.iter().fold(0u32, |a, c| a * 8 + u32::from(c - b'0'));
                if v <= 0xff {
                    out.push(v as u8);
                    i += 5;
                    continue;
                }
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

/// Escapes raw path bytes the way zfs does, so that configured paths compare with zfs's
/// output byte for byte.
pub fn escape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    for &c in raw {
        if c > b' ' && c != b'\\' && c < 0x7f {
            out.push(c);
        } else {
            out.extend_from_slice(format!("\\{c:04o}").as_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_line() {
        let e = parse_line(b"1700000000.123456789\t+\tF\t/etc/rollback-canary").unwrap();
        assert_eq!(e.ctime, Some((1_700_000_000, 123_456_789)));
        assert_eq!(
            (e.change, e.file_type, e.path),
            (Change::Added, Some(FileType::File), &b"/etc/rollback-canary"[..])
        );
        let e = parse_line(b"  12345678.000000001\tR\t/\t/a\t/b").unwrap();
        assert_eq!(e.ctime, Some((12_345_678, 1)));
        assert_eq!((e.file_type, e.path, e.new_path), (Some(FileType::Directory), &b"/a"[..], Some(&b"/b"[..])));
        let e = parse_line(b"M\t/\t/").unwrap();
        assert_eq!((e.file_type, e.path), (Some(FileType::Directory), &b"/"[..]));
        let e = parse_line(b"M\t/").unwrap();
        assert_eq!((e.file_type, e.path), (None, &b"/"[..]));
        let e = parse_line(b"1.000000000\tM\tF\t/x\t(+1)").unwrap();
        assert_eq!((e.path, e.link_delta), (&b"/x"[..], Some(1)));
        let e = parse_line(b"-\t@\t/etc/static").unwrap();
        assert_eq!((e.change, e.file_type), (Change::Removed, Some(FileType::Symlink)));
        assert!(parse_line(b"").is_err());
        assert!(parse_line(b"X\t/x").is_err());
        assert!(parse_line(b"+\tZ\t/x").is_err());
        assert!(parse_line(b"R\t/only-one").is_err());
        assert!(parse_line(b"+\tF\t").is_err());
        assert!(parse_line(b"1.5\t+\t/x").is_err(), "a time needs nine fraction digits");
    }

    #[test]
    fn escapes_round_trip_any_bytes() {
        assert_eq!(unescape(b"/a\\0040b\\0012c\\0134d\\0351"), b"/a b\nc\\d\xe9");
        assert_eq!(unescape(b"/odd\\09x\\"), b"/odd\\09x\\");
        for raw in [&b"/plain"[..], b"/sp ace", b"/new\nline", b"/tab\there", b"/back\\slash", b"/\xff\xfe", b"/\x7f"] {
            let e = escape(raw);
            assert!(!e.contains(&b'\t') && !e.contains(&b'\n') && !e.contains(&b' '));
            assert_eq!(unescape(&e), raw);
        }
        assert_eq!(escape(b"/a b"), b"/a\\0040b");
    }
}
