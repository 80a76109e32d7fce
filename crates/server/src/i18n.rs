//! The interface languages: English, Belarusian and Russian.
//!
//! Translations are flat `key = "text"` entries in `i18n/{en,be,ru}.toml` and
//! `i18n/MODULE/{en,be,ru}.toml` (TOML sections are
//! flattened, so `[login]` + `failed = "…"` is the key `login.failed`). They are compiled into the
//! binary and parsed once. A key missing in Belarusian or Russian falls back to English; a key
//! missing everywhere is shown as itself, so a gap is visible but never breaks a page. The test
//! `tests/views.rs` checks that every key is present in every language.

use std::collections::HashMap;
use std::sync::OnceLock;

/// A language the interface is available in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    Be,
    Ru,
}

type Table = HashMap<String, String>;

static EN: OnceLock<Table> = OnceLock::new();
static BE: OnceLock<Table> = OnceLock::new();
static RU: OnceLock<Table> = OnceLock::new();

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::En, Lang::Be, Lang::Ru];

    /// The BCP 47 code, as used in `<html lang>` and the `lang` cookie.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Be => "be",
            Lang::Ru => "ru",
        }
    }

    /// The language for a code such as `be`, `BE` or `be-BY`; `None` for anything else.
    pub fn parse(code: &str) -> Option<Lang> {
        let primary = code.trim().split(['-', '_']).next().unwrap_or_default();
        Lang::ALL
            .into_iter()
            .find(|l| l.code().eq_ignore_ascii_case(primary))
    }

    /// The language's name in that language, for the language switch.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Be => "Беларуская",
            Lang::Ru => "Русский",
        }
    }

    /// Chooses a language from an `Accept-Language` header (RFC 9110 §12.5.4): the supported
    /// language with the highest quality value wins, earlier entries win ties, `q=0` refuses a
    /// language, `*` stands for any language not named. No header, or nothing usable in it,
    /// gives English.
    pub fn negotiate(accept_language: Option<&str>) -> Lang {
        let Some(header) = accept_language else {
            return Lang::En;
        };
        // (quality in thousandths, position) of the best offer for each language so far.
        let mut explicit: [Option<u16>; 3] = [None; 3];
        let mut wildcard: Option<u16> = None;
        let mut best: Option<(u16, Lang)> = None;
        let consider = |q: u16, lang: Lang, best: &mut Option<(u16, Lang)>| {
            if q > 0 && best.is_none_or(|(bq, _)| q > bq) {
                *best = Some((q, lang));
            }
        };
        for item in header.split(',').take(32) {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or_default().trim();
            if tag.is_empty() {
                continue;
            }
            let mut q = Some(1000);
            for param in parts {
                let Some((name, value)) = param.split_once('=') else {
                    continue;
                };
                if name.trim().eq_ignore_ascii_case("q") {
                    q = parse_qvalue(value.trim());
                }
            }
            let Some(q) = q else {
                continue; // a malformed quality value makes the entry unusable
            };
            if tag == "*" {
                wildcard.get_or_insert(q);
                continue;
            }
            if let Some(lang) = Lang::parse(tag) {
                let i = lang.index();
                if explicit[i].is_none() {
                    explicit[i] = Some(q);
                    consider(q, lang, &mut best);
                }
            }
        }
        if let Some(q) = wildcard {
            for lang in Lang::ALL {
                if explicit[lang.index()].is_none() {
                    consider(q, lang, &mut best);
                }
            }
        }
        best.map_or(Lang::En, |(_, lang)| lang)
    }

    /// The text for `key` in this language, else in English, else the key itself.
    pub fn t(self, key: &str) -> &'static str {
        if let Some(text) = self.own(key) {
            return text;
        }
        Lang::En.own(key).unwrap_or_else(|| leak_key(key))
    }

    /// The text for `key` from this language's own file, with no fallback.
    pub fn own(self, key: &str) -> Option<&'static str> {
        self.table().get(key).map(String::as_str)
    }

    /// Every key this language's own file defines, sorted.
    pub fn keys(self) -> Vec<&'static str> {
        let mut keys: Vec<&'static str> = self.table().keys().map(String::as_str).collect();
        keys.sort_unstable();
        keys
    }

    fn index(self) -> usize {
        match self {
            Lang::En => 0,
            Lang::Be => 1,
            Lang::Ru => 2,
        }
    }

    /// The translation files for this language: the shell's, then one per module (each module
    /// keeps its texts in `i18n/MODULE/LANG.toml` so that modules do not edit one shared file).
    pub fn sources(self) -> &'static [&'static str] {
        match self {
            Lang::En => &[
                include_str!("../i18n/en.toml"),
                include_str!("../i18n/elections/en.toml"),
                include_str!("../i18n/participate/en.toml"),
                include_str!("../i18n/bot/en.toml"),
                include_str!("../i18n/api/en.toml"),
                include_str!("../i18n/moderation/en.toml"),
                include_str!("../i18n/cases/en.toml"),
            ],
            Lang::Be => &[
                include_str!("../i18n/be.toml"),
                include_str!("../i18n/elections/be.toml"),
                include_str!("../i18n/participate/be.toml"),
                include_str!("../i18n/bot/be.toml"),
                include_str!("../i18n/api/be.toml"),
                include_str!("../i18n/moderation/be.toml"),
                include_str!("../i18n/cases/be.toml"),
            ],
            Lang::Ru => &[
                include_str!("../i18n/ru.toml"),
                include_str!("../i18n/elections/ru.toml"),
                include_str!("../i18n/participate/ru.toml"),
                include_str!("../i18n/bot/ru.toml"),
                include_str!("../i18n/api/ru.toml"),
                include_str!("../i18n/moderation/ru.toml"),
                include_str!("../i18n/cases/ru.toml"),
            ],
        }
    }

    fn table(self) -> &'static Table {
        let cell = match self {
            Lang::En => &EN,
            Lang::Be => &BE,
            Lang::Ru => &RU,
        };
        cell.get_or_init(|| {
            let mut table = Table::new();
            for source in self.sources() {
                match parse_table(source) {
                    Ok(part) => table.extend(part),
                    // Only reachable if a shipped translation file is broken, which the tests catch.
                    Err(e) => {
                        tracing::error!(lang = self.code(), error = %e, "translation file does not parse")
                    }
                }
            }
            table
        })
    }
}

