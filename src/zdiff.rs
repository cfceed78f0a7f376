//! `zfs diff` output, parsed exactly (OpenZFS `lib/libzfs/libzfs_diff.c`): with `-H` the fields
//! are TAB-separated; `-t` puts the inode change time first (`%10lld.%09lld`, so it may start
//! with spaces); then the change (`+` created, `-` removed, `M` modified, `R` renamed); `-F`
//! adds the file type (`B` block, `C` char, `/` directory, `>` door, `|` pipe, `@` symlink,
//! `P` event port, `=` socket, `F` file, `?`); then the path, and for `R` the new path; a
//! change of the link count is an `M` line ending in a `(+N)`/`(-N)` field. Paths begin with the
//! dataset's mount point and are escaped: every byte that is not printable ASCII, a space or a
//! backslash is written `\` + four octal digits (`\0040` is a space, `\0012` a newline), so a
//! path never holds a TAB or a newline (`stream_bytes` in libzfs_diff.c: `c > ' ' && c != '\\'
//! && c < '\177'` is printed as is, anything else as `"\\%04hho"`). Names are bytes (not always
//! UTF-8) and stay bytes. So a path in zfs's output holds printable ASCII only, and each
//! backslash starts an escape: anything else (a raw control byte, a terminal escape, a lone
//! backslash) is not zfs output and is refused, which also keeps it off the terminal.

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
    pub(crate) fn symbol(self) -> char {
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

/// Why a line is not `zfs diff -H` output: the column (1-based, in bytes) where it stops
/// being that, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub col: usize,
    pub why: String,
}

impl std::fmt::Display for BadLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "column {}: {}", self.col, self.why)
    }
}

/// The first byte of `path` that zfs would have escaped (offset, and what it is), if any:
/// zfs prints only printable ASCII, and a backslash only to start `\NNNN`.
fn unescaped_byte(path: &[u8]) -> Option<(usize, &'static str)> {
    let mut i = 0;
    while let Some(&b) = path.get(i) {
        if b == b'\\' {
            // `%04hho` of a byte: `0` and three octal digits, at most 0377.
            let escape = matches!(path.get(i + 1..i + 5), Some([b'0', b'0'..=b'3', b'0'..=b'7', b'0'..=b'7']));
            if !escape {
                return Some((i, "a backslash that does not start an escape \\0NNN (zfs writes one as \\0134)"));
            }
            i += 5;
        } else if b > b' ' && b < 0x7f {
            i += 1;
        } else {
            return Some((i, "a raw byte that zfs writes escaped (a control character, space or non-ASCII byte)"));
        }
    }
    None
}

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
    while i - start < 18
        && let Some(d) = line.get(i).filter(|d| d.is_ascii_digit())
    {
        sec = sec * 10 + i64::from(d - b'0');
        i += 1;
    }
    if i == start || line.get(i) != Some(&b'.') || line.get(i + 10) != Some(&b'\t') {
        return None;
    }
    let mut nsec = 0u32;
    for &b in line.get(i + 1..i + 10)? {
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
/// a second path or a link count, and one over each path's bytes: a million lines take a few
/// dozen milliseconds.
pub fn parse_line(line: &[u8]) -> Result<Entry<'_>, BadLine> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // The column of `at`, a suffix of `line`.
    let bad = |at: &[u8], why: &str| BadLine { col: line.len() - at.len() + 1, why: why.to_string() };
    let mut rest = line;
    // -t: `%10lld.%09lld` and a TAB.
    let ctime = match ctime(rest) {
        Some((t, taken)) => {
            rest = rest.get(taken..).unwrap_or_default();
            Some(t)
        }
        None => None,
    };
    let change = match rest {
        [b'+', b'\t', ..] => Change::Added,
        [b'-', b'\t', ..] => Change::Removed,
        [b'M', b'\t', ..] => Change::Modified,
        [b'R', b'\t', ..] => Change::Renamed,
        _ => return Err(bad(rest, "no change type (+, -, M or R, then a TAB)")),
    };
    rest = rest.get(2..).unwrap_or_default();
    // -F: one type character and a TAB; a path always starts with `/`, so `/` followed by a
    // TAB is the directory type (a path `/` alone would end the line, or be followed by a
    // new path only in a rename).
    let mut file_type = None;
    if let [t, b'\t', after @ ..] = rest {
        let ty = FileType::from_byte(*t).ok_or_else(|| bad(rest, "an unknown file type"))?;
        // `R\t/\t/new` is a rename of `/` without a type; with a type there is one more field.
        let untyped_root_rename = change == Change::Renamed && *t == b'/' && memchr::memchr(b'\t', after).is_none();
        if !untyped_root_rename {
            file_type = Some(ty);
            rest = after;
        }
    }
    let (path, tail) = match memchr::memchr(b'\t', rest) {
        Some(tab) => (rest.get(..tab).unwrap_or_default(), rest.get(tab + 1..)),
        None => (rest, None),
    };
    if !path.starts_with(b"/") {
        return Err(bad(rest, "no path (zfs writes absolute paths)"));
    }
    if let Some((at, why)) = unescaped_byte(path) {
        return Err(bad(rest.get(at..).unwrap_or_default(), why));
    }
    let (new_path, link) = match (change, tail) {
        (Change::Renamed, Some(new)) if new.starts_with(b"/") && memchr::memchr(b'\t', new).is_none() => {
            if let Some((at, why)) = unescaped_byte(new) {
                return Err(bad(new.get(at..).unwrap_or_default(), why));
            }
            (Some(new), None)
        }
        (Change::Renamed, _) => return Err(bad(tail.unwrap_or_default(), "a rename needs exactly two paths")),
        (Change::Modified, Some(t)) => match link_delta(t) {
            Some(d) => (None, Some(d)),
            None => return Err(bad(t, "the wrong number of fields (a link count is `(+N)` or `(-N)`)")),
        },
        (_, Some(t)) => return Err(bad(t, "the wrong number of fields")),
        (_, None) => (None, None),
    };
    Ok(Entry { ctime, change, file_type, path, new_path, link_delta: link })
}

