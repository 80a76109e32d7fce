//! Numbers and names the way a journalist would print them.

use crate::model::ElectionInfo;

/// `1656` → `1,656`; negative numbers keep their sign.
pub fn thousands(v: i64) -> String {
    let digits = v.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if v < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `0.3412` → `34.1 %`.
pub fn percent(share: f64) -> String {
    format!("{:.1} %", share * 100.0)
}

/// The option's name as the ballot prints it, or its code when the import gave no name.
pub fn option_name<'a>(info: &'a ElectionInfo, code: &'a str) -> &'a str {
    info.options
        .iter()
        .find(|o| o.code == code)
        .map(|o| o.name.as_str())
        .filter(|n| !n.is_empty())
        .unwrap_or(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_656), "1,656");
        assert_eq!(thousands(1_260_000), "1,260,000");
        assert_eq!(thousands(-44), "-44");
        assert_eq!(thousands(-12_345), "-12,345");
    }

    #[test]
    fn percent_has_one_decimal() {
        assert_eq!(percent(0.3412), "34.1 %");
        assert_eq!(percent(1.0), "100.0 %");
    }
}
