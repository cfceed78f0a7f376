//! Reading `zfs diff` output: line by line in one thread (for `--all`, whose output keeps the
//! order), or in blocks of whole lines tallied on every core and merged. Memory is bounded
//! whatever the input: blocks of 1 MiB, and no line longer than [`MAX_LINE`] (a longer one is
//! an error naming its number, never a bigger buffer). Every line must be `zfs diff` output:
//! the first that is not stops the reading with its line and column, and an input without a
//! single line is an error too (an empty file is no proof that nothing changed).

use super::{Report, Rules, Tally, Tree};
use crate::zdiff::BadLine;
use std::sync::atomic::{AtomicBool, Ordering};

/// The longest line `zfs diff -FHt` can print: a rename's two paths, each the mount point and
/// a name below it (each under MAXPATHLEN, 4096 bytes, `fobjname[MAXPATHLEN]` in OpenZFS
/// lib/libzfs/libzfs_diff.c), every byte escaped as `\0NNN` (5 bytes, `stream_bytes` there):
/// 2 × 2 × 4096 × 5 = 81,920 bytes, plus the time, change and type fields. Rounded up.
pub const MAX_LINE: usize = 96 << 10;

/// Blocks handed to the tallying threads.
const BLOCK: usize = 1 << 20;

/// Why reading stopped.
#[derive(Debug)]
pub enum ReadError {
    Io(std::io::Error),
    /// Line `line` (1-based) is longer than [`MAX_LINE`].
    TooLong {
        line: u64,
    },
    /// Line `line` is not `zfs diff -H` output; `text` is the line (lossy UTF-8, whole: callers
    /// cut it with `error::excerpt`).
    Bad {
        line: u64,
        bad: BadLine,
        text: String,
    },
    /// Not a single line.
    Empty,
    /// The line's consumer stopped (it could not write its output).
    Stopped(crate::error::Error),
}

impl ReadError {
    fn bad(line: u64, bad: BadLine, text: &[u8]) -> ReadError {
        // At most an excerpt's worth of the line is kept.
        let text = String::from_utf8_lossy(text.get(..400).unwrap_or(text)).into_owned();
        ReadError::Bad { line, bad, text }
    }
}

/// Calls `f` with every line of `r` (without its newline) and its number, reading 1 MiB at a
/// time: memory stays at the buffer whatever the input's length. Returns the number of lines.
pub fn each_line(
    mut r: impl std::io::Read,
    mut f: impl FnMut(u64, &[u8]) -> Result<(), ReadError>,
) -> Result<u64, ReadError> {
    let mut buf = vec![0u8; BLOCK];
    let mut filled = 0;
    let mut line = 0u64;
    loop {
        let n = match r.read(buf.get_mut(filled..).unwrap_or_default()) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadError::Io(e)),
        };
        let end = filled + n;
        let data = buf.get(..end).unwrap_or_default();
        if n == 0 {
            if !data.is_empty() {
                line += 1;
                f(line, data)?;
            }
            return if line == 0 { Err(ReadError::Empty) } else { Ok(line) };
        }
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', data.get(filled..).unwrap_or_default()) {
            let nl = filled + nl;
            line += 1;
            let l = data.get(start..nl).unwrap_or_default();
            if l.len() > MAX_LINE {
                return Err(ReadError::TooLong { line });
            }
            f(line, l)?;
            start = nl + 1;
        }
        if end - start > MAX_LINE {
            return Err(ReadError::TooLong { line: line + 1 });
        }
        buf.copy_within(start..end, 0);
        filled = end - start;
    }
}

/// The first bad line any worker met (the lowest number).
type FirstBad = std::sync::Mutex<Option<ReadError>>;

fn keep_first(first: &FirstBad, e: ReadError) {
    let num = |e: &ReadError| match e {
        ReadError::Bad { line, .. } | ReadError::TooLong { line } => *line,
        _ => 0,
    };
    if let Ok(mut f) = first.lock()
        && f.as_ref().is_none_or(|old| num(&e) < num(old))
    {
        *f = Some(e);
    }
}

