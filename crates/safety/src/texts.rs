//! The messages alerts, stand-downs and check-in warnings are made of, in English, Belarusian
//! and Russian (anything else falls back to English).
//!
//! # Who reads what
//!
//! - **The organisation** (duty lawyers) gets every registered field: they need the name, date
//!   of birth and city to find the person in custody, the relative's phone to call, and the
//!   health needs to demand medication. It is their job; the channel is theirs.
//! - **A trusted contact** gets the name, that the person is reported detained, how it was
//!   reported, and that the organisation was told: enough to act, nothing the contact does not
//!   need (no health details on a friend's phone).
//! - **The person** only ever gets the check-in warning, and its wording is neutral: the phone
//!   may be in someone else's hands, so it reads like a reminder from an ordinary notes bot.
//!
//! Every message carries a reference (`A-17` for alert 17, the same on its stand-down) so a
//! recipient who gets a message twice (delivery is at least once) can tell it is a repeat.
//!
//! Messages are plain text: Telegram gets no `parse_mode` and e-mail a `text/plain` body, so
//! nothing a person typed can turn into markup and nothing needs escaping.

use talaka_core::Timestamp;
use talaka_store::safety::{MessageKind, Trigger};

use crate::details::PersonDetails;

/// Who a message is for: decides how much of the person's details it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    /// One of the person's trusted contacts.
    Contact,
    /// The organisation's duty lawyers.
    Organisation,
    /// The person themself (check-in warnings only).
    Person,
}

/// A message ready to send: `subject` for e-mail, `text` for both channels.
#[derive(Clone, PartialEq, Eq)]
pub struct Composed {
    pub subject: String,
    pub text: String,
}

impl std::fmt::Debug for Composed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Composed([redacted])")
    }
}

/// Telegram refuses a message over 4096 characters; each free-text field is cut well below so
/// that a long note can never make the lawyers' alert undeliverable (the name appears twice,
/// five other fields once: 2·120 + 5·500 plus the wording stays under the limit).
const MAX_FIELD_CHARS: usize = 500;
const MAX_NAME_CHARS: usize = 120;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Lang {
    En,
    Be,
    Ru,
}

fn lang(language: &str) -> Lang {
    let l = language.trim().to_ascii_lowercase();
    match l.split(['-', '_']).next().unwrap_or_default() {
        "be" => Lang::Be,
        "ru" => Lang::Ru,
        _ => Lang::En,
    }
}

/// One string in the three languages.
struct T(&'static str, &'static str, &'static str);

impl T {
    fn get(&self, l: Lang) -> &'static str {
        match l {
            Lang::En => self.0,
            Lang::Be => self.1,
            Lang::Ru => self.2,
        }
    }
}

fn trigger_words(trigger: Option<Trigger>, l: Lang) -> &'static str {
    let t = match trigger {
        Some(Trigger::SelfReport) => T(
            "they reported it themselves",
            "пра гэта паведаміў(-ла) сам(а) чалавек",
            "об этом сообщил(а) сам человек",
        ),
        Some(Trigger::Contact) => T(
            "one of their trusted contacts reported it",
            "пра гэта паведаміў адзін з давераных кантактаў",
            "об этом сообщил один из доверенных контактов",
        ),
        Some(Trigger::MissedCheckIn) => T(
            "they missed their check-in deadline",
            "чалавек не адзначыўся ў прызначаны час",
            "человек не отметился в назначенное время",
        ),
        Some(Trigger::Duress) => T(
            "they checked in with their duress code (they are probably not free to speak)",
            "чалавек адзначыўся трывожным кодам (верагодна, не можа гаварыць свабодна)",
            "человек отметился тревожным кодом (вероятно, не может говорить свободно)",
        ),
        None => T(
            "the reason is not recorded",
            "прычына не запісаная",
            "причина не записана",
        ),
    };
    t.get(l)
}

/// At most [`MAX_FIELD_CHARS`] characters on one line: line breaks inside a field become
/// spaces so a field cannot pose as another field's line.
fn field(value: &str) -> String {
    cut(value, MAX_FIELD_CHARS)
}