/// The bytes a zfs-escaped path stands for (`\0040` → space). A backslash not followed by four
/// octal digits is kept as it is.
pub fn unescape(escaped: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(escaped.len());
    let mut i = 0;
    while let Some(&b) = escaped.get(i) {
        if b == b'\\'
            && let Some(d) = escaped.get(i + 1..i + 5)
            && d.iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = d.iter().fold(0u32, |a, c| a * 8 + u32::from(c - b'0'));
            if let Ok(v) = u8::try_from(v) {
                out.push(v);
                i += 5;
                continue;
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
        assert!(parse_line(b"+\tF\t/x\r").is_ok(), "a CRLF line");
    }

    #[test]
    fn only_what_zfs_prints_is_a_path() {
        // Bytes zfs escapes never appear raw; a backslash always starts `\0NNN` (at most 0377).
        for (line, col) in [
            (&b"+\tF\t/a\x1b[2Jb"[..], 7),
            (b"+\tF\t/a b", 7),
            (b"+\tF\t/caf\xc3\xa9", 9),
            (b"+\tF\t/a\x7f", 7),
            (b"+\tF\t/a\\", 7),
            (b"+\tF\t/a\\0400", 7),
            (b"+\tF\t/a\\12", 7),
            (b"+\tF\t/a\\x41", 7),
            (b"+\tF\trelative", 5),
            (b"R\tF\t/a\t/b\x00c", 10),
            (b"R\tF\t/a\tb", 8),
            (b"1.000000000\tM\tF\t/x\t(+1", 20),
        ] {
            let e = parse_line(line).expect_err(&String::from_utf8_lossy(line));
            assert_eq!(e.col, col, "{:?}: {e}", String::from_utf8_lossy(line));
        }
        let e = parse_line(b"+\tF\t/a\\0033[2J\\0377\\0000").unwrap();
        assert_eq!(unescape(e.path), b"/a\x1b[2J\xff\0", "escapes stand for any byte");
        assert!(parse_line(b"-\t").is_err() && parse_line(b"\t\t\t").is_err() && parse_line(b"\xff\xfe").is_err());
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
