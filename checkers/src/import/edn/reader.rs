//! The EDN grammar as Jepsen, Knossos and Clojure's printer write it: nil,
//! booleans, integers (with `N`), floats (with `M`), ratios, characters,
//! strings with escapes, keywords and symbols with namespaces, lists,
//! vectors, maps, sets, namespaced maps (`#:ns{…}`), tagged literals
//! (`#jepsen.history.Op{…}`, `#inst "…"`, `#object[…]`), `##Inf`, `#_`
//! discards, `^` metadata, `;` comments and commas as whitespace.
//!
//! It reads one form at a time from borrowed text, tracks the line as it
//! goes (so every op knows where it started), and refuses nesting deeper
//! than `MAX_DEPTH` instead of overflowing the stack. It knows nothing
//! of operations: that is `super`'s job.

use std::borrow::Cow;
use std::fmt;

use crate::error::{capped, excerpt};

/// The deepest nesting accepted. Real histories nest a few levels (an
/// Elle transaction is four); a 20,000-level vector is damage.
pub const MAX_DEPTH: usize = 200;

/// One EDN datum, borrowing from the text where it can.
#[derive(Clone, Debug, PartialEq)]
pub enum Edn<'a> {
    /// `nil`.
    Nil,
    /// `true` / `false`.
    Bool(bool),
    /// An integer that fits 64 bits.
    Int(i64),
    /// An integer that does not (or carries `N`), as written.
    BigInt(&'a str),
    /// A float, ratio or `M` decimal, as written.
    Float(&'a str),
    /// `\c`.
    Char(char),
    /// A string, unescaped.
    Str(Cow<'a, str>),
    /// A keyword without its colon (`jepsen.history/op` keeps its namespace).
    Keyword(Cow<'a, str>),
    /// A symbol.
    Symbol(&'a str),
    /// `( … )`.
    List(Vec<Edn<'a>>),
    /// `[ … ]`.
    Vector(Vec<Edn<'a>>),
    /// `#{ … }`.
    Set(Vec<Edn<'a>>),
    /// `{ … }`, in written order.
    Map(Vec<(Edn<'a>, Edn<'a>)>),
    /// `#tag form`.
    Tagged(&'a str, Box<Edn<'a>>),
}

impl<'a> Edn<'a> {
    /// The value under keyword `key`, if this is a map (or a tagged map,
    /// as records are) that has it.
    pub fn get(&self, key: &str) -> Option<&Edn<'a>> {
        match self {
            Edn::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(k, Edn::Keyword(s) if s == key))
                .map(|(_, v)| v),
            Edn::Tagged(_, inner) => inner.get(key),
            _ => None,
        }
    }

    /// What kind of datum this is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Edn::Nil => "nil",
            Edn::Bool(_) => "a boolean",
            Edn::Int(_) | Edn::BigInt(_) => "an integer",
            Edn::Float(_) => "a float",
            Edn::Char(_) => "a character",
            Edn::Str(_) => "a string",
            Edn::Keyword(_) => "a keyword",
            Edn::Symbol(_) => "a symbol",
            Edn::List(_) => "a list",
            Edn::Vector(_) => "a vector",
            Edn::Set(_) => "a set",
            Edn::Map(_) => "a map",
            Edn::Tagged(..) => "a tagged literal",
        }
    }

    /// The datum as EDN text of at most about 100 characters.
    pub fn short(&self) -> String {
        capped(self, 100)
    }
}

fn write_seq(f: &mut fmt::Formatter<'_>, open: &str, items: &[Edn], close: &str) -> fmt::Result {
    f.write_str(open)?;
    for (i, e) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(" ")?;
        }
        write!(f, "{e}")?;
    }
    f.write_str(close)
}

impl fmt::Display for Edn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Edn::Nil => f.write_str("nil"),
            Edn::Bool(b) => write!(f, "{b}"),
            Edn::Int(i) => write!(f, "{i}"),
            Edn::BigInt(s) | Edn::Float(s) | Edn::Symbol(s) => f.write_str(s),
            Edn::Char(c) => write!(f, "\\{c}"),
            Edn::Str(s) => write!(f, "{s:?}"),
            Edn::Keyword(k) => write!(f, ":{k}"),
            Edn::List(items) => write_seq(f, "(", items, ")"),
            Edn::Vector(items) => write_seq(f, "[", items, "]"),
            Edn::Set(items) => write_seq(f, "#{", items, "}"),
            Edn::Map(entries) => {
                f.write_str("{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} {v}")?;
                }
                f.write_str("}")
            }
            Edn::Tagged(tag, inner) => write!(f, "#{tag}{inner}"),
        }
    }
}

