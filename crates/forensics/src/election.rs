//! One election's polling-station results, stored by column: a ~95,000-station election takes
//! a few megabytes, proportional to the number of stations.

/// One station's protocol figures, as given to [`ElectionBuilder::push`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Station {
    /// A label that identifies the station to a person, e.g. `Республика Адыгея / 1 Адыгейская / 12`.
    pub label: String,
    /// Index into [`Election::regions`].
    pub region: u32,
    /// V: registered voters.
    pub registered: u32,
    /// G: ballots issued (early, at the station, outside the station).
    pub issued: u32,
    /// R: ballots cast, valid plus invalid.
    pub cast: u32,
    /// Votes per option, in the order of [`Election::options`].
    pub votes: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElectionError {
    #[error("an election needs at least one option")]
    NoOptions,
    #[error("leader index {leader} is out of range ({options} options)")]
    LeaderOutOfRange { leader: usize, options: usize },
    #[error("station {label:?}: {found} vote counts for {expected} options")]
    WrongVoteCount {
        label: String,
        expected: usize,
        found: usize,
    },
    #[error("station {label:?}: region {region} is not one of the {regions} regions")]
    UnknownRegion {
        label: String,
        region: u32,
        regions: usize,
    },
}

/// Polling-station results, column by column.
#[derive(Clone, Debug, PartialEq)]
pub struct Election {
    pub name: String,
    /// Candidate, party or answer names.
    pub options: Vec<String>,
    /// The option whose votes the tests examine (the incumbent, the ruling party, "yes").
    pub leader: usize,
    pub regions: Vec<String>,
    pub labels: Vec<String>,
    pub region: Vec<u32>,
    pub registered: Vec<u32>,
    pub issued: Vec<u32>,
    pub cast: Vec<u32>,
    /// `votes[option][station]`.
    pub votes: Vec<Vec<u32>>,
}

impl Election {
    pub fn len(&self) -> usize {
        self.registered.len()
    }

    pub fn is_empty(&self) -> bool {
        self.registered.is_empty()
    }

    pub fn leader_votes(&self) -> &[u32] {
        &self.votes[self.leader]
    }

    pub fn leader_name(&self) -> &str {
        &self.options[self.leader]
    }

    /// Σ V.
    pub fn total_registered(&self) -> u64 {
        self.registered.iter().map(|&v| u64::from(v)).sum()
    }

    /// Σ G / Σ V, as a fraction.
    pub fn turnout(&self) -> f64 {
        let g: u64 = self.issued.iter().map(|&v| u64::from(v)).sum();
        ratio(g, self.total_registered())
    }

    /// Σ L / Σ R for `option`, as a fraction.
    pub fn share(&self, option: usize) -> f64 {
        let l: u64 = self.votes[option].iter().map(|&v| u64::from(v)).sum();
        let r: u64 = self.cast.iter().map(|&v| u64::from(v)).sum();
        ratio(l, r)
    }

    /// The same election with its stations in another order (`order[i]` = old index).
    pub fn permuted(&self, order: &[usize]) -> Election {
        let pick = |col: &[u32]| order.iter().map(|&i| col[i]).collect::<Vec<_>>();
        Election {
            name: self.name.clone(),
            options: self.options.clone(),
            leader: self.leader,
            regions: self.regions.clone(),
            labels: order.iter().map(|&i| self.labels[i].clone()).collect(),
            region: pick(&self.region),
            registered: pick(&self.registered),
            issued: pick(&self.issued),
            cast: pick(&self.cast),
            votes: self.votes.iter().map(|c| pick(c)).collect(),
        }
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Builds an [`Election`] station by station, checking each one.
#[derive(Debug)]
pub struct ElectionBuilder {
    e: Election,
}

impl ElectionBuilder {
    pub fn new(
        name: impl Into<String>,
        options: Vec<String>,
        leader: usize,
        regions: Vec<String>,
    ) -> Result<Self, ElectionError> {
        if options.is_empty() {
            return Err(ElectionError::NoOptions);
        }
        if leader >= options.len() {
            return Err(ElectionError::LeaderOutOfRange {
                leader,
                options: options.len(),
            });
        }
        let n = options.len();
        Ok(Self {
            e: Election {
                name: name.into(),
                options,
                leader,
                regions,
                labels: Vec::new(),
                region: Vec::new(),
                registered: Vec::new(),
                issued: Vec::new(),
                cast: Vec::new(),
                votes: vec![Vec::new(); n],
            },
        })
    }

    pub fn with_capacity(mut self, stations: usize) -> Self {
        self.e.labels.reserve(stations);
        self.e.region.reserve(stations);
        self.e.registered.reserve(stations);
        self.e.issued.reserve(stations);
        self.e.cast.reserve(stations);
        for c in &mut self.e.votes {
            c.reserve(stations);
        }
        self
    }

    pub fn push(&mut self, s: Station) -> Result<(), ElectionError> {
        if s.votes.len() != self.e.options.len() {
            return Err(ElectionError::WrongVoteCount {
                label: s.label,
                expected: self.e.options.len(),
                found: s.votes.len(),
            });
        }
        if s.region as usize >= self.e.regions.len().max(1) {
            return Err(ElectionError::UnknownRegion {
                label: s.label,
                region: s.region,
                regions: self.e.regions.len(),
            });
        }
        self.e.labels.push(s.label);
        self.e.region.push(s.region);
        self.e.registered.push(s.registered);
        self.e.issued.push(s.issued);
        self.e.cast.push(s.cast);
        for (col, v) in self.e.votes.iter_mut().zip(s.votes) {
            col.push(v);
        }
        Ok(())
    }

    pub fn finish(self) -> Election {
        self.e
    }
}

/// A two-option election ("L", "O") from `(V, G, R, L)` rows, for unit tests.
#[cfg(test)]
pub(crate) fn two_option(rows: &[(u32, u32, u32, u32)]) -> Election {
    let mut b = ElectionBuilder::new("t", vec!["L".into(), "O".into()], 0, vec!["R".into()])
        .expect("builder");
    for (i, &(v, g, r, l)) in rows.iter().enumerate() {
        b.push(Station {
            label: i.to_string(),
            region: 0,
            registered: v,
            issued: g,
            cast: r,
            votes: vec![l, r - l],
        })
        .expect("push");
    }
    b.finish()
}
