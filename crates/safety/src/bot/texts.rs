//! The safety bot's texts in English, Belarusian and Russian, from `crates/safety/i18n/*.toml`
//! (keys under `[bot]`), compiled in so the bot needs no files at run time.
//!
//! The files hold only `key = "text"` lines (with `\n`, `\"`, `\\` escapes), so a small reader
//! here parses them: this crate does not otherwise need a TOML parser. Anything else in a
//! file is ignored, and the test below fails when a line was not understood.

use std::collections::HashMap;
use std::sync::OnceLock;

const SOURCES: [(Lang, &str); 3] = [
    (Lang::En, include_str!("../../i18n/en.toml")),
    (Lang::Be, include_str!("../../i18n/be.toml")),
    (Lang::Ru, include_str!("../../i18n/ru.toml")),
];

/// A language the safety bot speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    Be,
    Ru,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::En, Lang::Be, Lang::Ru];

    /// From the Telegram client's `language_code` (`be`, `ru-RU`, ...); English otherwise.
    pub fn from_code(code: Option<&str>) -> Lang {
        let primary = code
            .unwrap_or_default()
            .split(['-', '_'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match primary.as_str() {
            "be" => Lang::Be,
            "ru" => Lang::Ru,
            _ => Lang::En,
        }
    }

    /// The code kept with a sealed address, so alerts reach a recipient in their language.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Be => "be",
            Lang::Ru => "ru",
        }
    }
}

type Table = HashMap<String, String>;

fn tables() -> &'static HashMap<Lang, Table> {
    static TABLES: OnceLock<HashMap<Lang, Table>> = OnceLock::new();
    TABLES.get_or_init(|| {
        SOURCES
            .iter()
            .map(|(lang, src)| (*lang, parse(src).0))
            .collect()
    })
}

/// The `key = "text"` lines of `src`, and how many lines looked like entries but did not
/// parse (for the test).
fn parse(src: &str) -> (Table, usize) {
    let mut table = Table::new();
    let mut broken = 0;
    for line in src.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with('[') {
            continue;
        }
        let parsed = line.split_once('=').and_then(|(k, v)| {
            let key = k.trim();
            let v = v.trim();
            let inner = v.strip_prefix('"')?.strip_suffix('"')?;
            let valid_key =
                !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            valid_key.then_some(())?;
            Some((key.to_owned(), unescape(inner)?))
        });
        match parsed {
            Some((k, v)) => {
                table.insert(k, v);
            }
            None => broken += 1,
        }
    }
    (table, broken)
}

fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                '"' => out.push('"'),
                '\\' => out.push('\\'),
                _ => return None,
            },
            // An unescaped quote inside would end a TOML string early.
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// The text for `key` in `lang`; English when the language lacks it, the key itself when
/// English does too (a visible gap, never a crash).
pub fn text(lang: Lang, key: &str) -> String {
    let t = tables();
    t.get(&lang)
        .and_then(|t| t.get(key))
        .or_else(|| t.get(&Lang::En).and_then(|t| t.get(key)))
        .cloned()
        .unwrap_or_else(|| format!("safety.{key}"))
}

/// [`text`] with `{name}` placeholders filled in.
pub fn fill(lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
    let mut s = text(lang, key);
    for (name, value) in args {
        s = s.replace(&format!("{{{name}}}"), value);
    }
    s
}

/// Every key of the English table, sorted (for tests).
pub fn keys() -> Vec<String> {
    let mut k: Vec<String> = tables()
        .get(&Lang::En)
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholders(s: &str) -> Vec<&str> {
        let mut out: Vec<&str> = s
            .split('{')
            .skip(1)
            .filter_map(|p| p.split_once('}').map(|(name, _)| name))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    #[test]
    fn every_language_has_every_key_with_the_same_placeholders() {
        let keys = keys();
        assert!(keys.len() > 40, "{keys:?}");
        for (lang, src) in SOURCES {
            let (table, broken) = parse(src);
            assert_eq!(broken, 0, "{lang:?} has lines that do not parse");
            let mut own: Vec<&String> = table.keys().collect();
            own.sort();
            assert_eq!(
                own,
                keys.iter().collect::<Vec<_>>(),
                "{lang:?} has other keys"
            );
            for k in &keys {
                let en = text(Lang::En, k);
                assert_eq!(placeholders(&en), placeholders(&table[k]), "{lang:?} {k}");
            }
        }
    }

    #[test]
    fn the_reader_understands_escapes_and_refuses_what_it_does_not() {
        let (t, broken) =
            parse("[bot]\n# a comment\na = \"one\\ntwo \\\"q\\\"\"\nb = 'single'\nc = \"x\" y\"\n");
        assert_eq!(t.get("a").map(String::as_str), Some("one\ntwo \"q\""));
        assert_eq!(broken, 2);
    }

    #[test]
    fn language_codes() {
        assert_eq!(Lang::from_code(Some("be")), Lang::Be);
        assert_eq!(Lang::from_code(Some("ru-RU")), Lang::Ru);
        assert_eq!(Lang::from_code(Some("pl")), Lang::En);
        assert_eq!(Lang::from_code(None), Lang::En);
        assert_eq!(Lang::Be.code(), "be");
    }
}