/// Where reading stopped, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What was found and what was expected.
    pub message: String,
}

/// A cursor over EDN text.
#[derive(Clone)]
pub struct Reader<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
    line_start: usize,
}

/// Bytes that end a token.
fn is_delimiter(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, b',' | b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'"' | b';')
}

impl<'a> Reader<'a> {
    /// A reader at the start of `text`.
    pub fn new(text: &'a str) -> Self {
        Reader {
            text,
            pos: 0,
            line: 1,
            line_start: 0,
        }
    }

    /// The byte offset of the cursor.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// The line the cursor is on.
    pub fn line(&self) -> usize {
        self.line
    }

    /// An error at the cursor.
    pub fn error(&self, message: impl Into<String>) -> ReadError {
        self.error_at(self.pos, self.line, self.line_start, message)
    }

    fn error_at(&self, pos: usize, line: usize, line_start: usize, message: impl Into<String>) -> ReadError {
        let pos = pos.min(self.text.len());
        ReadError {
            line,
            column: self.text[line_start..pos].chars().count() + 1,
            message: message.into(),
        }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn newline(&mut self) {
        self.line += 1;
        self.line_start = self.pos;
    }

    /// Skips whitespace, commas and comments (not `#_`, which needs a form
    /// read); returns the next byte.
    fn skip_blank(&mut self) -> Option<u8> {
        let bytes = self.bytes();
        while let Some(&b) = bytes.get(self.pos) {
            match b {
                b'\n' => {
                    self.pos += 1;
                    self.newline();
                }
                b' ' | b'\t' | b'\r' | b',' | 0x0b | 0x0c => self.pos += 1,
                b';' => {
                    while self.pos < bytes.len() && bytes[self.pos] != b'\n' {
                        self.pos += 1;
                    }
                }
                _ => return Some(b),
            }
        }
        None
    }

    /// Skips blanks and discarded forms; returns the next byte, if any.
    pub fn peek(&mut self) -> Result<Option<u8>, ReadError> {
        self.peek_at(0)
    }

    fn peek_at(&mut self, depth: usize) -> Result<Option<u8>, ReadError> {
        loop {
            let b = self.skip_blank();
            if b == Some(b'#') && self.bytes().get(self.pos + 1) == Some(&b'_') {
                self.pos += 2;
                self.read_at(depth + 1)?;
                continue;
            }
            return Ok(b);
        }
    }

    /// Consumes one byte the caller has peeked.
    pub fn bump(&mut self) {
        self.pos += 1;
    }

    /// Reads one form.
    pub fn read(&mut self) -> Result<Edn<'a>, ReadError> {
        self.read_at(0)
    }

