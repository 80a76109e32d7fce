"""The integer-percentage test's Monte Carlo, vectorised with NumPy: the peer Talaka's Rust
implementation is measured against (bench/forensics/run.sh runs both in one go).

Definitions as in ../shared/data/README.md (Kobak, Shpilkin & Pshenichnikov 2016): keep stations
with R > 0, V >= 100, t <= 0.99, s <= 0.99; a station is "integer" when 100*s or 100*t is within
0.05 of a whole number; null model L ~ Bin(R, s), G ~ Bin(V, t) per station.

usage: python3 integer_numpy.py DATA.csv.zip LEADER [REPLICATES]
Only the Monte Carlo is timed; reading the CSV is not (that is the importer's benchmark).
"""
import csv
import io
import sys
import time
import zipfile

import numpy as np


def load(path, leader):
    with zipfile.ZipFile(path) as z:
        name = z.namelist()[0]
        text = io.TextIOWrapper(z.open(name), encoding="utf-8")
        rows = csv.reader(text)
        header = next(rows)
        v_col = next(i for i, h in enumerate(header) if h.startswith("Число избирателей") and "в список" in h)
        g_cols = [i for i, h in enumerate(header) if "бюллетеней, выданных" in h]
        valid = next(i for i, h in enumerate(header) if h.startswith("Число действительных"))
        invalid = next(i for i, h in enumerate(header) if h.startswith("Число недействительных"))
        l_cols = [i for i, h in enumerate(header) if leader.lower() in h.lower() and not h.startswith("Число")]
        assert len(l_cols) == 1, (leader, l_cols)
        V, G, R, L = [], [], [], []
        for r in rows:
            V.append(int(r[v_col]))
            G.append(sum(int(r[i]) for i in g_cols))
            R.append(int(r[valid]) + int(r[invalid]))
            L.append(int(r[l_cols[0]]))
    return (np.array(x, dtype=np.int64) for x in (V, G, R, L))


def integer_test_mc(V, G, R, L, reps, seed=1):
    keep = (R > 0) & (V >= 100)
    V, G, R, L = V[keep], G[keep], R[keep], L[keep]
    t, s = G / V, L / R
    keep = (t <= 0.99) & (s <= 0.99)
    V, G, R, L, t, s = V[keep], G[keep], R[keep], L[keep], t[keep], s[keep]

    def integer(Lx, Gx):
        ps, pt = 100 * Lx / R, 100 * Gx / V
        return (np.abs(ps - np.round(ps)) <= 0.05) | (np.abs(pt - np.round(pt)) <= 0.05)

    observed = int(integer(L, G).sum())
    rng = np.random.default_rng(seed)
    counts = np.empty(reps, dtype=np.int64)
    for i in range(reps):
        counts[i] = integer(rng.binomial(R, s), rng.binomial(V, t)).sum()
    return len(V), observed, counts


def main():
    path, leader = sys.argv[1], sys.argv[2]
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    V, G, R, L = load(path, leader)
    t0 = time.perf_counter()
    filtered, observed, counts = integer_test_mc(V, G, R, L, reps)
    elapsed = time.perf_counter() - t0
    print(f"| NumPy {np.__version__}: {reps} replicates drawing both binomials | {elapsed * 1000:.1f} ms |")
    print(
        f"numpy: filtered {filtered} observed {observed} null mean {counts.mean():.1f} "
        f"sd {counts.std(ddof=1):.1f} excess {observed - counts.mean():.1f}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
