//! A lossless view of an XML document: every element with the byte ranges of its tags and
//! attribute values in the original text, so that a change is a small text edit and everything
//! else (element order, unknown elements, comments, quoting, spacing) stays exactly as written.
//! Tokenising is quick-xml's; well-formedness beyond what it checks (one root element, every
//! element closed, unique attributes, nothing but white space and comments outside the root) is
//! checked here.

use quick_xml::events::Event;
use std::ops::Range;

/// An element as written.
#[derive(Debug, Clone)]
pub struct Elem {
    /// The qualified name (`disk`, `libosinfo:os`).
    pub name: String,
    /// The start tag, or the whole empty-element tag (`<x/>`).
    pub start: Range<usize>,
    /// The end tag; `None` for an empty-element tag.
    pub end: Option<Range<usize>>,
    pub attrs: Vec<Attr>,
    pub children: Vec<usize>,
    /// Its direct text, entities resolved (for `<serial>` and `<loader>`).
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct Attr {
    pub name: String,
    /// The value, entities resolved.
    pub value: String,
    /// Where the raw value lies in the text (inside the quotes).
    pub value_at: Range<usize>,
    pub quote: char,
}

/// A parsed document over its text.
#[derive(Debug)]
pub struct Doc<'a> {
    pub text: &'a str,
    pub elems: Vec<Elem>,
    pub root: usize,
}

/// Why the text is not well-formed XML, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

fn error_at(text: &str, at: usize, message: impl Into<String>) -> XmlError {
    let at = at.min(text.len());
    let before = &text[..text.floor_char_boundary(at)];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    XmlError { line, column, message: message.into() }
}

fn resolve_predefined(name: &str) -> Option<&'static str> {
    Some(match name {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        _ => return None,
    })
}

/// Resolves the predefined and character references of raw attribute or text content.
fn unescape(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let tail = &rest[amp + 1..];
        let semi = tail.find(';').ok_or_else(|| format!("unterminated reference in {raw:?}"))?;
        out.push_str(&reference(&tail[..semi])?);
        rest = &tail[semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn reference(name: &str) -> Result<String, String> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix('x') {
            Some(hex) => u32::from_str_radix(hex, 16),
            None => num.parse(),
        };
        return code
            .ok()
            .and_then(char::from_u32)
            .filter(|c| is_xml_char(*c))
            .map(String::from)
            .ok_or_else(|| format!("&{name}; is not a character"));
    }
    resolve_predefined(name).map(String::from).ok_or_else(|| format!("unknown entity &{name};"))
}

/// XML 1.0's `Char` production (section 2.2): what a document may contain, written or as a
/// character reference. NUL and the other C0 controls but tab, newline and carriage return
/// (the terminal's escape among them) are not XML; libxml2, and so libvirt, refuses them.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// The offset of `part` (a slice borrowed from `text`) in `text`.
fn offset_in(text: &str, part: &str) -> usize {
    part.as_ptr() as usize - text.as_ptr() as usize
}

/// The attributes of the tag that starts at `before`, each with where its value lies in `text`.
fn attributes(text: &str, tag: &quick_xml::events::BytesStart, before: usize) -> Result<Vec<Attr>, XmlError> {
    let mut attrs = Vec::new();
    for a in tag.attributes().with_checks(true) {
        let a = a.map_err(|e| error_at(text, before, e.to_string()))?;
        let raw: &str = match &a.value {
            std::borrow::Cow::Borrowed(s) => s,
            std::borrow::Cow::Owned(_) => {
                return Err(error_at(text, before, "an attribute value blankroot cannot place"));
            }
        };
        let at = offset_in(text, raw);
        let value = unescape(raw).map_err(|m| error_at(text, at, m))?;
        let quote = text[..at].chars().next_back().unwrap_or('\'');
        attrs.push(Attr { name: a.key.as_ref().to_string(), value, value_at: at..at + raw.len(), quote });
    }
    Ok(attrs)
}

