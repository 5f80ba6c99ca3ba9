//! Where a key lives in a spec file: every key and value of the document with its byte span, from
//! the TOML parser's own spans (`toml::de::DeTable`), so an error about `measure[2].statistic`, a
//! preset override or a sweep axis points at that line and column — no searching of the text.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// One step of a key path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A table key (may contain dots, e.g. a sweep axis `"model.gain"`).
    Key(String),
    /// An array element (e.g. the third `[[measure]]`).
    Index(usize),
}

/// A logical key path such as `model.hidden`, `measure[2].statistic` or `sweep.grid."model.gain"`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    /// A path of plain keys (`KeyPath::keys(["model", "hidden"])`).
    pub fn keys<I, S>(keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        KeyPath(keys.into_iter().map(|k| Seg::Key(k.into())).collect())
    }

    /// A dotted path (`"model.gain"` → model, gain), as sweep keys and `seed_from` write them.
    pub fn dotted(path: &str) -> Self {
        KeyPath::keys(path.split('.'))
    }

    /// The `i`-th measurement's `field` (`measure[i].field`).
    pub fn measure(i: usize, field: &str) -> Self {
        KeyPath(vec![
            Seg::Key("measure".into()),
            Seg::Index(i),
            Seg::Key(field.into()),
        ])
    }

    /// The `i`-th chart's `field` (`plot[i].field`).
    pub fn plot(i: usize, field: &str) -> Self {
        KeyPath(vec![
            Seg::Key("plot".into()),
            Seg::Index(i),
            Seg::Key(field.into()),
        ])
    }

    /// This path with `seg` appended.
    pub fn join(&self, seg: Seg) -> Self {
        let mut v = self.0.clone();
        v.push(seg);
        KeyPath(v)
    }

    /// `prefix` followed by this path.
    pub fn under(&self, prefix: &[Seg]) -> Self {
        KeyPath(
            prefix
                .iter()
                .cloned()
                .chain(self.0.iter().cloned())
                .collect(),
        )
    }

    /// The path as dotted keys only (`None` when it has array indices).
    pub fn as_dotted(&self) -> Option<String> {
        self.0
            .iter()
            .map(|s| match s {
                Seg::Key(k) => Some(k.as_str()),
                Seg::Index(_) => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(|v| v.join("."))
    }
}

impl std::fmt::Display for KeyPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Seg::Key(k) if k.contains('.') || k.is_empty() => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    write!(f, "\"{k}\"")?;
                }
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                Seg::Index(j) => write!(f, "[{j}]")?,
            }
        }
        Ok(())
    }
}

/// Every key of a document with the span of its key and of its value.
#[derive(Debug, Clone, Default)]
pub struct SpanIndex {
    entries: Vec<(KeyPath, Range<usize>, Range<usize>)>,
}

impl SpanIndex {
    /// Indexes `text` (an unparsable text gives an empty index).
    pub fn new(text: &str) -> Self {
        let mut idx = SpanIndex::default();
        if let Ok(doc) = DeTable::parse(text) {
            idx.walk_table(&KeyPath::default(), doc.get_ref());
        }
        idx
    }

    fn walk_table(&mut self, at: &KeyPath, t: &DeTable<'_>) {
        for (k, v) in t.iter() {
            let path = at.join(Seg::Key(k.get_ref().to_string()));
            self.entries.push((path.clone(), k.span(), v.span()));
            self.walk_value(&path, v.get_ref());
        }
    }

    fn walk_value(&mut self, at: &KeyPath, v: &DeValue<'_>) {
        match v {
            DeValue::Table(t) => self.walk_table(at, t),
            DeValue::Array(a) => {
                for (i, item) in a.iter().enumerate() {
                    let path = at.join(Seg::Index(i));
                    self.entries.push((path.clone(), item.span(), item.span()));
                    self.walk_value(&path, item.get_ref());
                }
            }
            _ => {}
        }
    }

    /// The key span of `path`, if the document has it.
    pub fn key_span(&self, path: &KeyPath) -> Option<Range<usize>> {
        self.entries
            .iter()
            .find(|(p, _, _)| p == path)
            .map(|(_, k, _)| k.clone())
    }

    /// The deepest path whose key or value span holds `offset`.
    pub fn path_at(&self, offset: usize) -> Option<KeyPath> {
        self.entries
            .iter()
            .filter(|(_, k, v)| k.contains(&offset) || v.contains(&offset) || k.start == offset)
            .max_by_key(|(p, _, _)| p.0.len())
            .map(|(p, _, _)| p.clone())
    }
}

/// 1-based (line, column) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// "did you mean `x`?" for a name that is close to one of `candidates` (Jaro–Winkler from strsim).
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let (best, score) = candidates
        .into_iter()
        .map(|c| (c, strsim::jaro_winkler(name, c)))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    (score >= 0.8).then(|| format!("did you mean `{best}`?"))
}

/// The suggestion for serde's "unknown field `a`, expected one of `b`, `c`" and "unknown variant"
/// messages.
pub fn suggestion(msg: &str) -> Option<String> {
    let unknown = ["unknown field `", "unknown variant `"]
        .iter()
        .find_map(|p| msg.split(p).nth(1))?
        .split('`')
        .next()?;
    let expected = msg
        .split("expected one of ")
        .nth(1)
        .or_else(|| msg.split("expected ").nth(1))?;
    did_you_mean(unknown, expected.split('`').skip(1).step_by(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[model]\narch = \"rnn\"\n\n[[measure]]\nname = \"a\"\n\n[[measure]]\nname = \"b\"\nstatistic = \"trace\"\n\n[sweep.grid]\n\"model.gain\" = [1, 2]\n";

    #[test]
    fn spans_of_keys_array_items_and_dotted_sweep_keys() {
        let idx = SpanIndex::new(TEXT);
        let at = |p: &KeyPath| line_col(TEXT, idx.key_span(p).unwrap().start);
        assert_eq!(at(&KeyPath::keys(["model", "arch"])), (2, 1));
        assert_eq!(at(&KeyPath::measure(1, "statistic")), (9, 1));
        let sweep = KeyPath::keys(["sweep", "grid", "model.gain"]);
        assert_eq!(at(&sweep), (12, 1));
        assert_eq!(sweep.to_string(), "sweep.grid.\"model.gain\"");
        assert_eq!(
            KeyPath::measure(1, "statistic").to_string(),
            "measure[1].statistic"
        );
        let off = TEXT.find("\"trace\"").unwrap() + 2;
        assert_eq!(idx.path_at(off), Some(KeyPath::measure(1, "statistic")));
    }

    #[test]
    fn suggestions_come_from_the_expected_list() {
        let m = "unknown field `hiden`, expected one of `arch`, `hidden`, `gain`";
        assert_eq!(suggestion(m).as_deref(), Some("did you mean `hidden`?"));
        let m = "unknown variant `ntks`, expected one of `k`, `ntk`, `pp_star`";
        assert_eq!(suggestion(m).as_deref(), Some("did you mean `ntk`?"));
        assert_eq!(
            suggestion("unknown variant `zzzz`, expected `k` or `ntk`"),
            None
        );
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }
}
