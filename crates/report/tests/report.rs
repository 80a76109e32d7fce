//! The report as a whole: self-contained (no other host, no script), escaped, complete,
//! well-formed, and small enough for a full-size election.

use talaka_forensics::analysis::{Analysis, AnalyzeOptions, analyze};
use talaka_forensics::klimek::{KlimekParams, simulate};
use talaka_forensics::{Election, ElectionBuilder, Station};

const EVIL: &str = "<script>alert('x')</script> & \"Others\"";
const EVIL_ELECTION: &str = "Test <img src=x onerror=alert(1)> & co";

/// A falsified synthetic election from the Klimek model with `n` stations of 200–2,800 voters,
/// its names replaced by markup that must come out escaped.
fn synthetic(n: usize, seed: u64) -> Election {
    let registered: Vec<u32> = (0..n).map(|i| 200 + ((i * 7919) % 2600) as u32).collect();
    let params = KlimekParams {
        tau: 0.6,
        nu: 0.55,
        sigma_tau: 0.08,
        sigma_nu: 0.07,
        theta: 0.15,
        f_i: 0.3,
        f_e: 0.02,
        alpha: 2.0,
    };
    let mut e = simulate(&params, &registered, seed);
    e.name = EVIL_ELECTION.to_owned();
    e.options[1] = EVIL.to_owned();
    e
}

fn analysis(e: &Election, klimek: bool) -> Analysis {
    analyze(
        e,
        &AnalyzeOptions {
            mc_replicates: 200,
            seed: 7,
            klimek,
            ..AnalyzeOptions::default()
        },
    )
}

/// The markup of the page without its text: every tag, and the style sheet.
fn markup(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i..];
        let end = rest.find('>').map_or(rest.len(), |e| e + 1);
        out.push_str(&rest[..end]);
        if rest.starts_with("<style") {
            let close = rest.find("</style>").unwrap_or(rest.len());
            out.push_str(&rest[end..close]);
            rest = &rest[close..];
        } else {
            rest = &rest[end..];
        }
    }
    out
}

/// Every `href`/`src` value and every `url(` in the page's markup.
fn references(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let html = &markup(html);
    let lower = html.to_ascii_lowercase();
    for attr in ["href=", "src=", "url("] {
        let mut from = 0;
        while let Some(i) = lower[from..].find(attr) {
            let start = from + i + attr.len();
            let rest = &html[start..];
            let value: String = match rest.chars().next() {
                Some(q @ ('"' | '\'')) => rest[1..].chars().take_while(|&c| c != q).collect(),
                _ => rest
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != '>' && *c != ')')
                    .collect(),
            };
            out.push(value);
            from = start;
        }
    }
    out
}

fn assert_self_contained(html: &str) {
    let without_ns = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    let lower = without_ns.to_ascii_lowercase();
    for bad in [
        "http://",
        "https://",
        "<script",
        "javascript:",
        "@import",
        "<link",
        "<iframe",
    ] {
        assert!(!lower.contains(bad), "the page contains {bad:?}");
    }
    for r in references(html) {
        assert!(
            r.starts_with('#') && !r.contains("//"),
            "reference to something outside the page: {r:?}"
        );
    }
    // A content security policy that forbids scripts and other hosts, as a second line.
    assert!(html.contains("default-src 'none'"));
}

/// A small tag-balance checker: every opened element is closed in order, except HTML's void
/// elements and self-closing SVG tags. Comments, the doctype and `<style>` content are skipped.
fn assert_well_formed(html: &str) {
    const VOID: [&str; 6] = ["meta", "br", "img", "hr", "input", "link"];
    let mut stack: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i..];
        if rest.starts_with("<!") {
            let end = rest.find('>').expect("declaration closed");
            rest = &rest[end + 1..];
            continue;
        }
        let end = rest.find('>').expect("tag closed");
        let tag = &rest[1..end];
        assert!(!tag.contains('<'), "'<' inside a tag: {tag:?}");
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack
                .pop()
                .unwrap_or_else(|| panic!("</{name}> closes nothing"));
            assert_eq!(open, name.trim(), "</{name}> closes <{open}>");
            continue;
        }
        let name: String = tag
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '/')
            .collect();
        if tag.ends_with('/') || VOID.contains(&name.as_str()) {
            continue;
        }
        if name == "style" {
            let close = rest.find("</style>").expect("style closed");
            rest = &rest[close + "</style>".len()..];
            continue;
        }
        stack.push(name);
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
    // Nothing unescaped outside tags: a bare '>' in text would mean a broken escape.
    let text_gt = html
        .split('<')
        .skip(1)
        .filter(|piece| !piece.starts_with("style") && !piece.starts_with('!'))
        .filter_map(|piece| piece.split_once('>').map(|(_, text)| text))
        .find(|text| text.contains('>'));
    assert_eq!(text_gt, None, "unescaped '>' in text");
}

