//! NOTES.md of a result folder, written by the runner from the spec's `experiment.notes` with
//! every number about the results quoted from a checked claim (`{id}`, `{id.than}`, `{id.at}`),
//! followed by the list of claims with their numbers: the notes cannot drift from the table.

use std::fmt::Write as _;

use gentk_spec::Spec;
use gentk_spec::notes::{Piece, QuoteField, parse};

use crate::claims::{ClaimResult, fmt_num};

/// A quoted number: integers in full, others to three significant digits (scientific outside
/// 1e-3..1e5).
pub fn quote(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if v.fract() == 0.0 && a < 1e6 {
        return format!("{v:.0}");
    }
    if !(1e-3..1e5).contains(&a) {
        let s = format!("{v:.2e}");
        // 1.90e9 → 1.9e9, 2.00e-5 → 2e-5
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = m.trim_end_matches('0').trim_end_matches('.');
        return format!("{m}e{e}");
    }
    let digits = (2 - a.log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The Markdown of NOTES.md (`None` when the spec has neither notes nor claims).
pub fn markdown(spec: &Spec, preset: &str, claims: &[ClaimResult]) -> Option<String> {
    let e = &spec.experiment;
    if e.notes.trim().is_empty() && claims.is_empty() {
        return None;
    }
    let mut md = String::new();
    let figure = if e.figure.is_empty() {
        String::new()
    } else {
        format!("{} — ", e.figure)
    };
    let _ = writeln!(md, "# {figure}{} ({preset} preset)\n", e.name);
    let _ = writeln!(
        md,
        "<!-- written by gentk from the spec's experiment.notes; numbers are quoted from the claims below -->\n"
    );
    if !e.claim.trim().is_empty() {
        let _ = writeln!(md, "**Claim.** {}\n", e.claim.trim());
    }
    // Validation has parsed the notes and checked every quote's id (unparsable notes: verbatim).
    for piece in parse(&e.notes).unwrap_or_else(|_| vec![Piece::Text(e.notes.clone())]) {
        match piece {
            Piece::Text(t) => md.push_str(&t),
            Piece::Quote { id, field } => {
                let c = claims.iter().find(|c| c.id.as_deref() == Some(id.as_str()));
                let text = match (c, field) {
                    (Some(c), QuoteField::Value) => quote(c.value),
                    (Some(c), QuoteField::Than) => quote(c.than),
                    (Some(c), QuoteField::At) => c.at.clone().unwrap_or_default(),
                    (None, _) => format!("{{{id}: no such claim}}"),
                };
                md.push_str(&text);
            }
        }
    }
    if !md.ends_with('\n') {
        md.push('\n');
    }
    if !claims.is_empty() {
        let _ = writeln!(
            md,
            "\n## Claims checked on `table.parquet`\n\n| | claim | value | | bound | deciding group |\n|---|---|---|---|---|---|"
        );
        for c in claims {
            let _ = writeln!(
                md,
                "| {} | {}{} | {} | {} | {} | {} |",
                if c.holds { "✅" } else { "❌" },
                c.says.replace('|', "\\|"),
                c.id.as_ref().map_or(String::new(), |i| format!(" (`{i}`)")),
                fmt_num(c.value),
                c.is.replace('<', "&lt;").replace('>', "&gt;"),
                fmt_num(c.than),
                c.at.as_deref().unwrap_or("").replace('|', "\\|"),
            );
        }
    }
    Some(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_have_three_significant_digits() {
        let cases = [
            (255.99999999999943, "256"),
            (74.10176661344225, "74.1"),
            (0.8312, "0.831"),
            (1.9e9, "1.9e9"),
            (2.0e-5, "2e-5"),
            (3.0, "3"),
            (524288.0, "524288"),
            (0.0, "0"),
            (-12.345, "-12.3"),
        ];
        for (v, want) in cases {
            assert_eq!(quote(v), want, "{v}");
        }
    }
}
