//! The HTML page: a frame (inline CSS, a content security policy that forbids every script and
//! every other host), a table of contents, and sections made of paragraphs, figures, tables and
//! plain-words readings. All text is escaped here; figures arrive as finished `<svg>` markup.

use crate::svg::esc;
use std::fmt::Write as _;

/// One block of a section, in order.
#[derive(Clone, Debug)]
pub(crate) enum Block {
    /// A paragraph of plain text (escaped).
    Para(String),
    /// A paragraph whose text is already HTML (only for markup built in this crate).
    Html(String),
    /// An inline SVG figure with its caption.
    Figure { svg: String, caption: String },
    /// Several small figures side by side, with one caption.
    Multiples { svgs: Vec<String>, caption: String },
    /// A small table of numbers.
    Table(Table),
    /// A test's plain-words finding and what it does not show.
    Reading { finding: String, caveat: String },
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Table {
    pub caption: String,
    pub head: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A two-column table of quantity and value.
    pub fn pairs(caption: &str, rows: Vec<(&str, String)>) -> Self {
        Self {
            caption: caption.to_owned(),
            head: vec!["Quantity".to_owned(), "Value".to_owned()],
            rows: rows
                .into_iter()
                .map(|(k, v)| vec![k.to_owned(), v])
                .collect(),
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Section {
    /// Fragment id, `[a-z0-9-]`.
    pub id: &'static str,
    pub heading: String,
    pub blocks: Vec<Block>,
}

impl Section {
    pub fn new(id: &'static str, heading: impl Into<String>) -> Self {
        Self {
            id,
            heading: heading.into(),
            blocks: Vec::new(),
        }
    }

    pub fn para(mut self, text: impl Into<String>) -> Self {
        self.blocks.push(Block::Para(text.into()));
        self
    }

    pub fn html(mut self, html: impl Into<String>) -> Self {
        self.blocks.push(Block::Html(html.into()));
        self
    }

    pub fn figure(mut self, svg: String, caption: impl Into<String>) -> Self {
        self.blocks.push(Block::Figure {
            svg,
            caption: caption.into(),
        });
        self
    }

    pub fn multiples(mut self, svgs: Vec<String>, caption: impl Into<String>) -> Self {
        self.blocks.push(Block::Multiples {
            svgs,
            caption: caption.into(),
        });
        self
    }

    pub fn table(mut self, table: Table) -> Self {
        self.blocks.push(Block::Table(table));
        self
    }

    pub fn reading(mut self, finding: impl Into<String>, caveat: impl Into<String>) -> Self {
        self.blocks.push(Block::Reading {
            finding: finding.into(),
            caveat: caveat.into(),
        });
        self
    }
}

const CSS: &str = r#"
:root{color-scheme:light;--ink:#1d1d1f;--muted:#5a5a60;--line:#d9d9de;--accent:#0072B2;--warn:#fff6e0;--warn-line:#E69F00}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;color:var(--ink);background:#fff;line-height:1.5;font-size:16px}
main{max-width:60rem;margin:0 auto;padding:1rem 1.25rem 3rem}
h1{font-size:1.7rem;line-height:1.25;margin:1rem 0 .25rem}
h2{font-size:1.35rem;margin:2.5rem 0 .5rem;padding-top:.5rem;border-top:2px solid var(--line)}
h3{font-size:1.05rem;margin:1.5rem 0 .4rem}
p{margin:.5rem 0}
.sub{color:var(--muted);margin-top:0}
.notice{background:var(--warn);border-left:4px solid var(--warn-line);padding:.6rem .9rem;margin:1rem 0}
nav ol{columns:2 14rem;padding-left:1.3rem;margin:.5rem 0}
nav a,main a{color:var(--accent)}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(10rem,1fr));gap:.5rem;margin:1rem 0}
.kpi{border:1px solid var(--line);border-radius:6px;padding:.5rem .7rem}
.kpi b{display:block;font-size:1.3rem;font-variant-numeric:tabular-nums}
.kpi span{color:var(--muted);font-size:.85rem}
figure{margin:1rem 0;overflow-x:auto}
figure svg{max-width:100%;height:auto;display:block}
.multiples{display:grid;grid-template-columns:repeat(auto-fit,minmax(18rem,1fr));gap:.5rem 1rem}
figcaption{color:var(--muted);font-size:.9rem;margin-top:.3rem}
table{min-width:min(100%,30rem);border-collapse:collapse;margin:.75rem 0;font-size:.92rem;font-variant-numeric:tabular-nums}
caption{text-align:left;font-weight:600;padding-bottom:.3rem}
th,td{border-bottom:1px solid var(--line);padding:.25rem .7rem .25rem 0;text-align:left;vertical-align:top}
td.n,th.n{text-align:right}
td.n{white-space:nowrap}
.reading{border-left:4px solid var(--accent);padding:.4rem .9rem;margin:1rem 0;background:#f3f8fc}
.reading p{margin:.3rem 0}
.caveat{color:var(--muted)}
.findings li{margin:.5rem 0}
.table-wrap{overflow-x:auto}
dl.params{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}
dl.params dt{color:var(--muted)}
dl.params dd{margin:0}
footer{color:var(--muted);font-size:.85rem;margin-top:3rem;border-top:1px solid var(--line);padding-top:.75rem}
@media (max-width:40rem){body{font-size:15px}main{padding:.75rem}h1{font-size:1.4rem}dl.params{grid-template-columns:1fr}dl.params dd{margin-bottom:.5rem}nav ol{columns:1}}
main,dd,li,p{overflow-wrap:break-word}
@media print{
 body{font-size:10.5pt}
 main{max-width:none;padding:0}
 nav{display:none}
 h2{break-before:page;border-top:none}
 h2,h3{break-after:avoid}
 figure,table,.reading,.kpi{break-inside:avoid}
 a{color:inherit;text-decoration:none}
 .reading{background:none}
}
"#;

/// The whole document.
pub(crate) fn render(title: &str, subtitle: &str, sections: &[Section], footer: &str) -> String {
    let mut s = String::with_capacity(256 * 1024);
    s.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    s.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    // Defence in depth: even if something slipped through escaping, no script runs and
    // nothing is fetched from anywhere.
    s.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'\">\n",
    );
    s.push_str("<meta name=\"referrer\" content=\"no-referrer\">\n");
    s.push_str("<meta name=\"robots\" content=\"noindex\">\n");
    let _ = writeln!(s, "<title>{}</title>", esc(title));
    let _ = writeln!(s, "<style>{CSS}</style>\n</head>\n<body>\n<main>");
    let _ = writeln!(
        s,
        "<header>\n<h1>{}</h1>\n<p class=\"sub\">{}</p>\n</header>",
        esc(title),
        esc(subtitle)
    );
    s.push_str("<nav aria-label=\"Contents\"><ol>");
    for sec in sections {
        let _ = write!(
            s,
            "<li><a href=\"#{}\">{}</a></li>",
            sec.id,
            esc(&sec.heading)
        );
    }
    s.push_str("</ol></nav>\n");
    for sec in sections {
        render_section(&mut s, sec);
    }
    let _ = writeln!(
        s,
        "<footer><p>{}</p></footer>\n</main>\n</body>\n</html>",
        esc(footer)
    );
    s
}

fn render_section(s: &mut String, sec: &Section) {
    let _ = writeln!(
        s,
        "<section id=\"{}\" aria-labelledby=\"{}-h\">\n<h2 id=\"{}-h\">{}</h2>",
        sec.id,
        sec.id,
        sec.id,
        esc(&sec.heading)
    );
    for b in &sec.blocks {
        match b {
            Block::Para(t) => {
                let _ = writeln!(s, "<p>{}</p>", esc(t));
            }
            Block::Html(h) => {
                s.push_str(h);
                s.push('\n');
            }
            Block::Figure { svg, caption } => {
                let _ = writeln!(
                    s,
                    "<figure>{svg}<figcaption>{}</figcaption></figure>",
                    esc(caption)
                );
            }
            Block::Multiples { svgs, caption } => {
                s.push_str("<figure><div class=\"multiples\">");
                for svg in svgs {
                    s.push_str(svg);
                }
                let _ = writeln!(
                    s,
                    "</div><figcaption>{}</figcaption></figure>",
                    esc(caption)
                );
            }
            Block::Table(t) => render_table(s, t),
            Block::Reading { finding, caveat } => {
                let _ = writeln!(
                    s,
                    "<div class=\"reading\"><p><strong>What it shows:</strong> {}</p><p class=\"caveat\"><strong>What it does not show:</strong> {}</p></div>",
                    esc(finding),
                    esc(caveat)
                );
            }
        }
    }
    s.push_str("</section>\n");
}

/// Whether a cell reads as a number (right-aligned).
fn numeric(cell: &str) -> bool {
    let t = cell.trim_end_matches(['%', ' ']).trim();
    !t.is_empty()
        && t.chars()
            .all(|c| c.is_ascii_digit() || ",.−-+eE×^<≤ ⁰¹²³⁴⁵⁶⁷⁸⁹⁻".contains(c))
        && t.chars().any(|c| c.is_ascii_digit())
}

pub(crate) fn render_table(s: &mut String, t: &Table) {
    s.push_str("<div class=\"table-wrap\"><table>");
    if !t.caption.is_empty() {
        let _ = write!(s, "<caption>{}</caption>", esc(&t.caption));
    }
    if !t.head.is_empty() {
        s.push_str("<thead><tr>");
        for (i, h) in t.head.iter().enumerate() {
            // Numeric columns are right-aligned, judged by the first row.
            let num = i > 0
                && t.rows
                    .first()
                    .and_then(|r| r.get(i))
                    .is_some_and(|c| numeric(c));
            let _ = write!(
                s,
                "<th scope=\"col\"{}>{}</th>",
                if num { " class=\"n\"" } else { "" },
                esc(h)
            );
        }
        s.push_str("</tr></thead>");
    }
    s.push_str("<tbody>");
    for row in &t.rows {
        s.push_str("<tr>");
        for (i, c) in row.iter().enumerate() {
            if i == 0 {
                let _ = write!(s, "<th scope=\"row\">{}</th>", esc(c));
            } else {
                let _ = write!(
                    s,
                    "<td{}>{}</td>",
                    if numeric(c) { " class=\"n\"" } else { "" },
                    esc(c)
                );
            }
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table></div>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_cells() {
        assert!(numeric("1,708.8"));
        assert!(numeric("67.545 %"));
        assert!(numeric("−3.2"));
        assert!(numeric("1.2e-5"));
        assert!(numeric("4.7 × 10⁻¹²⁶"));
        assert!(numeric("< 10⁻³⁰⁰"));
        assert!(!numeric("Путин"));
        assert!(!numeric("n/a"));
        assert!(!numeric(""));
    }

    #[test]
    fn page_escapes_everything_it_is_given() {
        let sec = Section::new("x", "<x1>")
            .para("<x2>")
            .table(Table::pairs("<x3>", vec![("<x4>", "<x5>".to_owned())]))
            .reading("<x6>", "<x7>");
        let html = render("<x8>", "<x9>", &[sec], "<foot>");
        for bad in [
            "<x1>", "<x2>", "<x3>", "<x4>", "<x5>", "<x6>", "<x7>", "<x8>", "<x9>", "<foot>",
        ] {
            assert!(!html.contains(bad), "{bad} unescaped");
        }
        assert!(html.contains("&lt;foot&gt;"));
    }
}