#[test]
fn report_is_self_contained_escaped_complete_and_well_formed() {
    let e = synthetic(3000, 11);
    let a = analysis(&e, true);
    let html = talaka_report::html(&a);

    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_self_contained(&html);
    assert_well_formed(&html);

    // Names from the data come out escaped, in text and in attributes alike.
    assert!(!html.contains(EVIL) && !html.contains("<script>") && !html.contains("<img"));
    assert!(
        html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;Others&quot;")
    );
    assert!(html.contains("Test &lt;img src=x onerror=alert(1)&gt; &amp; co"));

    // Every section, with its heading, figure(s) and plain-words reading.
    for id in [
        "summary",
        "distributions",
        "integer",
        "digits",
        "shpilkin",
        "sobyanin",
        "klimek",
        "methods",
    ] {
        assert!(
            html.contains(&format!("<section id=\"{id}\"")),
            "section {id}"
        );
        assert!(
            html.contains(&format!("href=\"#{id}\"")),
            "contents entry {id}"
        );
    }
    for fig in [
        "fig-turnout",
        "fig-leader-share",
        "fig-fingerprint",
        "fig-integer-null",
        "fig-benford2",
        "fig-shpilkin",
        "fig-sobyanin",
        "fig-klimek-turnout",
    ] {
        assert!(
            html.contains(&format!("aria-labelledby=\"{fig}-t {fig}-d\"")),
            "{fig}"
        );
    }
    // Every reading of the analysis is in the summary, finding and caveat.
    for r in &a.readings {
        let esc = |s: &str| talaka_report::svg::esc(s);
        assert!(html.contains(&esc(r.test)), "{}", r.test);
        assert!(html.contains(&esc(&r.finding)), "{}", r.test);
        assert!(html.contains(&esc(&r.caveat)), "{}", r.test);
    }
    assert!(html.contains("What it does not show"));
    assert!(html.contains("not proof of fraud"));
    // Reproducible: the literature and the parameters are named.
    for s in ["Kobak", "Klimek", "Shpilkin", "Sobyanin", "Mebane"] {
        assert!(html.contains(s), "{s}");
    }
    assert!(html.contains("<dt>Monte Carlo replicates (integer test)</dt><dd>200</dd>"));
    assert!(html.contains("--mc 200 --seed 7"));
    // Numbers are formatted, never printed raw.
    for bad in ["NaN", ">inf", "∞"] {
        assert!(!html.contains(bad), "{bad}");
    }
    // Print and small screens are provided for.
    assert!(html.contains("@media print") && html.contains("name=\"viewport\""));
}

#[test]
fn report_without_klimek_leaves_its_section_out() {
    let a = analysis(&synthetic(500, 3), false);
    let html = talaka_report::html(&a);
    assert!(!html.contains("<section id=\"klimek\""));
    assert!(html.contains("<section id=\"methods\""));
    assert_self_contained(&html);
    assert_well_formed(&html);
}

#[test]
fn full_size_election_report_stays_small() {
    // 95,000 stations: the size of a Russian federal election, with a wide fingerprint.
    let e = synthetic(95_000, 5);
    let a = analysis(&e, false);
    let filled = a
        .distributions
        .fingerprint
        .by_stations
        .iter()
        .filter(|&&c| c > 0)
        .count();
    assert!(
        filled > 1500,
        "the fingerprint should be wide: {filled} cells"
    );
    let html = talaka_report::html(&a);
    assert!(html.len() < 1_000_000, "{} bytes", html.len());
    assert_well_formed(&html);
}

#[test]
fn degenerate_elections_render() {
    // One station with nobody registered, one with no ballots, one ordinary.
    let mut b = ElectionBuilder::new("tiny", vec!["A".into(), "B".into()], 0, vec!["R".into()])
        .expect("builder");
    for (v, g, r, l) in [(0u32, 0u32, 0u32, 0u32), (100, 0, 0, 0), (120, 60, 60, 40)] {
        b.push(Station {
            label: format!("{v}"),
            region: 0,
            registered: v,
            issued: g,
            cast: r,
            votes: vec![l, r - l],
        })
        .expect("station");
    }
    let a = analysis(&b.finish(), true);
    let html = talaka_report::html(&a);
    assert_self_contained(&html);
    assert_well_formed(&html);
    assert!(!html.contains("NaN"));
}

#[test]
fn real_election_report() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/russia/2018.csv.zip");
    if !path.exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{} is missing",
            path.display()
        );
        println!("skipped: {} is missing", path.display());
        return;
    }
    let e = talaka_import::read_cec_file(&path, "Путин").expect("import 2018");
    let a = analyze(&e, &AnalyzeOptions::default());
    let html = talaka_report::html(&a);
    assert!(html.len() < 2_000_000, "{} bytes", html.len());
    assert_self_contained(&html);
    assert_well_formed(&html);
    // The headline figures, as the data README gives them.
    for s in [
        "97,699",
        "109,008,428",
        "67.545 %",
        "76.694 %",
        "Путин Владимир Владимирович",
    ] {
        assert!(html.contains(s), "{s}");
    }
    assert!(html.contains("<section id=\"klimek\""));
}
