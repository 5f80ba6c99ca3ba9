//! The figure notes' template language: Markdown with `{id}` (a claim's value), `{id.than}` (its
//! bound) and `{id.at}` (its deciding group) quoted from the claims, `{{` and `}}` for literal
//! braces. Parsed here so that `gentk validate` refuses a quote of an unknown claim.

/// Which number of a claim a quote shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteField {
    /// The compared value.
    Value,
    /// The bound it was compared with.
    Than,
    /// The deciding group (for `per` and grouped SQL claims).
    At,
}

/// A piece of the notes: literal text or a quote of a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Literal Markdown.
    Text(String),
    /// A claim's number.
    Quote {
        /// The claim's `id`.
        id: String,
        /// Which number.
        field: QuoteField,
    },
}

/// What is wrong with the braces of a notes text (each names the offending text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotesError {
    /// A `}` without its `{`.
    #[error("a lone `}}` (write `}}}}` for a brace)")]
    LoneBrace,
    /// A `{` without its `}`.
    #[error("`{0}` is not closed")]
    Unclosed(String),
    /// Braces around something that is not a claim id.
    #[error(
        "`{{{0}}}` is not a claim quote (`{{id}}`, `{{id.than}}`, `{{id.at}}`; write `{{{{` and `}}}}` for literal braces)"
    )]
    NotAQuote(String),
    /// A claim quote of a field claims do not have.
    #[error("`{{{inner}}}`: a quote shows `.than` or `.at` of a claim, not `.{field}`")]
    UnknownField {
        /// The text between the braces.
        inner: String,
        /// The field asked for.
        field: String,
    },
}

/// Splits notes into text and quotes.
pub fn parse(text: &str) -> Result<Vec<Piece>, NotesError> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(['{', '}']) {
        lit.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            lit.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        if tail.starts_with('}') {
            return Err(NotesError::LoneBrace);
        }
        let end = tail
            .find('}')
            .ok_or_else(|| NotesError::Unclosed(tail.lines().next().unwrap_or("").to_string()))?;
        let inner = &tail[1..end];
        let word =
            |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !inner.split('.').all(word) {
            return Err(NotesError::NotAQuote(inner.to_string()));
        }
        let (id, field) = match inner.split_once('.') {
            None => (inner, QuoteField::Value),
            Some((id, "than")) => (id, QuoteField::Than),
            Some((id, "at")) => (id, QuoteField::At),
            Some((_, f)) => {
                return Err(NotesError::UnknownField {
                    inner: inner.to_string(),
                    field: f.to_string(),
                });
            }
        };
        if !lit.is_empty() {
            out.push(Piece::Text(std::mem::take(&mut lit)));
        }
        out.push(Piece::Quote {
            id: id.to_string(),
            field,
        });
        rest = &tail[end + 1..];
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        out.push(Piece::Text(lit));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_braces_and_errors() {
        let p = parse("PR {a1} of {b.than} at {c.at}; set {{x}}").unwrap();
        assert_eq!(
            p,
            vec![
                Piece::Text("PR ".into()),
                Piece::Quote {
                    id: "a1".into(),
                    field: QuoteField::Value
                },
                Piece::Text(" of ".into()),
                Piece::Quote {
                    id: "b".into(),
                    field: QuoteField::Than
                },
                Piece::Text(" at ".into()),
                Piece::Quote {
                    id: "c".into(),
                    field: QuoteField::At
                },
                Piece::Text("; set {x}".into()),
            ]
        );
        assert!(parse("{a.b}").is_err());
        assert!(parse("{a b}").is_err());
        assert!(parse("open {a").is_err());
        assert!(parse("lone }").is_err());
    }
}