/// `q` values are `0`, `1`, or `0.` / `1.` with up to three decimals. Returns thousandths.
fn parse_qvalue(s: &str) -> Option<u16> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole = match whole {
        "0" => 0u16,
        "1" => 1,
        _ => return None,
    };
    let mut thousandths = 0u16;
    for (i, b) in frac.bytes().enumerate() {
        thousandths += u16::from(b - b'0') * [100, 10, 1][i];
    }
    let q = whole * 1000 + thousandths;
    (q <= 1000).then_some(q)
}

/// Keys missing from every file are rare (a typo in a template, caught by the tests); keep one
/// copy of each so that repeated look-ups do not leak repeatedly.
fn leak_key(key: &str) -> &'static str {
    static MISSING: OnceLock<std::sync::Mutex<HashMap<String, &'static str>>> = OnceLock::new();
    let missing = MISSING.get_or_init(Default::default);
    let mut map = match missing.lock() {
        Ok(map) => map,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(k) = map.get(key) {
        return k;
    }
    if map.len() >= 1024 {
        return "?";
    }
    let leaked: &'static str = Box::leak(key.to_owned().into_boxed_str());
    map.insert(key.to_owned(), leaked);
    leaked
}

/// Parses a translation file into a flat map from dotted keys to texts.
pub fn parse_table(source: &str) -> Result<HashMap<String, String>, String> {
    let value: toml::Table = toml::from_str(source).map_err(|e| e.to_string())?;
    let mut out = HashMap::new();
    flatten("", &value, &mut out)?;
    Ok(out)
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut Table) -> Result<(), String> {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            toml::Value::Table(t) => flatten(&key, t, out)?,
            _ => return Err(format!("{key}: a translation must be a string")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qvalues() {
        assert_eq!(parse_qvalue("1"), Some(1000));
        assert_eq!(parse_qvalue("0.8"), Some(800));
        assert_eq!(parse_qvalue("0.125"), Some(125));
        assert_eq!(parse_qvalue("1.000"), Some(1000));
        assert_eq!(parse_qvalue("1.5"), None);
        assert_eq!(parse_qvalue("0.1234"), None);
        assert_eq!(parse_qvalue("-1"), None);
        assert_eq!(parse_qvalue("abc"), None);
    }
}
