//! Cells for CSV exports. A spreadsheet treats a cell starting with `=`, `+`, `-`, `@` (or a
//! tab or carriage return) as a formula; an export of data that participants typed must never
//! run one on a journalist's or lawyer's machine (OWASP "CSV injection").

use std::borrow::Cow;

/// The cell as it must be written: a leading formula character is defused with a `'`, and the
/// result is quoted when it contains a comma, quote or line break.
pub fn cell(value: &str) -> Cow<'_, str> {
    let defused: Cow<'_, str> =
        if value.starts_with(['=', '+', '-', '@', '\t', '\r']) && !is_plain_number(value) {
            Cow::Owned(format!("'{value}"))
        } else {
            Cow::Borrowed(value)
        };
    if defused.contains([',', '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", defused.replace('"', "\"\"")))
    } else {
        defused
    }
}

/// `-12` or `+3.5` are numbers, not formulas, and stay as they are.
fn is_plain_number(v: &str) -> bool {
    let body = v.strip_prefix(['-', '+']).unwrap_or(v);
    !body.is_empty()
        && body.chars().all(|c| c.is_ascii_digit() || c == '.')
        && body.chars().filter(|c| *c == '.').count() <= 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formulas_are_defused_and_numbers_kept() {
        assert_eq!(
            cell("=HYPERLINK(\"http://x\")"),
            "\"'=HYPERLINK(\"\"http://x\"\")\""
        );
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("+7 999"), "'+7 999");
        assert_eq!(cell("-12"), "-12");
        assert_eq!(cell("3.5"), "3.5");
        assert_eq!(cell("Minsk, 1"), "\"Minsk, 1\"");
        assert_eq!(cell("plain"), "plain");
    }

    proptest! {
        #[test]
        fn no_cell_starts_a_formula(s in "\\PC{0,30}") {
            let c = cell(&s);
            // What the spreadsheet sees: the cell with its CSV quoting removed.
            let seen = match c.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
                Some(inner) => inner.replace("\"\"", "\""),
                None => c.to_string(),
            };
            let first = seen.chars().next();
            if let Some(f) = first {
                prop_assert!(!matches!(f, '=' | '+' | '@' | '\t' | '\r') || is_plain_number(&s), "{c}");
                prop_assert!(f != '-' || is_plain_number(&s), "{c}");
            }
        }
    }
}
