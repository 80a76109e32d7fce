//! The bots' text catalogs: English, Belarusian and Russian TOML files compiled into the binary
//! (keys under one section), looked up with an English fallback. Shared by the elections bot
//! and the safety bot, so both read their texts, fall back and fill placeholders alike.

use std::collections::HashMap;

/// A language the bots speak.
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

    /// The two-letter code (`en`, `be`, `ru`).
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Be => "be",
            Lang::Ru => "ru",
        }
    }
}

type Table = HashMap<String, String>;

/// One bot's texts in every language.
#[derive(Debug)]
pub struct Catalog {
    section: &'static str,
    tables: HashMap<Lang, Table>,
}

/// Why a catalog is incomplete (for its test).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("{lang:?}: the file does not parse as TOML or has no [{section}] table")]
    Unreadable { lang: Lang, section: &'static str },
    #[error("{lang:?} lacks the key {key}")]
    Missing { lang: Lang, key: String },
    #[error("{lang:?} has the key {key}, which English lacks")]
    Extra { lang: Lang, key: String },
    #[error("{lang:?} {key}: placeholders {found:?}, English has {expected:?}")]
    Placeholders {
        lang: Lang,
        key: String,
        found: Vec<String>,
        expected: Vec<String>,
    },
}

fn placeholders(s: &str) -> Vec<String> {
    let mut out: Vec<String> = s
        .split('{')
        .skip(1)
        .filter_map(|p| p.split_once('}').map(|(name, _)| name.to_owned()))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

impl Catalog {
    /// The `[section]` tables of `sources`. A file that does not parse gives an empty table:
    /// lookups fall back to English, and [`Catalog::check`] reports it.
    pub fn parse(section: &'static str, sources: &[(Lang, &str)]) -> Catalog {
        let tables = sources
            .iter()
            .map(|(lang, src)| {
                let table = src
                    .parse::<toml::Table>()
                    .ok()
                    .and_then(|v| v.get(section).and_then(toml::Value::as_table).cloned())
                    .map(|t| {
                        t.iter()
                            .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                            .collect()
                    })
                    .unwrap_or_default();
                (*lang, table)
            })
            .collect();
        Catalog { section, tables }
    }

    /// The text for `key` in `lang`; English when the language lacks it, `section.key` when
    /// English does too (a visible gap, never a crash).
    pub fn text(&self, lang: Lang, key: &str) -> String {
        self.tables
            .get(&lang)
            .and_then(|t| t.get(key))
            .or_else(|| self.tables.get(&Lang::En).and_then(|t| t.get(key)))
            .cloned()
            .unwrap_or_else(|| format!("{}.{key}", self.section))
    }

    /// [`Catalog::text`] with `{name}` placeholders filled in.
    pub fn fill(&self, lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
        let mut s = self.text(lang, key);
        for (name, value) in args {
            s = s.replace(&format!("{{{name}}}"), value);
        }
        s
    }

    /// Every English key, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut k: Vec<String> = self
            .tables
            .get(&Lang::En)
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        k.sort();
        k
    }

    /// Every language has exactly English's keys, each with the same placeholders.
    pub fn check(&self) -> Result<(), CatalogError> {
        let keys = self.keys();
        for lang in Lang::ALL {
            let table = self.tables.get(&lang).filter(|t| !t.is_empty()).ok_or(
                CatalogError::Unreadable {
                    lang,
                    section: self.section,
                },
            )?;
            if let Some(extra) = table.keys().find(|k| !keys.contains(k)) {
                return Err(CatalogError::Extra {
                    lang,
                    key: extra.clone(),
                });
            }
            for key in &keys {
                let other = table.get(key).ok_or_else(|| CatalogError::Missing {
                    lang,
                    key: key.clone(),
                })?;
                let (expected, found) =
                    (placeholders(&self.text(Lang::En, key)), placeholders(other));
                if expected != found {
                    return Err(CatalogError::Placeholders {
                        lang,
                        key: key.clone(),
                        found,
                        expected,
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_fall_back_to_english_and_check_finds_every_gap() {
        let c = Catalog::parse(
            "bot",
            &[
                (Lang::En, "[bot]\nhi = \"Hello, {name}\"\nbye = \"Bye\"\n"),
                (Lang::Be, "[bot]\nhi = \"Вітаю, {name}\"\nbye = \"Бывай\"\n"),
                (Lang::Ru, "[bot]\nhi = \"Привет\"\n"),
            ],
        );
        assert_eq!(c.fill(Lang::Be, "hi", &[("name", "Ales")]), "Вітаю, Ales");
        assert_eq!(c.text(Lang::Ru, "bye"), "Bye");
        assert_eq!(c.text(Lang::En, "nope"), "bot.nope");
        assert_eq!(c.keys(), vec!["bye".to_owned(), "hi".to_owned()]);
        assert!(matches!(
            c.check(),
            Err(CatalogError::Missing { lang: Lang::Ru, .. })
        ));
        let broken = Catalog::parse(
            "bot",
            &[(Lang::En, "[bot]\nhi = \"x\"\n"), (Lang::Be, "hi = ")],
        );
        assert!(matches!(
            broken.check(),
            Err(CatalogError::Unreadable { lang: Lang::Be, .. })
        ));
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
