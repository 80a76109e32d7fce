//! The bot's texts in English, Belarusian and Russian. They live with the web tier's
//! translations in `crates/server/i18n/bot/{en,be,ru}.toml` (keys under `[bot]`), compiled in
//! from there so that translators find every text in one place; this crate does not depend on
//! `talaka-server` for it.

use std::collections::HashMap;
use std::sync::OnceLock;

const SOURCES: [(Lang, &str); 3] = [
    (Lang::En, include_str!("../../server/i18n/bot/en.toml")),
    (Lang::Be, include_str!("../../server/i18n/bot/be.toml")),
    (Lang::Ru, include_str!("../../server/i18n/bot/ru.toml")),
];

/// A language the bot speaks.
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
}

type Table = HashMap<String, String>;

fn tables() -> &'static HashMap<Lang, Table> {
    static TABLES: OnceLock<HashMap<Lang, Table>> = OnceLock::new();
    TABLES.get_or_init(|| {
        SOURCES
            .iter()
            .map(|(lang, src)| (*lang, parse(src)))
            .collect()
    })
}

/// `[bot] key = "…"` → `key`. A file that does not parse gives an empty table (the English
/// fallback and the test below catch it).
fn parse(src: &str) -> Table {
    let Ok(value) = src.parse::<toml::Table>() else {
        return Table::new();
    };
    value
        .get("bot")
        .and_then(toml::Value::as_table)
        .map(|t| {
            t.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// The text for `key` in `lang`; English when the language lacks it, the key itself when
/// English does too (a visible gap, never a crash).
pub fn text(lang: Lang, key: &str) -> String {
    let t = tables();
    t.get(&lang)
        .and_then(|t| t.get(key))
        .or_else(|| t.get(&Lang::En).and_then(|t| t.get(key)))
        .cloned()
        .unwrap_or_else(|| format!("bot.{key}"))
}

/// [`text`] with `{name}` placeholders filled in.
pub fn fill(lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
    let mut s = text(lang, key);
    for (name, value) in args {
        s = s.replace(&format!("{{{name}}}"), value);
    }
    s
}

/// Every key of the English table (for tests).
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
        assert!(keys.len() > 20, "{keys:?}");
        for lang in Lang::ALL {
            let table = tables().get(&lang).expect("table");
            assert_eq!(table.len(), keys.len(), "{lang:?} has other keys");
            for k in &keys {
                let en = text(Lang::En, k);
                let other = table.get(k).unwrap_or_else(|| panic!("{lang:?} lacks {k}"));
                assert_eq!(placeholders(&en), placeholders(other), "{lang:?} {k}");
            }
        }
    }

    #[test]
    fn language_codes() {
        assert_eq!(Lang::from_code(Some("be")), Lang::Be);
        assert_eq!(Lang::from_code(Some("ru-RU")), Lang::Ru);
        assert_eq!(Lang::from_code(Some("pl")), Lang::En);
        assert_eq!(Lang::from_code(None), Lang::En);
        assert!(text(Lang::Be, "help").contains("Гэты бот"));
    }
}
