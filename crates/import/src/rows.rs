//! What both formats share: the CSV reader, the header, rows checked for width, counts parsed
//! from bytes, region names interned, the leader picked by name.

use std::collections::HashMap;
use std::io::Read;

use csv::ByteRecord;

use crate::error::{ImportError, ValueProblem, cell};

/// A CSV source after its header row.
pub(crate) struct Rows<R: Read> {
    pub file: String,
    /// Header names, whitespace collapsed to single spaces and trimmed.
    pub header: Vec<String>,
    rdr: csv::Reader<R>,
    rec: ByteRecord,
}

impl<R: Read> Rows<R> {
    pub fn open(file: &str, reader: R) -> Result<Self, ImportError> {
        Self::open_delimited(file, reader, b',')
    }

    /// [`Rows::open`] for fields separated by `delimiter` (`b';'` in the exit-poll format).
    pub fn open_delimited(file: &str, reader: R, delimiter: u8) -> Result<Self, ImportError> {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .delimiter(delimiter)
            .flexible(true)
            .from_reader(reader);
        let mut rec = ByteRecord::new();
        let got = rdr
            .read_byte_record(&mut rec)
            .map_err(|e| csv_error(file, 1, e))?;
        if !got {
            return Err(ImportError::Empty { file: file.into() });
        }
        let mut header = Vec::with_capacity(rec.len());
        for (i, raw) in rec.iter().enumerate() {
            let raw = if i == 0 {
                raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw)
            } else {
                raw
            };
            let s = std::str::from_utf8(raw).map_err(|_| ImportError::HeaderNotUtf8 {
                file: file.into(),
                column: i + 1,
            })?;
            header.push(normalize(s));
        }
        if header.iter().all(String::is_empty) {
            return Err(ImportError::Empty { file: file.into() });
        }
        Ok(Self {
            file: file.into(),
            header,
            rdr,
            rec,
        })
    }

    /// The next station row, checked to have as many fields as the header, with its line number.
    pub fn next_row(&mut self) -> Result<Option<(u64, &ByteRecord)>, ImportError> {
        let line_before = self.rdr.position().line();
        let got = self
            .rdr
            .read_byte_record(&mut self.rec)
            .map_err(|e| csv_error(&self.file, line_before, e))?;
        if !got {
            return Ok(None);
        }
        let line = self.rec.position().map_or(line_before, |p| p.line());
        if self.rec.len() != self.header.len() {
            return Err(ImportError::Ragged {
                file: self.file.clone(),
                line,
                expected: self.header.len(),
                found: self.rec.len(),
            });
        }
        Ok(Some((line, &self.rec)))
    }
}

fn csv_error(file: &str, line: u64, e: csv::Error) -> ImportError {
    let line = e.position().map_or(line, |p| p.line());
    let source = match e.into_kind() {
        csv::ErrorKind::Io(io) => io,
        other => std::io::Error::other(format!("{other:?}")),
    };
    ImportError::Read {
        file: file.into(),
        line,
        source,
    }
}

/// Whitespace runs (including line breaks inside quoted header cells) become one space.
pub(crate) fn normalize(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A non-negative whole number that fits in 32 bits, surrounding ASCII spaces allowed.
pub(crate) fn parse_count(bytes: &[u8]) -> Result<u32, ValueProblem> {
    let b = bytes.trim_ascii();
    if b.is_empty() {
        return Err(ValueProblem::Empty);
    }
    let (negative, digits) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, b),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(ValueProblem::NotANumber(cell(bytes)));
    }
    if negative {
        return Err(ValueProblem::Negative(cell(bytes)));
    }
    let mut v: u32 = 0;
    for &d in digits {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u32::from(d - b'0')))
            .ok_or_else(|| ValueProblem::TooLarge(cell(bytes)))?;
    }
    Ok(v)
}

/// A count that may be empty: `None` when the cell is blank (not reported).
pub(crate) fn parse_optional_count(bytes: &[u8]) -> Result<Option<u32>, ValueProblem> {
    if bytes.trim_ascii().is_empty() {
        return Ok(None);
    }
    parse_count(bytes).map(Some)
}

