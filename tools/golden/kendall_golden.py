#!/usr/bin/env python3
"""Golden values for Geodesy's Kendall tau: tests/Geodesy.Tests/Golden/kendall.json.

Run with Debian's scipy (apt-get install -y python3-scipy):
    /usr/bin/python3 tools/golden/kendall_golden.py [OUT_FILE]

For each case it records scipy.stats.kendalltau's tau-b and two-sided p-value with method="auto"
(exact null distribution without ties for n <= 33, else the tie-corrected normal approximation),
and tau-a = (C - D) / (n(n-1)/2) computed from tau-b and numpy's tie counts, since scipy has no
tau-a: tau-b = (C - D) / sqrt((n0 - n1)(n0 - n2)).
"""
import json
import os
import sys

import numpy as np
import scipy
from scipy import stats


def tie_pairs(v):
    _, counts = np.unique(v, return_counts=True)
    return int(np.sum(counts * (counts - 1) // 2))


def case(name, x, y):
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = len(x)
    res = stats.kendalltau(x, y, method="auto")
    n0 = n * (n - 1) // 2
    n1, n2 = tie_pairs(x), tie_pairs(y)
    tau_a = float(res.statistic) * np.sqrt(float(n0 - n1) * float(n0 - n2)) / n0
    exact = n1 == 0 and n2 == 0 and n <= 33
    return {
        "name": name,
        "x": x.tolist(),
        "y": y.tolist(),
        "tau_b": float(res.statistic),
        "tau_a": float(tau_a),
        "p_value": float(res.pvalue),
        "method": "exact" if exact else "asymptotic",
    }


def gap_like(rng, n):
    """A measure and a gap rounded like accuracies, correlated, with ties in both."""
    gap = np.round(rng.normal(0.05, 0.02, n), 3)
    return np.round(gap + rng.normal(0, 0.01, n), 2), gap


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "..", "tests", "Geodesy.Tests", "Golden", "kendall.json")
    rng = np.random.default_rng(20200101)
    cases = [
        case("untied-n5", [1, 2, 3, 4, 5], [3, 1, 2, 5, 4]),
        case("untied-n12", rng.permutation(12), rng.permutation(12)),
        case("untied-n33-correlated", np.arange(33), np.arange(33) + rng.normal(0, 8, 33)),
        case("untied-n34-asymptotic", np.arange(34), np.arange(34) + rng.normal(0, 8, 34)),
        case("untied-n60", rng.normal(size=60), rng.normal(size=60)),
        case("ties-n4", [1, 2, 2, 3], [1, 3, 2, 2]),
        case("ties-n20-small-alphabet", rng.integers(0, 4, 20), rng.integers(0, 3, 20)),
        case("ties-n27-gap-like", *gap_like(rng, 27)),
        case("ties-both-n50", rng.integers(0, 6, 50), rng.integers(0, 6, 50)),
        case("ties-x-only-n15", rng.integers(0, 3, 15), rng.permutation(15)),
    ]
    doc = {"generator": "tools/golden/kendall_golden.py", "scipy": scipy.__version__, "numpy": np.__version__, "cases": cases}
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {out}")


if __name__ == "__main__":
    main()
