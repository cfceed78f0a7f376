//! Nix string and attribute-name escaping. Every value blankroot writes into a `.nix` file
//! passes through here, so a name holding `"`, `\` or `${` can neither end the string nor
//! start an antiquotation (Nix manual, "String literals": in double-quoted strings `\"`, `\\`,
//! `\$` and `\n`/`\r`/`\t` are escapes, and `${` starts interpolation).

/// A double-quoted Nix string literal whose value is exactly `s`.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An attribute name: bare when Nix reads it as an identifier, quoted otherwise.
pub fn attr(name: &str) -> String {
    let keyword = matches!(name, "if" | "then" | "else" | "assert" | "with" | "let" | "in" | "rec" | "inherit" | "or");
    let ident = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '\''));
    if ident && !keyword { name.to_string() } else { string(name) }
}

/// A list of strings on one line: `[ "a" "b" ]`.
pub(crate) fn string_list<S: AsRef<str>>(items: &[S]) -> String {
    if items.is_empty() {
        return "[ ]".to_string();
    }
    let inner: Vec<String> = items.iter().map(|s| string(s.as_ref())).collect();
    format!("[ {} ]", inner.join(" "))
}

/// Text inside a Nix `''…''` indented string: `''` and `${` are escaped as `'''` and `''${`.
pub(crate) fn indented_body(s: &str) -> String {
    s.replace("''", "'''").replace("${", "''${")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_quotes_backslashes_and_interpolation() {
        assert_eq!(string(r#"a"b\c${d}$e"#), r#""a\"b\\c\${d}$e""#);
        assert_eq!(string("x\ny"), r#""x\ny""#);
    }

    #[test]
    fn attrs_quote_when_needed() {
        assert_eq!(attr("cryptroot"), "cryptroot");
        assert_eq!(attr("a.b"), "\"a.b\"");
        assert_eq!(attr("in"), "\"in\"");
        assert_eq!(attr("1x"), "\"1x\"");
    }

    #[test]
    fn indented_strings_escape() {
        assert_eq!(indented_body("a''b${c}"), "a'''b''${c}");
    }
}