/// A stable ASCII code from a name: Cyrillic (Russian and Belarusian letters) transliterated,
/// letters lower-cased, every other run of characters one `-`, none at either end
/// (`Путин Владимир` → `putin-vladimir`, `Австрия / Austria` → `avstriya-austria`). Transliteration:
/// х → h, ц → ts, ч → ch, ш → sh, щ → shch, ж → zh, й → y, ы → y, ю → yu, я → ya, ё/э → e,
/// ъ/ь dropped, і → i, ў → u. Empty when the name has no letter or digit.
pub(crate) fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut gap = false;
    for c in name.chars().flat_map(char::to_lowercase) {
        let t: &str = match c {
            'а' => "a",
            'б' => "b",
            'в' => "v",
            'г' | 'ґ' => "g",
            'д' => "d",
            'е' | 'ё' | 'э' => "e",
            'є' => "ye",
            'ж' => "zh",
            'з' => "z",
            'и' | 'і' => "i",
            'ї' => "yi",
            'й' | 'ы' => "y",
            'к' => "k",
            'л' => "l",
            'м' => "m",
            'н' => "n",
            'о' => "o",
            'п' => "p",
            'р' => "r",
            'с' => "s",
            'т' => "t",
            'у' | 'ў' => "u",
            'ф' => "f",
            'х' => "h",
            'ц' => "ts",
            'ч' => "ch",
            'ш' => "sh",
            'щ' => "shch",
            'ъ' | 'ь' | '\'' | '’' => "",
            'ю' => "yu",
            'я' => "ya",
            c if c.is_ascii_alphanumeric() => {
                if gap && !out.is_empty() {
                    out.push('-');
                }
                gap = false;
                out.push(c);
                continue;
            }
            _ => {
                gap = true;
                continue;
            }
        };
        if t.is_empty() {
            continue;
        }
        if gap && !out.is_empty() {
            out.push('-');
        }
        gap = false;
        out.push_str(t);
    }
    out
}

/// Codes made unique in order of first use: a repeated code gets `-2`, `-3`… appended.
#[derive(Default)]
pub(crate) struct UniqueCodes {
    used: std::collections::HashSet<String>,
}

impl UniqueCodes {
    pub fn claim(&mut self, base: String) -> String {
        if self.used.insert(base.clone()) {
            return base;
        }
        let mut n = 2u64;
        loop {
            let candidate = format!("{base}-{n}");
            if self.used.insert(candidate.clone()) {
                return candidate;
            }
            n += 1;
        }
    }
}

/// A text cell as UTF-8.
pub(crate) fn text(bytes: &[u8]) -> Result<&str, ValueProblem> {
    std::str::from_utf8(bytes).map_err(|_| ValueProblem::NotUtf8)
}

pub(crate) fn value_error(
    file: &str,
    line: u64,
    column: &str,
    problem: ValueProblem,
) -> ImportError {
    ImportError::Value {
        file: file.into(),
        line,
        column: crate::error::shown(column, 120),
        problem,
    }
}

/// Region names → indices in order of first appearance.
#[derive(Default)]
pub(crate) struct Regions {
    pub names: Vec<String>,
    index: HashMap<String, u32>,
    last: Option<u32>,
}

impl Regions {
    pub fn intern(&mut self, name: &str) -> u32 {
        // Rows come grouped by region: the previous row's region is the usual answer.
        if let Some(last) = self.last
            && self.names[last as usize] == name
        {
            return last;
        }
        let id = match self.index.get(name) {
            Some(&id) => id,
            None => {
                let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
                self.names.push(name.to_owned());
                self.index.insert(name.to_owned(), id);
                id
            }
        };
        self.last = Some(id);
        id
    }
}