/// Parses `text`. DTDs are refused (libvirt never writes one, and entities declared in one
/// would change what the text means).
pub fn parse(text: &str) -> Result<Doc<'_>, XmlError> {
    if let Some((at, c)) = text.char_indices().find(|(_, c)| !is_xml_char(*c)) {
        return Err(error_at(text, at, format!("the character {c:?} is not allowed in XML")));
    }
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut elems: Vec<Elem> = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    let mut root: Option<usize> = None;
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader.read_event().map_err(|e| error_at(text, reader.error_position() as usize, e.to_string()))?;
        let after = reader.buffer_position() as usize;
        match event {
            Event::Start(ref tag) | Event::Empty(ref tag) => {
                let empty = matches!(event, Event::Empty(_));
                if stack.is_empty() && root.is_some() {
                    return Err(error_at(text, before, "a second root element; a document has exactly one"));
                }
                let attrs = attributes(text, tag, before)?;
                let id = elems.len();
                elems.push(Elem {
                    name: tag.name().as_ref().to_string(),
                    start: before..after,
                    end: None,
                    attrs,
                    children: Vec::new(),
                    text: String::new(),
                });
                match stack.last() {
                    Some(&parent) => elems[parent].children.push(id),
                    None => root = Some(id),
                }
                if !empty {
                    stack.push(id);
                }
            }
            Event::End(_) => {
                let id = stack.pop().ok_or_else(|| error_at(text, before, "an end tag without its start tag"))?;
                elems[id].end = Some(before..after);
            }
            Event::Text(t) => {
                let raw: &str = &t;
                match stack.last() {
                    Some(&id) => elems[id].text.push_str(raw),
                    None if !raw.trim().is_empty() => {
                        return Err(error_at(text, before, "text outside the root element"));
                    }
                    None => {}
                }
            }
            Event::GeneralRef(r) => {
                let name: &str = &r;
                let value = reference(name).map_err(|m| error_at(text, before, m))?;
                match stack.last() {
                    Some(&id) => elems[id].text.push_str(&value),
                    None => return Err(error_at(text, before, "a reference outside the root element")),
                }
            }
            Event::CData(c) => {
                if let Some(&id) = stack.last() {
                    elems[id].text.push_str(&c);
                } else {
                    return Err(error_at(text, before, "CDATA outside the root element"));
                }
            }
            Event::DocType(_) => {
                return Err(error_at(text, before, "a DOCTYPE (libvirt documents have none)"));
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(&open) = stack.last() {
        return Err(error_at(text, elems[open].start.start, format!("<{}> is never closed", elems[open].name)));
    }
    let root = root.ok_or_else(|| error_at(text, text.len(), "no root element: the document is empty"))?;
    Ok(Doc { text, elems, root })
}

impl Doc<'_> {
    pub(crate) fn elem(&self, id: usize) -> &Elem {
        &self.elems[id]
    }
    /// The value of attribute `name` of element `id`.
    pub fn attr(&self, id: usize, name: &str) -> Option<&str> {
        self.elems[id].attrs.iter().find(|a| a.name == name).map(|a| a.value.as_str())
    }
    /// The children of `id` called `name`.
    pub fn children<'s>(&'s self, id: usize, name: &'s str) -> impl Iterator<Item = usize> + 's {
        self.elems[id].children.iter().copied().filter(move |&c| self.elems[c].name == name)
    }
    pub fn child(&self, id: usize, name: &str) -> Option<usize> {
        self.children(id, name).next()
    }
    /// The whole element, start tag to end tag.
    pub(crate) fn span(&self, id: usize) -> Range<usize> {
        let e = &self.elems[id];
        e.start.start..e.end.as_ref().map_or(e.start.end, |r| r.end)
    }
    /// The white space that indents the line the element starts on, if it starts its line.
    pub(crate) fn indent(&self, id: usize) -> Option<&str> {
        let at = self.elems[id].start.start;
        let line_start = self.text[..at].rfind('\n').map_or(0, |i| i + 1);
        let lead = &self.text[line_start..at];
        lead.chars().all(|c| c == ' ' || c == '\t').then_some(lead)
    }
    /// The quote character the element's attributes use (`'` when it has none).
    pub fn quote(&self, id: usize) -> char {
        self.elems[id].attrs.first().map_or('\'', |a| a.quote)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_know_where_they_are() {
        let text = "<?xml version='1.0'?>\n<!-- c -->\n<a x=\"1 &amp; 2\">\n  <b/>\n  <c y='z'>t&lt;u</c>\n</a>\n";
        let d = parse(text).unwrap();
        let a = d.root;
        assert_eq!(d.elem(a).name, "a");
        assert_eq!(d.attr(a, "x"), Some("1 & 2"));
        assert_eq!(&text[d.elem(a).attrs[0].value_at.clone()], "1 &amp; 2");
        assert_eq!(d.elem(a).attrs[0].quote, '"');
        let b = d.child(a, "b").unwrap();
        assert_eq!(&text[d.span(b)], "<b/>");
        assert_eq!(d.indent(b), Some("  "));
        let c = d.child(a, "c").unwrap();
        assert_eq!(&text[d.span(c)], "<c y='z'>t&lt;u</c>");
        assert_eq!(d.elem(c).text, "t<u");
        assert_eq!(d.quote(c), '\'');
    }

    #[test]
    fn malformed_documents_are_refused_with_a_position() {
        let e = parse("<a>\n  <b>\n</a>\n").unwrap_err();
        assert_eq!(e.line, 3, "{e:?}");
        assert!(e.message.contains("b"), "{e:?}");
        assert!(parse("<a/><b/>").unwrap_err().message.contains("second root"));
        assert!(parse("<a>").unwrap_err().message.contains("never closed"));
        assert!(parse("").unwrap_err().message.contains("empty"));
        assert!(parse("<a x='1' x='2'/>").is_err());
        assert!(parse("<a>&nbsp;</a>").unwrap_err().message.contains("nbsp"));
        assert!(parse("<!DOCTYPE a><a/>").unwrap_err().message.contains("DOCTYPE"));
        assert!(parse("hello <a/>").is_err());
    }
}
