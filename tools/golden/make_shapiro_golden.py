#!/usr/bin/env python3
"""Writes tests/Geodesy.Tests/Golden/shapiro_wilk.json: samples with SciPy's Shapiro-Wilk W and p
(scipy.stats.shapiro, algorithm AS R94), the reference of Geodesy.Core.Stats.ShapiroWilk.
Run: /usr/bin/python3 tools/golden/make_shapiro_golden.py [OUT_FILE]   (Debian: python3-scipy)"""
import json
import sys

import numpy as np
from scipy import stats

rng = np.random.default_rng(20191021)
cases = []
for n in [3, 4, 5, 6, 7, 11, 12, 20, 50, 200, 1000]:
    cases.append(("normal", rng.normal(size=n)))
cases.append(("exponential", rng.exponential(size=30)))
cases.append(("uniform", rng.uniform(size=100)))
cases.append(("cauchy", rng.standard_cauchy(size=64)))
cases.append(("student-t3", rng.standard_t(3, size=500)))
out = []
for kind, x in cases:
    w, p = stats.shapiro(x)
    out.append({"kind": kind, "n": len(x), "sample": [float(v) for v in x], "w": float(w), "p": float(p)})
path = sys.argv[1] if len(sys.argv) > 1 else "tests/Geodesy.Tests/Golden/shapiro_wilk.json"
with open(path, "w") as f:
    json.dump({"scipy": __import__("scipy").__version__, "cases": out}, f)
print(f"wrote {len(out)} cases to {path}")
