//! How the numbers were computed, the literature, and the parameters to reproduce them.

use crate::page::Section;
use crate::svg::esc;
use std::fmt::Write as _;

/// What a reader needs to recompute the report.
pub(crate) struct Params {
    pub mc_replicates: u32,
    pub seed: u64,
    pub klimek: bool,
}

const METHODS: &[(&str, &str)] = &[
    (
        "Definitions",
        "V = registered voters, G = ballots issued, R = ballots cast (valid + invalid), L = \
         votes for the leader. Turnout t = G/V, leader share s = L/R (Kobak, Shpilkin & \
         Pshenichnikov 2016). Percentages are binned exactly in integer arithmetic; turnouts of \
         100 % and above go into the last bin.",
    ),
    (
        "Integer percentages",
        "Stations with R > 0, V ≥ 100, t ≤ 0.99 and s ≤ 0.99 are tested; a station is integer \
         when 100·t or 100·s is within 0.05 of a whole number. Null model: L ~ Bin(R, s) and G ~ \
         Bin(V, t) independently per station. The null count is a sum of independent Bernoulli \
         variables, computed exactly and by a seeded Monte Carlo simulation.",
    ),
    (
        "Second-digit Benford (2BL)",
        "The second digits of each option's counts of 10 or more against Benford's \
         second-digit law (mean 4.187), χ² with 9 degrees of freedom (Mebane). Last digits of \
         counts of 100 or more against the uniform distribution; shares of counts and rounded \
         percentages ending in 0 or 5 against 20 %.",
    ),
    (
        "Shpilkin's method",
        "1 % turnout bins; the clean peak is the bin with the most ballots at or below the \
         official turnout; the leader's share there is the clean share; above the peak the \
         leader is expected to get the clean share's ratio to the other ballots, and the \
         difference is the anomalous vote.",
    ),
    (
        "Sobyanin–Sukhovolsky",
        "Weighted least squares (weights V) of L/V, and of the other options' votes per V, \
         on turnout G/V across stations.",
    ),
    (
        "Klimek et al. model",
        "Fair turnout and share drawn from truncated normal distributions around the observed \
         main peaks; incremental fraud (fraction f_i, intensity |N(0, θ)|) and extreme fraud \
         (fraction f_e) stuff ballots and move opponents' votes (exponent α); parameters fitted \
         on a grid by the distance between simulated and observed turnout × share histograms.",
    ),
];

const REFERENCES: &[&str] = &[
    "Kobak, D., Shpilkin, S. & Pshenichnikov, M. S. (2016). Integer percentages as electoral \
     falsification fingerprints. Annals of Applied Statistics 10(1), 54–73.",
    "Kobak, D., Shpilkin, S. & Pshenichnikov, M. S. (2016, 2018). Statistical fingerprints of \
     electoral fraud? / Putin's peaks. Significance 13(4) and 15(4).",
    "Klimek, P., Yegorov, Y., Hanel, R. & Thurner, S. (2012). Statistical detection of systematic \
     election irregularities. PNAS 109(41), 16469–16473.",
    "Shpilkin, S. (2009–2018). Statistical analyses of Russian federal elections (turnout-bin \
     estimates of anomalous votes), published in Gazeta.ru, Novaya Gazeta and on his blog.",
    "Sobyanin, A. A. & Sukhovolsky, V. G. (1995). Democracy restricted by falsifications: \
     elections and referendums in Russia 1991–1993 (in Russian). Moscow.",
    "Mebane, W. R. (2006, 2011). Election forensics: the second-digit Benford's law test and \
     recent American presidential elections; Comment on \"Benford's law and the detection of \
     election fraud\". Political Analysis 19(3), 269–272.",
];

pub(crate) fn section(p: &Params) -> Section {
    let mut dl = String::from("<dl class=\"params\">");
    for (term, text) in METHODS {
        let _ = write!(dl, "<dt>{}</dt><dd>{}</dd>", esc(term), esc(text));
    }
    dl.push_str("</dl>");

    let mut refs = String::from("<h3>References</h3><ol>");
    for r in REFERENCES {
        let _ = write!(refs, "<li>{}</li>", esc(r));
    }
    refs.push_str("</ol>");

    let mut params = String::from("<h3>Parameters</h3><dl class=\"params\">");
    for (k, v) in [
        (
            "Monte Carlo replicates (integer test)",
            if p.mc_replicates == 0 {
                "0 (Monte Carlo not run)".to_owned()
            } else {
                p.mc_replicates.to_string()
            },
        ),
        (
            "Seed (Monte Carlo and model simulations)",
            p.seed.to_string(),
        ),
        (
            "Klimek et al. model",
            if p.klimek { "fitted" } else { "not run" }.to_owned(),
        ),
        (
            "Command",
            format!(
                "talaka analyze FILE --leader NAME --mc {} --seed {}{}",
                p.mc_replicates,
                p.seed,
                if p.klimek { "" } else { " --no-klimek" }
            ),
        ),
        (
            "Random generator",
            "xoshiro256++, seeded; results do not depend on the number of threads".to_owned(),
        ),
    ] {
        let _ = write!(params, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v));
    }
    params.push_str("</dl>");

    Section::new("methods", "Methods, parameters and references")
        .para(
            "Every number in this report is computed from the polling-station results alone; \
             the same input file, options and seeds reproduce it exactly.",
        )
        .html(dl)
        .html(params)
        .html(refs)
}