fn cut(value: &str, max: usize) -> String {
    let one_line: String = value
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match one_line.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

fn name_of(details: Option<&PersonDetails>, l: Lang) -> String {
    match details
        .map(|d| cut(&d.full_name, MAX_NAME_CHARS))
        .filter(|n| !n.is_empty())
    {
        Some(n) => n,
        None => T(
            "A registered person (details unavailable)",
            "Зарэгістраваны чалавек (звесткі недаступныя)",
            "Зарегистрированный человек (данные недоступны)",
        )
        .get(l)
        .to_owned(),
    }
}

/// Compose a message of `kind` for `audience`. `reference` (e.g. `A-17`) goes into every
/// message; `language` is the recipient's (`""` or unknown: English); `bot_name` is the safety
/// bot's neutral name. A check-in warning composed here has no deadline; the delivery worker
/// uses [`compose_warning`] when it knows it.
pub fn compose(
    kind: MessageKind,
    trigger: Option<Trigger>,
    audience: Audience,
    details: Option<&PersonDetails>,
    reference: &str,
    language: &str,
    bot_name: &str,
) -> Composed {
    let l = lang(language);
    match kind {
        MessageKind::Alert => alert(trigger, audience, details, reference, l),
        MessageKind::StandDown => stand_down(details, reference, l),
        MessageKind::CheckInWarning => warning(None, reference, l, bot_name),
    }
}

/// The check-in warning to the person, with the deadline it is about.
pub fn compose_warning(
    deadline: Timestamp,
    reference: &str,
    language: &str,
    bot_name: &str,
) -> Composed {
    warning(Some(deadline), reference, lang(language), bot_name)
}

fn alert(
    trigger: Option<Trigger>,
    audience: Audience,
    details: Option<&PersonDetails>,
    reference: &str,
    l: Lang,
) -> Composed {
    let name = name_of(details, l);
    let how = trigger_words(trigger, l);
    let subject = match l {
        Lang::En => format!("[{reference}] Detention alert: {name}"),
        Lang::Be => format!("[{reference}] Трывога: затрыманне, {name}"),
        Lang::Ru => format!("[{reference}] Тревога: задержание, {name}"),
    };
    let mut text = match l {
        Lang::En => format!("DETENTION ALERT {reference}\n\n{name} is reported detained: {how}."),
        Lang::Be => format!("ТРЫВОГА {reference}\n\n{name}: паведамленне пра затрыманне. {how}."),
        Lang::Ru => format!("ТРЕВОГА {reference}\n\n{name}: сообщение о задержании. {how}."),
    };
    match audience {
        Audience::Organisation => {
            let labels = [
                T("Name", "Імя", "Имя"),
                T("Date of birth", "Дата нараджэння", "Дата рождения"),
                T("City", "Горад", "Город"),
                T("Relative's phone", "Тэлефон сваяка", "Телефон родственника"),
                T("Health needs", "Здароўе", "Здоровье"),
                T("Notes", "Нататкі", "Заметки"),
            ];
            text.push_str("\n\n");
            match details {
                Some(d) => {
                    let name = cut(&d.full_name, MAX_NAME_CHARS);
                    let values = [
                        &name,
                        &d.date_of_birth,
                        &d.city,
                        &d.relative_phone,
                        &d.health,
                        &d.notes,
                    ];
                    for (label, value) in labels.iter().zip(values) {
                        let v = field(value.as_str());
                        let v = if v.is_empty() { "-".to_owned() } else { v };
                        text.push_str(&format!("{}: {v}\n", label.get(l)));
                    }
                }
                None => text.push_str(
                    T(
                        "The registered details could not be opened: see the case on the dashboard.\n",
                        "Зарэгістраваныя звесткі не адкрыліся: глядзіце справу ў панэлі.\n",
                        "Зарегистрированные данные не открылись: смотрите дело в панели.\n",
                    )
                    .get(l),
                ),
            }
            text.push_str(
                T(
                    "\nThe person's trusted contacts are being told as well.",
                    "\nДавераным кантактам чалавека таксама паведамляецца.",
                    "\nДоверенным контактам человека тоже сообщается.",
                )
                .get(l),
            );
        }
        Audience::Contact | Audience::Person => {
            text.push_str(
                T(
                    "\n\nTheir organisation's lawyers have been told and have their details.",
                    "\n\nЮрыстам арганізацыі паведамлена, у іх ёсць звесткі пра чалавека.",
                    "\n\nЮристам организации сообщено, у них есть данные о человеке.",
                )
                .get(l),
            );
        }
    }
    text.push_str(&repeat_note(reference, l));
    Composed { subject, text }
}

fn stand_down(details: Option<&PersonDetails>, reference: &str, l: Lang) -> Composed {
    let name = name_of(details, l);
    let (subject, text) = match l {
        Lang::En => (
            format!("[{reference}] Stand down: {name} is safe"),
            format!(
                "STAND DOWN {reference}\n\n{name} says they are safe. The alert {reference} is withdrawn."
            ),
        ),
        Lang::Be => (
            format!("[{reference}] Адбой: {name} у бяспецы"),
            format!(
                "АДБОЙ {reference}\n\n{name} паведамляе, што ў бяспецы. Трывога {reference} адменена."
            ),
        ),
        Lang::Ru => (
            format!("[{reference}] Отбой: {name} в безопасности"),
            format!(
                "ОТБОЙ {reference}\n\n{name} сообщает, что в безопасности. Тревога {reference} отменена."
            ),
        ),
    };
    Composed {
        subject,
        text: text + &repeat_note(reference, l),
    }
}

/// Neutral on purpose: it is read on the person's phone, which may be searched. Nothing in it
/// says "detention", "alert" or "safety".
fn warning(deadline: Option<Timestamp>, reference: &str, l: Lang, bot_name: &str) -> Composed {
    let text = match (l, deadline) {
        (Lang::En, Some(t)) => {
            format!(
                "Reminder from {bot_name}: please check in before {t} (/checkin). Ref {reference}"
            )
        }
        (Lang::En, None) => {
            format!("Reminder from {bot_name}: please check in soon (/checkin). Ref {reference}")
        }
        (Lang::Be, Some(t)) => {
            format!(
                "Напамін ад {bot_name}: калі ласка, адзначцеся да {t} (/checkin). Ref {reference}"
            )
        }
        (Lang::Be, None) => {
            format!(
                "Напамін ад {bot_name}: калі ласка, адзначцеся хутка (/checkin). Ref {reference}"
            )
        }
        (Lang::Ru, Some(t)) => {
            format!(
                "Напоминание от {bot_name}: пожалуйста, отметьтесь до {t} (/checkin). Ref {reference}"
            )
        }
        (Lang::Ru, None) => {
            format!(
                "Напоминание от {bot_name}: пожалуйста, отметьтесь скоро (/checkin). Ref {reference}"
            )
        }
    };
    let subject = match l {
        Lang::En => format!("Reminder from {bot_name}"),
        Lang::Be => format!("Напамін ад {bot_name}"),
        Lang::Ru => format!("Напоминание от {bot_name}"),
    };
    Composed { subject, text }
}

fn repeat_note(reference: &str, l: Lang) -> String {
    match l {
        Lang::En => format!(
            "\n\nReference {reference}: a message with the same reference is a repeat of this one."
        ),
        Lang::Be => {
            format!("\n\nНумар {reference}: паведамленне з тым самым нумарам — паўтор гэтага.")
        }
        Lang::Ru => format!("\n\nНомер {reference}: сообщение с тем же номером — повтор этого."),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn details() -> PersonDetails {
        PersonDetails {
            full_name: "Ales Test".into(),
            date_of_birth: "1990-01-02".into(),
            city: "Hrodna".into(),
            relative_phone: "+375290000001".into(),
            health: "insulin".into(),
            notes: "works nights".into(),
            public_consent: false,
        }
    }

    #[test]
    fn the_organisation_gets_every_field_and_contacts_only_the_name() {
        let d = details();
        for language in ["en", "be", "ru", "de", ""] {
            let org = compose(
                MessageKind::Alert,
                Some(Trigger::MissedCheckIn),
                Audience::Organisation,
                Some(&d),
                "A-17",
                language,
                "Notes",
            );
            for v in [
                "Ales Test",
                "1990-01-02",
                "Hrodna",
                "+375290000001",
                "insulin",
                "works nights",
                "A-17",
            ] {
                assert!(org.text.contains(v), "{language}: {v} missing");
            }
            assert!(org.subject.contains("A-17") && org.subject.contains("Ales Test"));
            let contact = compose(
                MessageKind::Alert,
                Some(Trigger::Contact),
                Audience::Contact,
                Some(&d),
                "A-17",
                language,
                "Notes",
            );
            assert!(contact.text.contains("Ales Test") && contact.text.contains("A-17"));
            for private in ["insulin", "+375290000001", "1990-01-02", "works nights"] {
                assert!(
                    !contact.text.contains(private),
                    "{language}: {private} leaked"
                );
            }
        }
    }

    #[test]
    fn the_trigger_is_in_plain_words_and_differs_by_trigger() {
        let d = details();
        let texts: Vec<String> = Trigger::ALL
            .iter()
            .map(|t| {
                compose(
                    MessageKind::Alert,
                    Some(*t),
                    Audience::Contact,
                    Some(&d),
                    "A-1",
                    "en",
                    "Notes",
                )
                .text
            })
            .collect();
        assert!(texts[0].contains("reported it themselves"));
        assert!(texts[2].contains("missed their check-in"));
        assert!(texts[3].contains("duress"));
        let unique: std::collections::HashSet<_> = texts.iter().collect();
        assert_eq!(unique.len(), texts.len());
    }

    #[test]
    fn stand_down_names_the_person_and_the_reference() {
        let d = details();
        let m = compose(
            MessageKind::StandDown,
            None,
            Audience::Contact,
            Some(&d),
            "A-9",
            "en",
            "Notes",
        );
        assert!(m.text.contains("Ales Test says they are safe"));
        assert!(m.text.contains("A-9") && m.subject.contains("A-9"));
        let ru = compose(
            MessageKind::StandDown,
            None,
            Audience::Contact,
            Some(&d),
            "A-9",
            "ru",
            "",
        );
        assert!(ru.text.contains("ОТБОЙ A-9"));
    }

    #[test]
    fn the_warning_is_neutral_and_names_the_deadline() {
        let deadline = Timestamp(1_772_366_400_000); // 2026-03-01 12:00 UTC
        for language in ["en", "be", "ru"] {
            let w = compose_warning(deadline, "W-3", language, "Weather notes");
            assert!(w.text.contains("Weather notes"));
            assert!(w.text.contains("2026-03-01 12:00 UTC"));
            assert!(w.text.contains("/checkin") && w.text.contains("W-3"));
            let lower = w.text.to_lowercase();
            for word in [
                "detain",
                "alert",
                "safety",
                "затрым",
                "задерж",
                "трыво",
                "трево",
            ] {
                assert!(!lower.contains(word), "{language}: {word}");
            }
        }
        let en = compose_warning(deadline, "W-3", "en", "Notes");
        assert_eq!(
            en.text,
            "Reminder from Notes: please check in before 2026-03-01 12:00 UTC (/checkin). Ref W-3"
        );
    }

    #[test]
    fn a_huge_note_cannot_push_the_lawyers_message_past_telegrams_limit() {
        let mut d = details();
        d.notes = "x\n".repeat(10_000);
        d.health = "y".repeat(10_000);
        d.full_name = "z".repeat(10_000);
        let m = compose(
            MessageKind::Alert,
            Some(Trigger::Duress),
            Audience::Organisation,
            Some(&d),
            "A-1",
            "be",
            "Notes",
        );
        assert!(m.text.chars().count() < 4096, "{}", m.text.chars().count());
        assert!(!m.subject.contains('\n'));
    }

    #[test]
    fn missing_details_still_make_a_message_with_the_reference() {
        let m = compose(
            MessageKind::Alert,
            None,
            Audience::Organisation,
            None,
            "A-5",
            "en",
            "Notes",
        );
        assert!(m.text.contains("A-5") && m.text.contains("could not be opened"));
    }
}