/// The option named by `leader`: an exact (case-insensitive) match, else the one option whose
/// name contains it (case-insensitive). None or several → an error listing them.
pub(crate) fn pick_leader(
    file: &str,
    options: &[String],
    leader: Option<&str>,
) -> Result<usize, ImportError> {
    let Some(leader) = leader else {
        return Err(ImportError::LeaderRequired {
            file: file.into(),
            options: options.to_vec(),
        });
    };
    let needle = normalize(leader).to_lowercase();
    let lower: Vec<String> = options.iter().map(|o| o.to_lowercase()).collect();
    let not_found = || ImportError::LeaderNotFound {
        file: file.into(),
        leader: crate::error::shown(leader, 80),
        options: options.to_vec(),
    };
    if needle.is_empty() {
        return Err(not_found());
    }
    let exact: Vec<usize> = (0..options.len()).filter(|&i| lower[i] == needle).collect();
    if let [one] = exact[..] {
        return Ok(one);
    }
    let partial: Vec<usize> = (0..options.len())
        .filter(|&i| lower[i].contains(&needle))
        .collect();
    match partial[..] {
        [one] => Ok(one),
        [] => Err(not_found()),
        _ => Err(ImportError::LeaderAmbiguous {
            file: file.into(),
            leader: crate::error::shown(leader, 80),
            matches: partial.iter().map(|&i| options[i].clone()).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_parse_and_fail_precisely() {
        assert_eq!(parse_count(b"0"), Ok(0));
        assert_eq!(parse_count(b" 2242 "), Ok(2242));
        assert_eq!(parse_count(b"4294967295"), Ok(u32::MAX));
        assert_eq!(parse_count(b""), Err(ValueProblem::Empty));
        assert_eq!(parse_count(b"  "), Err(ValueProblem::Empty));
        assert!(matches!(
            parse_count(b"4294967296"),
            Err(ValueProblem::TooLarge(_))
        ));
        assert!(matches!(parse_count(b"-3"), Err(ValueProblem::Negative(_))));
        assert!(matches!(
            parse_count(b"-"),
            Err(ValueProblem::NotANumber(_))
        ));
        assert!(matches!(
            parse_count(b"1.5"),
            Err(ValueProblem::NotANumber(_))
        ));
        assert!(matches!(
            parse_count(b"+1"),
            Err(ValueProblem::NotANumber(_))
        ));
        assert!(matches!(
            parse_count(b"12a"),
            Err(ValueProblem::NotANumber(_))
        ));
    }

    #[test]
    fn slugs_transliterate_and_separate() {
        assert_eq!(
            slug("Путин Владимир Владимирович"),
            "putin-vladimir-vladimirovich"
        );
        assert_eq!(slug("Харитонов"), "haritonov");
        assert_eq!(slug("Слуцкий"), "slutskiy");
        assert_eq!(slug("Жириновский"), "zhirinovskiy");
        assert_eq!(slug("Австрия / Austria"), "avstriya-austria");
        assert_eq!(slug("  Против всех! "), "protiv-vseh");
        assert_eq!(slug("Yel’nya"), "yelnya");
        assert_eq!(slug("Объём"), "obem");
        assert_eq!(slug("---"), "");
        let mut u = UniqueCodes::default();
        assert_eq!(u.claim("a".into()), "a");
        assert_eq!(u.claim("a".into()), "a-2");
        assert_eq!(u.claim("a-2".into()), "a-2-2");
    }

    #[test]
    fn leader_exact_match_beats_substring() {
        let opts = vec!["ДА".to_string(), "НЕТ".to_string(), "ДАЛЬШЕ".to_string()];
        assert_eq!(pick_leader("f", &opts, Some("да")).expect("exact"), 0);
        assert_eq!(pick_leader("f", &opts, Some("нет")).expect("exact"), 1);
        assert_eq!(pick_leader("f", &opts, Some("льш")).expect("substring"), 2);
        assert!(matches!(
            pick_leader("f", &opts, Some("Д")),
            Err(ImportError::LeaderAmbiguous { .. })
        ));
        assert!(matches!(
            pick_leader("f", &opts, Some("Путин")),
            Err(ImportError::LeaderNotFound { .. })
        ));
        assert!(matches!(
            pick_leader("f", &opts, Some("  ")),
            Err(ImportError::LeaderNotFound { .. })
        ));
        assert!(matches!(
            pick_leader("f", &opts, None),
            Err(ImportError::LeaderRequired { .. })
        ));
    }
}
