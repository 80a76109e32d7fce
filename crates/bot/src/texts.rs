//! The bot's texts in English, Belarusian and Russian. They live with the web tier's
//! translations in `crates/server/i18n/bot/{en,be,ru}.toml` (keys under `[bot]`), compiled in
//! from there so that translators find every text in one place; this crate does not depend on
//! `talaka-server` for it. Lookups and fallbacks are `talaka_core::texts::Catalog`'s.

use std::sync::OnceLock;

use talaka_core::texts::Catalog;
pub use talaka_core::texts::Lang;

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        Catalog::parse(
            "bot",
            &[
                (Lang::En, include_str!("../../server/i18n/bot/en.toml")),
                (Lang::Be, include_str!("../../server/i18n/bot/be.toml")),
                (Lang::Ru, include_str!("../../server/i18n/bot/ru.toml")),
            ],
        )
    })
}

/// The text for `key` in `lang`; English when the language lacks it.
pub fn text(lang: Lang, key: &str) -> String {
    catalog().text(lang, key)
}

/// [`text`] with `{name}` placeholders filled in.
pub fn fill(lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
    catalog().fill(lang, key, args)
}

/// Every English key, sorted (for tests).
pub fn keys() -> Vec<String> {
    catalog().keys()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_every_key_with_the_same_placeholders() {
        assert!(keys().len() > 20, "{:?}", keys());
        catalog().check().unwrap_or_else(|e| panic!("{e}"));
        assert!(text(Lang::Be, "help").contains("Гэты бот"));
    }
}