    fn read_at(&mut self, depth: usize) -> Result<Edn<'a>, ReadError> {
        if depth > MAX_DEPTH {
            return Err(self.error(format!(
                "values nested deeper than {MAX_DEPTH} levels: the file is damaged or not a history"
            )));
        }
        let Some(b) = self.peek_at(depth)? else {
            return Err(self.error("the text ends where a value was expected"));
        };
        match b {
            b'(' => {
                self.pos += 1;
                Ok(Edn::List(self.read_seq(b')', depth)?))
            }
            b'[' => {
                self.pos += 1;
                Ok(Edn::Vector(self.read_seq(b']', depth)?))
            }
            b'{' => {
                self.pos += 1;
                self.read_map(depth, None)
            }
            b')' | b']' | b'}' => Err(self.error(format!("unexpected {}", b as char))),
            b'"' => self.read_string().map(Edn::Str),
            b'\\' => self.read_char(),
            b'#' => self.read_dispatch(depth),
            b'^' => {
                // Metadata annotates the next form; the form is the value.
                self.pos += 1;
                self.read_at(depth + 1)?;
                self.read_at(depth + 1)
            }
            _ => self.read_token(),
        }
    }

    /// Elements up to `close`; the opener is consumed.
    fn read_seq(&mut self, close: u8, depth: usize) -> Result<Vec<Edn<'a>>, ReadError> {
        let (open_pos, open_line, open_start) = (self.pos - 1, self.line, self.line_start);
        let mut items = Vec::new();
        loop {
            match self.peek_at(depth)? {
                Some(b) if b == close => {
                    self.pos += 1;
                    return Ok(items);
                }
                Some(b @ (b')' | b']' | b'}')) => {
                    return Err(self.error(format!("expected {} here, found {}", close as char, b as char)))
                }
                Some(_) => items.push(self.read_at(depth + 1)?),
                None => {
                    return Err(self.error_at(
                        open_pos,
                        open_line,
                        open_start,
                        format!(
                            "this {} is never closed: the text ends first",
                            self.text.as_bytes()[open_pos] as char
                        ),
                    ))
                }
            }
        }
    }

    /// A map's entries up to `}`; keys of a namespaced map get `ns`.
    fn read_map(&mut self, depth: usize, ns: Option<&str>) -> Result<Edn<'a>, ReadError> {
        let items = self.read_seq(b'}', depth)?;
        if items.len() % 2 == 1 {
            return Err(self.error(format!(
                "a map needs a value for every key; {} is left without one",
                items[items.len() - 1].short()
            )));
        }
        let mut entries = Vec::with_capacity(items.len() / 2);
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            let k = match (ns, k) {
                (Some(ns), Edn::Keyword(name)) if !name.contains('/') => {
                    Edn::Keyword(format!("{ns}/{name}").into())
                }
                (_, k) => k,
            };
            entries.push((k, v));
        }
        Ok(Edn::Map(entries))
    }

    fn read_dispatch(&mut self, depth: usize) -> Result<Edn<'a>, ReadError> {
        self.pos += 1;
        match self.bytes().get(self.pos) {
            Some(b'{') => {
                self.pos += 1;
                Ok(Edn::Set(self.read_seq(b'}', depth)?))
            }
            Some(b'#') => {
                self.pos += 1;
                match self.token() {
                    "Inf" => Ok(Edn::Float("##Inf")),
                    "-Inf" => Ok(Edn::Float("##-Inf")),
                    "NaN" => Ok(Edn::Float("##NaN")),
                    other => Err(self.error(format!("##{other}: expected ##Inf, ##-Inf or ##NaN"))),
                }
            }
            Some(b'"') => self.read_string().map(Edn::Str),
            Some(b':') => {
                self.pos += 1;
                let ns = self.token();
                match self.skip_blank() {
                    Some(b'{') if !ns.is_empty() => {
                        self.pos += 1;
                        self.read_map(depth, Some(ns))
                    }
                    _ => Err(self.error(format!("#:{ns}: expected a namespace and a map"))),
                }
            }
            Some(&b) if !is_delimiter(b) => {
                let tag = self.token();
                let inner = self.read_at(depth + 1)?;
                Ok(Edn::Tagged(tag, Box::new(inner)))
            }
            _ => Err(self.error("# must be followed by {, _, a tag or ##Inf")),
        }
    }

    /// The token at the cursor (up to a delimiter), consumed.
    fn token(&mut self) -> &'a str {
        let start = self.pos;
        let bytes = self.bytes();
        while self.pos < bytes.len() && !is_delimiter(bytes[self.pos]) {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    fn read_token(&mut self) -> Result<Edn<'a>, ReadError> {
        let (start, start_line, line_start) = (self.pos, self.line, self.line_start);
        let tok = self.token();
        let bad = |r: &Self, what: &str| {
            r.error_at(
                start,
                start_line,
                line_start,
                format!("{}: {what}", excerpt(tok, 100)),
            )
        };
        let b = tok.as_bytes();
        let numeric = b[0].is_ascii_digit()
            || (matches!(b[0], b'+' | b'-') && b.get(1).is_some_and(u8::is_ascii_digit));
        if numeric {
            let digits = tok.strip_prefix('+').unwrap_or(tok);
            if let Some(n) = digits.strip_suffix('N') {
                return if n
                    .bytes()
                    .skip(usize::from(n.starts_with('-')))
                    .all(|c| c.is_ascii_digit())
                {
                    Ok(n.parse().map_or(Edn::BigInt(tok), Edn::Int))
                } else {
                    Err(bad(self, "not a number"))
                };
            }
            if let Ok(i) = digits.parse::<i64>() {
                return Ok(Edn::Int(i));
            }
            // Clojure prints object identities in hex (`#object[… 0x6f2b958e …]`).
            let (sign, unsigned) = digits.strip_prefix('-').map_or((1, digits), |d| (-1, d));
            if let Some(hex) = unsigned
                .strip_prefix("0x")
                .or_else(|| unsigned.strip_prefix("0X"))
            {
                return match i64::from_str_radix(hex, 16) {
                    Ok(i) => Ok(Edn::Int(sign * i)),
                    Err(_) if hex.bytes().all(|c| c.is_ascii_hexdigit()) && !hex.is_empty() => {
                        Ok(Edn::BigInt(tok))
                    }
                    Err(_) => Err(bad(self, "not a number")),
                };
            }
            if digits
                .bytes()
                .skip(usize::from(digits.starts_with('-')))
                .all(|c| c.is_ascii_digit())
            {
                return Ok(Edn::BigInt(tok));
            }
            let decimal = digits.strip_suffix('M').unwrap_or(digits);
            let ratio = decimal.split_once('/').is_some_and(|(n, d)| {
                n.parse::<i64>().is_ok() && d.bytes().all(|c| c.is_ascii_digit()) && !d.is_empty()
            });
            return if ratio || decimal.parse::<f64>().is_ok() {
                Ok(Edn::Float(tok))
            } else {
                Err(bad(self, "not a number"))
            };
        }
        Ok(match tok {
            "nil" => Edn::Nil,
            "true" => Edn::Bool(true),
            "false" => Edn::Bool(false),
            _ => match tok.strip_prefix(':') {
                Some("") => return Err(bad(self, "a keyword needs a name")),
                Some(k) => Edn::Keyword(Cow::Borrowed(k.strip_prefix(':').unwrap_or(k))),
                None => Edn::Symbol(tok),
            },
        })
    }

    fn read_char(&mut self) -> Result<Edn<'a>, ReadError> {
        self.pos += 1;
        let rest = &self.text[self.pos..];
        let Some(first) = rest.chars().next() else {
            return Err(self.error("\\ at the end of the text: expected a character"));
        };
        // One character, or a name such as `newline` or `u00e9`.
        let mut len = first.len_utf8();
        if first.is_ascii_alphanumeric() {
            len += rest[len..].bytes().take_while(u8::is_ascii_alphanumeric).count();
        }
        let name = &rest[..len];
        let c = match name {
            "newline" => '\n',
            "space" => ' ',
            "tab" => '\t',
            "return" => '\r',
            "backspace" => '\u{8}',
            "formfeed" => '\u{c}',
            _ if name.chars().count() == 1 => first,
            _ => match name
                .strip_prefix('u')
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .and_then(char::from_u32)
            {
                Some(c) if name.len() == 5 => c,
                _ => return Err(self.error(format!("\\{}: not a character", excerpt(name, 20)))),
            },
        };
        if c == '\n' && name == "\n" {
            self.pos += 1;
            self.newline();
        } else {
            self.pos += len;
        }
        Ok(Edn::Char(c))
    }

    /// A string at the cursor (on its opening quote), unescaped.
    fn read_string(&mut self) -> Result<Cow<'a, str>, ReadError> {
        let (open, open_line, open_start) = (self.pos, self.line, self.line_start);
        self.pos += 1;
        let bytes = self.bytes();
        let start = self.pos;
        let mut owned: Option<String> = None;
        let mut chunk = start;
        loop {
            let Some(&b) = bytes.get(self.pos) else {
                return Err(self.error_at(
                    open,
                    open_line,
                    open_start,
                    "this string is never closed: the text ends first",
                ));
            };
            match b {
                b'"' => {
                    let s = match owned {
                        None => Cow::Borrowed(&self.text[start..self.pos]),
                        Some(mut s) => {
                            s.push_str(&self.text[chunk..self.pos]);
                            Cow::Owned(s)
                        }
                    };
                    self.pos += 1;
                    return Ok(s);
                }
                b'\n' => {
                    self.pos += 1;
                    self.newline();
                }
                b'\\' => {
                    let s = owned.get_or_insert_with(String::new);
                    s.push_str(&self.text[chunk..self.pos]);
                    let esc = bytes.get(self.pos + 1).copied();
                    self.pos += 2;
                    let c = match esc {
                        Some(b'n') => '\n',
                        Some(b't') => '\t',
                        Some(b'r') => '\r',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'0'..=b'7') => {
                            // Clojure's octal escape: up to three digits.
                            let from = self.pos - 1;
                            let n = bytes[from..]
                                .iter()
                                .take(3)
                                .take_while(|c| (b'0'..=b'7').contains(c))
                                .count();
                            self.pos = from + n;
                            char::from_u32(u32::from_str_radix(&self.text[from..from + n], 8).unwrap_or(0))
                                .unwrap_or('\u{fffd}')
                        }
                        Some(b'u') => {
                            let hex = self.text.get(self.pos..self.pos + 4).unwrap_or("");
                            match u32::from_str_radix(hex, 16).ok().and_then(char::from_u32) {
                                Some(c) => {
                                    self.pos += 4;
                                    c
                                }
                                // A lone surrogate (Java writes them) is kept as a replacement.
                                None if hex.len() == 4 && hex.bytes().all(|c| c.is_ascii_hexdigit()) => {
                                    self.pos += 4;
                                    '\u{fffd}'
                                }
                                None => return Err(self.error("\\u must be followed by four hex digits")),
                            }
                        }
                        Some(c @ (b'"' | b'\\' | b'/')) => c as char,
                        Some(other) if other.is_ascii() => {
                            self.pos -= 2;
                            return Err(self.error(format!("unknown escape \\{} in a string", other as char)));
                        }
                        _ => {
                            self.pos -= 2;
                            return Err(self.error("\\ must be followed by an escape such as \\n or \\\""));
                        }
                    };
                    s.push(c);
                    chunk = self.pos;
                }
                _ => self.pos += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Edn<'_> {
        let mut r = Reader::new(text);
        let e = r.read().unwrap();
        assert_eq!(r.peek().unwrap(), None, "trailing text in {text:?}");
        e
    }

    fn fails(text: &str) -> ReadError {
        Reader::new(text).read().unwrap_err()
    }

    #[test]
    fn scalars() {
        assert_eq!(one("nil"), Edn::Nil);
        assert_eq!(one("true"), Edn::Bool(true));
        assert_eq!(one("-42"), Edn::Int(-42));
        assert_eq!(one("+7"), Edn::Int(7));
        assert_eq!(one("7N"), Edn::Int(7));
        assert_eq!(one("99999999999999999999"), Edn::BigInt("99999999999999999999"));
        assert_eq!(one("1.5e3"), Edn::Float("1.5e3"));
        assert_eq!(one("2.50M"), Edn::Float("2.50M"));
        assert_eq!(one("1/3"), Edn::Float("1/3"));
        assert_eq!(one("##Inf"), Edn::Float("##Inf"));
        assert_eq!(one(r"\a"), Edn::Char('a'));
        assert_eq!(one(r"\newline"), Edn::Char('\n'));
        assert_eq!(one(r"\u00e9"), Edn::Char('é'));
        assert_eq!(
            one(":jepsen.history/op"),
            Edn::Keyword("jepsen.history/op".into())
        );
        assert_eq!(one("my.ns/sym"), Edn::Symbol("my.ns/sym"));
    }

    #[test]
    fn strings_unescape() {
        assert_eq!(one(r#""a\"b\\c\n\t\u00e9\/""#), Edn::Str("a\"b\\c\n\té/".into()));
        assert!(matches!(one(r#""plain""#), Edn::Str(Cow::Borrowed("plain"))));
        let e = fails("\"open\nstill open");
        assert_eq!((e.line, e.column), (1, 1));
        assert!(e.message.contains("never closed"), "{e:?}");
        assert!(fails(r#""bad \q""#).message.contains("unknown escape \\q"));
    }

    #[test]
    fn collections_comments_and_discards() {
        let e = one("; a comment\n{:a [1 2 #_3], :b #{:x} ; trailing\n :c (nil)}");
        assert_eq!(e.to_string(), "{:a [1 2], :b #{:x}, :c (nil)}");
        assert_eq!(
            one("#:jepsen{:type :ok}").get("jepsen/type"),
            Some(&Edn::Keyword("ok".into()))
        );
        let t = one("#jepsen.history.Op{:index 0}");
        assert!(matches!(t, Edn::Tagged("jepsen.history.Op", _)));
        assert_eq!(t.get("index"), Some(&Edn::Int(0)));
        assert!(matches!(one("#inst \"2020-01-01\""), Edn::Tagged("inst", _)));
        assert!(matches!(
            one("#object[java.lang.Object 0x1 \"x\"]"),
            Edn::Tagged("object", _)
        ));
        assert_eq!(one("^{:doc \"x\"} [1]"), Edn::Vector(vec![Edn::Int(1)]));
    }

    #[test]
    fn errors_have_line_and_column() {
        let e = fails("[1 2\n  3 }");
        assert_eq!((e.line, e.column), (2, 5));
        assert!(e.message.contains("expected ] here, found }"), "{e:?}");
        let e = fails("{:a 1\n :b}");
        assert!(e.message.contains(":b is left without one"), "{e:?}");
        let e = fails("(1 2");
        assert_eq!((e.line, e.column), (1, 1));
        assert!(e.message.contains("never closed"), "{e:?}");
        let e = fails("  12x4");
        assert_eq!((e.line, e.column), (1, 3));
        assert_eq!(e.message, "12x4: not a number");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(50_000) + &"]".repeat(50_000);
        let e = fails(&deep);
        assert!(e.message.contains("nested deeper than"), "{e:?}");
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        one(&ok);
        for chain in [
            "#_".repeat(50_000) + "1",
            "^:m ".repeat(50_000) + "1",
            "#t ".repeat(50_000) + "1",
        ] {
            assert!(
                fails(&chain).message.contains("nested deeper than"),
                "{}",
                &chain[..10]
            );
        }
    }

    #[test]
    fn long_tokens_are_quoted_short() {
        let long = format!("1{}x", "2".repeat(10_000));
        let e = fails(&long);
        assert!(e.message.len() < 200, "{}", e.message.len());
    }
}