/// Tallies one block whose first line is number `first`; a bad line goes to `bad`.
fn tally_block(t: &mut Tally, first: u64, block: &[u8], bad: &FirstBad, stop: &AtomicBool) {
    let block = block.strip_suffix(b"\n").unwrap_or(block);
    for (i, l) in block.split(|b| *b == b'\n').enumerate() {
        let line = first + i as u64;
        let err = if l.len() > MAX_LINE {
            ReadError::TooLong { line }
        } else {
            match t.add_line(l) {
                Ok(_) => continue,
                Err(b) => ReadError::bad(line, b, l),
            }
        };
        stop.store(true, Ordering::Relaxed);
        keep_first(bad, err);
        return;
    }
}

/// Reads all of `r` into a report on `threads` threads: a reader cuts the input into 1 MiB
/// blocks of whole lines, each worker tallies the blocks it takes, and the tallies are merged.
/// At most a few blocks are in flight, so memory stays a few MiB whatever the input's size.
/// (One thread ran a million lines at 1.3 times grep's time; two, under it.) The first bad
/// line is the error: the reader stops at the first one found, and every block before it has
/// been tallied by then, so the lowest line number found is the input's first bad line.
pub fn tally_parallel<'r>(
    r: impl std::io::Read + Send,
    rules: &'r Rules,
    snapshot: &str,
    tree: Option<&'r dyn Tree>,
    threads: usize,
) -> Result<Report, ReadError> {
    use std::sync::{Mutex, mpsc};
    let threads = threads.max(1);
    let (tx, rx) = mpsc::sync_channel::<(u64, Vec<u8>)>(threads * 2);
    let rx = Mutex::new(rx);
    let bad: FirstBad = Mutex::new(None);
    let stop = AtomicBool::new(false);
    let (report, read) = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (rx, bad, stop) = (&rx, &bad, &stop);
                s.spawn(move || {
                    let mut t = Tally::new(rules, snapshot, tree);
                    while let Ok(Ok((first, block))) = rx.lock().map(|r| r.recv()) {
                        tally_block(&mut t, first, &block, bad, stop);
                    }
                    t
                })
            })
            .collect();
        let read = blocks(r, &stop, |first, block| tx.send((first, block)).is_ok());
        drop(tx);
        let mut all = Tally::new(rules, snapshot, tree);
        for w in workers {
            all.merge(w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        (all.finish(), read)
    });
    if let Some(e) = bad.into_inner().ok().flatten() {
        return Err(e);
    }
    read.map(|_| report)
}

/// Cuts `r` into blocks of whole lines of about 1 MiB and hands each, with the number of its
/// first line, to `send` until it returns false or `stop` is set. Returns the number of lines.
fn blocks(
    mut r: impl std::io::Read,
    stop: &AtomicBool,
    mut send: impl FnMut(u64, Vec<u8>) -> bool,
) -> Result<u64, ReadError> {
    let mut buf: Vec<u8> = vec![0; BLOCK];
    let mut filled = 0;
    let mut line = 1u64; // the number of the first line in `buf`
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(line - 1);
        }
        let n = match r.read(buf.get_mut(filled..).unwrap_or_default()) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadError::Io(e)),
        };
        filled += n;
        if n == 0 {
            if filled == 0 {
                return if line == 1 { Err(ReadError::Empty) } else { Ok(line - 1) };
            }
            let last = buf.get(..filled).unwrap_or_default();
            let count = memchr::memchr_iter(b'\n', last).count() as u64 + u64::from(!last.ends_with(b"\n"));
            buf.truncate(filled);
            send(line, buf);
            return Ok(line - 1 + count);
        }
        if filled < BLOCK {
            continue;
        }
        let data = buf.get(..filled).unwrap_or_default();
        let Some(nl) = memchr::memrchr(b'\n', data) else {
            return Err(ReadError::TooLong { line }); // a whole block without a newline
        };
        let whole = data.get(..=nl).unwrap_or_default();
        let count = memchr::memchr_iter(b'\n', whole).count() as u64;
        let carry = filled - nl - 1;
        let mut next = vec![0u8; BLOCK];
        if carry <= MAX_LINE {
            next.get_mut(..carry).unwrap_or_default().copy_from_slice(data.get(nl + 1..).unwrap_or_default());
        }
        buf.truncate(nl + 1);
        // (The lines before a too long one are sent first: one of them may be bad, and the
        // first bad line is the error.)
        if !send(line, std::mem::replace(&mut buf, next)) {
            return Ok(line - 1 + count);
        }
        line += count;
        if carry > MAX_LINE {
            return Err(ReadError::TooLong { line });
        }
        filled = carry;
    }
}
