//! [`Secret`]: a passphrase or password held in memory only as long as it is needed.
//!
//! It never prints (Debug and Display show `<redacted>`), is deliberately not `Serialize`, and
//! overwrites its buffer with zeros when dropped. The zeroing covers the buffer this value owns;
//! it cannot reach copies made before the `String` was handed over (a `read_line` that grew and
//! reallocated, a terminal's buffers) or copies a consumer makes from [`Secret::expose`].

use std::fmt;
use std::mem::MaybeUninit;
use std::sync::atomic::{Ordering, compiler_fence};

/// A passphrase or password. Read it with [`Secret::expose`], only where it is used.
pub struct Secret(String);

impl Secret {
    /// Takes ownership of `value`; its buffer is zeroed when the `Secret` is dropped.
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    /// The secret text. Keep the borrow short and do not copy it into other `String`s.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The secret followed by a newline (a file's last line), as a new [`Secret`], built in a
    /// buffer of its final size so that no copy is left behind by a reallocation.
    pub(crate) fn with_newline(&self) -> Secret {
        let mut s = String::with_capacity(self.0.len() + 1);
        s.push_str(&self.0);
        s.push('\n');
        Secret(s)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret::new(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        wipe(&mut bytes);
    }
}

/// Empties `buf` and overwrites its whole allocation (length and spare capacity) with zeros,
/// using volatile writes so the compiler cannot drop them as dead stores before the free.
fn wipe(buf: &mut Vec<u8>) {
    buf.clear();
    for byte in buf.spare_capacity_mut() {
        // SAFETY: `byte` is a valid, aligned, exclusive reference into the Vec's allocation.
        unsafe { std::ptr::write_volatile(byte, MaybeUninit::new(0)) };
    }
    compiler_fence(Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_are_redacted() {
        let s = Secret::new("hunter2".to_string());
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(format!("{s}"), "<redacted>");
        assert_eq!(format!("{:#?}", Some(&s)), "Some(\n    <redacted>,\n)");
        assert!(!format!("{s:?}{s}").contains("hunter2"));
    }

    #[test]
    fn redacted_inside_derived_debug() {
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Login {
            user: String,
            password: Secret,
        }
        let l = Login { user: "alice".into(), password: Secret::from("s3cret pass".to_string()) };
        let shown = format!("{l:?}");
        assert!(shown.contains("alice"));
        assert!(shown.contains("<redacted>"));
        assert!(!shown.contains("s3cret"));
    }

    #[test]
    fn expose_returns_the_text() {
        let s = Secret::new("pässwörd with spaces ✓".to_string());
        assert_eq!(s.expose(), "pässwörd with spaces ✓");
        assert!(!s.is_empty());
        assert!(Secret::new(String::new()).is_empty());
    }

    #[test]
    fn wipe_zeroes_length_and_spare_capacity() {
        let mut v = Vec::with_capacity(64);
        v.extend_from_slice(b"correct horse battery staple");
        let len = v.len();
        let cap = v.capacity();
        let ptr = v.as_ptr();
        wipe(&mut v);
        assert!(v.is_empty());
        assert_eq!(v.capacity(), cap, "wipe must not reallocate");
        assert_eq!(v.as_ptr(), ptr);
        // Every byte of the allocation was written by `wipe`, so reading it back is sound.
        let all: Vec<u8> = v.spare_capacity_mut()[..cap].iter().map(|b| unsafe { b.assume_init() }).collect();
        assert!(all.iter().all(|&b| b == 0), "{:?}", &all[..len]);
    }

    #[test]
    fn wipe_handles_unallocated_buffer() {
        let mut v = Vec::new();
        wipe(&mut v);
        assert!(v.is_empty());
    }

    #[test]
    fn drop_of_empty_and_large_secrets() {
        drop(Secret::new(String::new()));
        drop(Secret::new("x".repeat(10_000)));
    }
}
