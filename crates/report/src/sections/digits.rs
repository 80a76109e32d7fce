//! Digit tests: second-digit Benford, last digit, numbers ending in 0 or 5.

use crate::fmt::{fixed, int, pval};
use crate::page::{Section, Table};
use crate::svg::{Layer, Plot, Style, palette};
use talaka_forensics::digits::{Benford2, LastDigit, ZeroFive, ZeroFiveShare};

/// Observed digit proportions (bars) against the expected ones (dashed outline), in percent.
fn digit_figure(
    id: &str,
    title: &str,
    desc: &str,
    x_label: &str,
    counts: &[u64; 10],
    expected: &[f64; 10],
    expected_label: &str,
) -> String {
    let n: u64 = counts.iter().sum();
    let observed: Vec<f64> = counts
        .iter()
        .map(|&c| {
            if n == 0 {
                0.0
            } else {
                100.0 * c as f64 / n as f64
            }
        })
        .collect();
    let expected: Vec<f64> = expected.iter().map(|p| 100.0 * p).collect();
    Plot::new(id, title, desc)
        .size(440.0, 260.0)
        .x(x_label, -0.5, 9.5)
        .x_ticks((0..10).map(f64::from).collect())
        .y_auto("% of counts")
        .layer(Layer::histogram(
            "observed",
            palette(0),
            Style::Bars,
            -0.5,
            9.5,
            observed,
        ))
        .layer(Layer::histogram(
            expected_label,
            palette(1),
            Style::DashedStep,
            -0.5,
            9.5,
            expected,
        ))
        .render()
}

fn zero_five_row(name: &str, z: &ZeroFiveShare) -> Vec<String> {
    vec![
        name.to_owned(),
        int(z.n as f64),
        int(z.observed as f64),
        fixed(100.0 * z.share, 2),
        fixed(100.0 * z.expected, 1),
        fixed(z.z, 1),
        pval(z.p_value),
    ]
}

pub(crate) fn section(
    leader_b2: &Benford2,
    b2: &[Benford2],
    last: &[LastDigit],
    zf: &ZeroFive,
    leader: &str,
) -> Section {
    let leader_last = last.iter().find(|l| l.option == leader);
    let mut figs = vec![digit_figure(
        "fig-benford2",
        &format!("Second digits of the vote counts for {leader}"),
        &format!(
            "Share of the vote counts of 10 or more for {leader} with each second digit, against \
             Benford's second-digit law."
        ),
        "second digit",
        &leader_b2.counts,
        &leader_b2.expected,
        "Benford's law",
    )];
    if let Some(l) = leader_last {
        figs.push(digit_figure(
            "fig-last-digit",
            &format!("Last digits of the vote counts for {leader}"),
            &format!(
                "Share of the vote counts of {} or more for {leader} with each last digit, against \
                 the uniform 10 %.",
                l.min_count
            ),
            "last digit",
            &l.counts,
            &[0.1; 10],
            "uniform",
        ));
    }

    let by_option = Table {
        caption: "Second-digit (Benford) and last-digit tests, every option".to_owned(),
        head: [
            "Option",
            "2BL: counts ≥ 10",
            "2BL mean (4.187)",
            "2BL χ² (9 d.f.)",
            "2BL p",
            "last digit: counts",
            "last-digit mean (4.5)",
            "last-digit χ²",
            "last-digit p",
        ]
        .map(str::to_owned)
        .to_vec(),
        rows: b2
            .iter()
            .map(|b| {
                let l = last.iter().find(|l| l.option == b.option);
                let mut row = vec![
                    b.option.clone(),
                    int(b.n as f64),
                    fixed(b.mean, 4),
                    fixed(b.chi2, 1),
                    pval(b.p_value),
                ];
                match l {
                    Some(l) => row.extend([
                        int(l.n as f64),
                        fixed(l.mean, 3),
                        fixed(l.chi2, 1),
                        pval(l.p_value),
                    ]),
                    None => row.extend(["–"; 4].map(str::to_owned)),
                }
                row
            })
            .collect(),
    };
    let zero_five = Table {
        caption: "Numbers ending in 0 or 5".to_owned(),
        head: [
            "Numbers",
            "tested",
            "ending in 0 or 5",
            "share, %",
            "expected, %",
            "z",
            "p",
        ]
        .map(str::to_owned)
        .to_vec(),
        rows: vec![
            zero_five_row("All options' counts ≥ 100", &zf.counts),
            zero_five_row("The leader's counts ≥ 100", &zf.leader_counts),
            zero_five_row("Turnout rounded to a whole %", &zf.turnout_percent),
            zero_five_row(
                "The leader's share rounded to a whole %",
                &zf.leader_percent,
            ),
        ],
    };
    let main = Table::pairs(
        &format!("Second-digit test, {leader}"),
        vec![
            ("Counts tested (≥ 10)", int(leader_b2.n as f64)),
            ("Mean second digit", fixed(leader_b2.mean, 4)),
            ("Benford's mean", fixed(leader_b2.expected_mean, 3)),
            ("z of the mean", fixed(leader_b2.mean_z, 1)),
            ("χ²", fixed(leader_b2.chi2, 1)),
            ("Degrees of freedom", leader_b2.df.to_string()),
            ("p-value", pval(leader_b2.p_value)),
        ],
    );

    let mut sec = Section::new("digits", "Digit tests")
        .para(
            "People who invent numbers choose digits unlike counting does. The second-digit \
             test (2BL, Mebane) compares the second digits of the vote counts with Benford's \
             law; the last digit of counts of 100 or more should be uniform; and counts or \
             rounded percentages ending in 0 or 5 should make up about a fifth.",
        )
        .multiples(
            figs,
            format!(
                "Left: second digits of the counts for {leader} (bars) against Benford's law (dashed). \
                 Right: last digits against the uniform 10 % (dashed)."
            ),
        )
        .table(main);
    let r = leader_b2.reading();
    sec = sec.reading(r.finding, r.caveat);
    if let Some(l) = leader_last {
        let r = l.reading();
        sec = sec.reading(r.finding, r.caveat);
    }
    let r = zf.reading();
    sec.table(by_option)
        .table(zero_five)
        .reading(r.finding, r.caveat)
}
