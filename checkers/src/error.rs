//! `InputError`: a history that cannot be read or does not make sense,
//! located by file, line and (where known) column so a person can open the
//! file at the spot.

use std::fmt;

use thiserror::Error;

/// Bad input: where it is and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct InputError {
    /// The file (or other source) name.
    pub file: String,
    /// 1-based line number; 0 when the problem is the file as a whole.
    pub line: usize,
    /// 1-based column (in characters); 0 when only the line is known.
    pub column: usize,
    /// What was found and what was expected.
    pub message: String,
}

impl InputError {
    /// An error at `line` of `file` (0: the file as a whole).
    pub fn at(file: impl Into<String>, line: usize, message: impl Into<String>) -> Self {
        InputError {
            file: file.into(),
            line,
            column: 0,
            message: message.into(),
        }
    }

    /// The same error, placed at `column` of its line.
    pub fn with_column(mut self, column: usize) -> Self {
        self.column = column;
        self
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (0, _) => write!(f, "{}: {}", self.file, self.message),
            (l, 0) => write!(f, "{}:{l}: {}", self.file, self.message),
            (l, c) => write!(f, "{}:{l}:{c}: {}", self.file, self.message),
        }
    }
}

/// At most `max` characters of `text`, for quoting input in messages: a
/// 200 MB line must not become a 200 MB error.
pub fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}… ({} bytes in all)", &text[..cut], text.len()),
    }
}

/// Any printable thing in at most `max` characters, followed by `…` when
/// cut. Printing stops at the cap, so a value of millions of elements
/// costs no more than a short one.
pub fn capped(v: &dyn fmt::Display, max: usize) -> String {
    struct Capped {
        out: String,
        left: usize,
        cut: bool,
    }
    impl fmt::Write for Capped {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let n = s.chars().count();
            if n <= self.left {
                self.out.push_str(s);
                self.left -= n;
                Ok(())
            } else {
                self.out.extend(s.chars().take(self.left));
                self.cut = true;
                Err(fmt::Error)
            }
        }
    }
    let mut w = Capped {
        out: String::new(),
        left: max,
        cut: false,
    };
    // An error here only means the cap was reached.
    let _ = fmt::Write::write_fmt(&mut w, format_args!("{v}"));
    if w.cut {
        w.out.push('…');
    }
    w.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_file_line_column() {
        let e = InputError::at("h.edn", 3, "bad").with_column(7);
        assert_eq!(e.to_string(), "h.edn:3:7: bad");
        assert_eq!(InputError::at("h.edn", 3, "bad").to_string(), "h.edn:3: bad");
        assert_eq!(InputError::at("h.edn", 0, "bad").to_string(), "h.edn: bad");
    }

    #[test]
    fn excerpts_are_short() {
        assert_eq!(excerpt("abc", 5), "abc");
        let long = "é".repeat(1000);
        let e = excerpt(&long, 100);
        assert!(e.starts_with(&"é".repeat(100)));
        assert!(e.ends_with("(2000 bytes in all)"), "{e}");
    }
}
