//! The message catalogues (Fluent, one file a capability a language under
//! `locales/<lang>/`, compiled into the binary) and the choice of language: the `lang` cookie
//! when the visitor chose one, else the best match of `Accept-Language`,
//! else English. Pages hold no words of their own: every string shown
//! comes from here by its message id.

use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};

/// A language the app speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// Simplified Chinese.
    ZhCn,
}

impl Lang {
    /// Every language, in the order the switcher shows them.
    pub const ALL: [Lang; 2] = [Lang::ZhCn, Lang::En];

    /// Its BCP 47 tag (the `lang` attribute and the cookie's value).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhCn => "zh-CN",
        }
    }

    /// The language a tag names, if the app speaks it.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or_default().to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Lang::En),
            "zh" => Some(Lang::ZhCn),
            _ => None,
        }
    }

    /// The best language for an `Accept-Language` header (quality values honoured).
    pub fn negotiate(accept_language: Option<&str>) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for part in accept_language.unwrap_or_default().split(',') {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or_default();
            let quality = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if let Some(lang) = Lang::from_tag(tag) {
                if quality > 0.0 && best.is_none_or(|(q, _)| quality > q) {
                    best = Some((quality, lang));
                }
            }
        }
        best.map_or(Lang::En, |(_, lang)| lang)
    }
}

type Bundle = FluentBundle<FluentResource>;

/// Each language's catalogue: one file a capability, the same names in every language.
macro_rules! catalogue {
    ($lang:literal) => {
        [
            include_str!(concat!("../locales/", $lang, "/app.ftl")),
            include_str!(concat!("../locales/", $lang, "/accounts.ftl")),
            include_str!(concat!("../locales/", $lang, "/forest.ftl")),
            include_str!(concat!("../locales/", $lang, "/ledger.ftl")),
            include_str!(concat!("../locales/", $lang, "/history.ftl")),
            include_str!(concat!("../locales/", $lang, "/connections.ftl")),
            include_str!(concat!("../locales/", $lang, "/friends.ftl")),
            include_str!(concat!("../locales/", $lang, "/leaderboards.ftl")),
            include_str!(concat!("../locales/", $lang, "/redeem.ftl")),
            include_str!(concat!("../locales/", $lang, "/campaigns.ftl")),
            include_str!(concat!("../locales/", $lang, "/medals.ftl")),
            include_str!(concat!("../locales/", $lang, "/energy.ftl")),
            include_str!(concat!("../locales/", $lang, "/docs.ftl")),
            include_str!(concat!("../locales/", $lang, "/settings.ftl")),
            include_str!(concat!("../locales/", $lang, "/admin.ftl")),
            include_str!(concat!("../locales/", $lang, "/admin_catalogue.ftl")),
            include_str!(concat!("../locales/", $lang, "/admin_programs.ftl")),
        ]
    };
}

/// The files of `lang`'s catalogue.
fn sources(lang: Lang) -> &'static [&'static str] {
    const EN: &[&str] = &catalogue!("en");
    const ZH: &[&str] = &catalogue!("zh-CN");
    match lang {
        Lang::En => EN,
        Lang::ZhCn => ZH,
    }
}

fn bundle(lang: Lang) -> &'static Bundle {
    static EN: OnceLock<Bundle> = OnceLock::new();
    static ZH: OnceLock<Bundle> = OnceLock::new();
    let cell = match lang {
        Lang::En => &EN,
        Lang::ZhCn => &ZH,
    };
    cell.get_or_init(|| {
        let mut bundle = FluentBundle::new_concurrent(vec![lang.tag().parse().expect("a language tag")]);
        // Pages are HTML: no Unicode isolation marks around arguments.
        bundle.set_use_isolating(false);
        for source in sources(lang) {
            let resource = FluentResource::try_new((*source).to_owned()).expect("the shipped catalogues parse");
            bundle.add_resource(resource).expect("no message is defined twice");
        }
        bundle
    })
}

/// Message `id` in `lang`, with `args` (name, value) filled in. A missing
/// message shows its id (and the catalogue tests fail).
pub fn message(lang: Lang, id: &str, args: &[(&str, FluentValue<'_>)]) -> String {
    let bundle = bundle(lang);
    let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) else {
        tracing::warn!(id, lang = lang.tag(), "a message is missing from the catalogue");
        return id.to_owned();
    };
    let mut fluent_args = FluentArgs::new();
    for (name, value) in args {
        fluent_args.set(*name, value.clone());
    }
    let mut errors = Vec::new();
    let text = bundle.format_pattern(pattern, (!args.is_empty()).then_some(&fluent_args), &mut errors);
    if !errors.is_empty() {
        tracing::warn!(id, ?errors, "a message did not format cleanly");
    }
    text.into_owned()
}

/// Whether the catalogues hold message `id` (both hold the same ids).
pub fn has_message(id: &str) -> bool {
    bundle(Lang::En).has_message(id)
}

/// The ids of every message in `lang`'s catalogue.
pub fn ids(lang: Lang) -> Vec<String> {
    sources(lang)
        .iter()
        .flat_map(|source| source.lines())
        .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
        .filter_map(|l| l.split_once('=').map(|(id, _)| id.trim().to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_catalogues_hold_the_same_messages_and_parse() {
        let (mut en, mut zh) = (ids(Lang::En), ids(Lang::ZhCn));
        en.sort();
        zh.sort();
        assert_eq!(en, zh, "every message in both languages");
        assert!(en.len() > 20);
        for lang in Lang::ALL {
            for id in ids(lang) {
                assert_ne!(message(lang, &id, &[]), id, "{id} formats in {}", lang.tag());
            }
        }
    }

    #[test]
    fn accept_language_picks_the_best_spoken_language() {
        assert_eq!(Lang::negotiate(Some("zh-CN,zh;q=0.9,en;q=0.8")), Lang::ZhCn);
        assert_eq!(Lang::negotiate(Some("en-US,en;q=0.9")), Lang::En);
        assert_eq!(Lang::negotiate(Some("fr-FR, en;q=0.5, zh;q=0.7")), Lang::ZhCn);
        assert_eq!(Lang::negotiate(Some("fr")), Lang::En);
        assert_eq!(Lang::negotiate(Some("zh;q=0, en")), Lang::En);
        assert_eq!(Lang::negotiate(None), Lang::En);
    }

    #[test]
    fn arguments_are_filled_in() {
        let text = message(Lang::En, "forest-energy", &[("grams", FluentValue::from(1234))]);
        assert!(text.contains("1,234") || text.contains("1234"), "{text}");
        let text = message(Lang::ZhCn, "forest-energy", &[("grams", FluentValue::from(1234))]);
        assert!(text.contains("1234") || text.contains("1,234"), "{text}");
    }
}
