//! Numbers as the report prints them.

use crate::svg::number;

/// An integer count with thousands separators.
pub(crate) fn int(x: impl Into<f64>) -> String {
    number(x.into().round(), 0)
}

/// A percentage (already in percent) with `decimals` decimals kept, e.g. "67.545 %".
pub(crate) fn pct(x: f64, decimals: usize) -> String {
    if !x.is_finite() {
        return "n/a".to_owned();
    }
    format!("{} %", fixed(x, decimals))
}

/// Exactly `decimals` decimals, with thousands separators and a real minus sign.
pub(crate) fn fixed(x: f64, decimals: usize) -> String {
    if !x.is_finite() {
        return number(x, 0);
    }
    let s = number(x, decimals);
    let have = s.split_once('.').map_or(0, |(_, f)| f.len());
    if decimals == 0 || have == decimals {
        s
    } else if have == 0 {
        format!("{s}.{}", "0".repeat(decimals))
    } else {
        format!("{s}{}", "0".repeat(decimals - have))
    }
}

/// `digits` significant digits, switching to "a × 10^b" for very small or large magnitudes.
pub(crate) fn sig(x: f64, digits: usize) -> String {
    if !x.is_finite() {
        return number(x, 0);
    }
    if x == 0.0 {
        return "0".to_owned();
    }
    let e = x.abs().log10().floor() as i32;
    if (-3..6).contains(&e) {
        let decimals = (digits as i32 - 1 - e).max(0) as usize;
        number(x, decimals)
    } else {
        let m = x / 10f64.powi(e);
        // Rounding the mantissa may carry to 10.
        let mr = format!("{:.*}", digits.saturating_sub(1), m.abs());
        let (m, e) = if mr.starts_with("10") {
            (x / 10f64.powi(e + 1), e + 1)
        } else {
            (m, e)
        };
        format!(
            "{} × 10{}",
            number(m, digits.saturating_sub(1)),
            superscript(e)
        )
    }
}

/// A p-value: three significant digits; below 1e-300 (where doubles underflow) "< 10⁻³⁰⁰".
pub(crate) fn pval(p: f64) -> String {
    if p.is_nan() {
        "n/a".to_owned()
    } else if p < 1e-300 {
        format!("< 10{}", superscript(-300))
    } else if p >= 0.001 {
        number(p, 3)
    } else {
        sig(p, 2)
    }
}

/// A p-value given as its base-10 logarithm, so that values far below the smallest double
/// still print: "3.2 × 10⁻⁴²".
pub(crate) fn log10_pval(log10_p: f64) -> String {
    if log10_p.is_nan() {
        return "n/a".to_owned();
    }
    if log10_p == f64::NEG_INFINITY {
        return "0 (below any representable number)".to_owned();
    }
    if log10_p >= -3.0 {
        return pval(10f64.powf(log10_p));
    }
    let e = log10_p.floor();
    let m = 10f64.powf(log10_p - e);
    let (m, e) = if format!("{m:.1}").starts_with("10") {
        (1.0, e + 1.0)
    } else {
        (m, e)
    };
    format!("{} × 10{}", number(m, 1), superscript(e as i32))
}

fn superscript(e: i32) -> String {
    e.to_string()
        .chars()
        .map(|c| match c {
            '-' => '⁻',
            '0' => '⁰',
            '1' => '¹',
            '2' => '²',
            '3' => '³',
            '4' => '⁴',
            '5' => '⁵',
            '6' => '⁶',
            '7' => '⁷',
            '8' => '⁸',
            '9' => '⁹',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(int(97_699u32), "97,699");
        assert_eq!(pct(67.5454, 3), "67.545 %");
        assert_eq!(pct(60.2, 3), "60.200 %");
        assert_eq!(fixed(4.017, 4), "4.0170");
        assert_eq!(fixed(-1.5, 2), "−1.50");
        assert_eq!(sig(612.34, 4), "612.3");
        assert_eq!(sig(15_180_000.0, 3), "1.52 × 10⁷");
        assert_eq!(sig(0.000_012_34, 3), "1.23 × 10⁻⁵");
        assert_eq!(sig(9.996e-5, 3), "1 × 10⁻⁴");
        assert_eq!(pval(0.0), "< 10⁻³⁰⁰");
        assert_eq!(pval(0.5), "0.5");
        assert_eq!(pval(2.5e-8), "2.5 × 10⁻⁸");
        assert_eq!(pval(f64::NAN), "n/a");
        assert_eq!(log10_pval(-41.5), "3.2 × 10⁻⁴²");
        assert_eq!(log10_pval(-400.0), "1 × 10⁻⁴⁰⁰");
        assert_eq!(log10_pval(0.0), "1");
        assert_eq!(log10_pval(-1.0), "0.1");
    }
}
