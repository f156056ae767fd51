#!/usr/bin/env python3
"""Golden values for Geodesy's WeightWatcher alpha and neural-collapse NC1 (numpy only).

tests/Geodesy.Tests/Measures/SpectraNc1GoldenTests.cs checks Geodesy against these brute-force
computations, written here from the definitions (not from Geodesy's code):

* alpha (Martin & Mahoney; WeightWatcher conventions): a Linear weight [out, in] is one matrix, a
  convolution [out, in, kh, kw] gives kh*kw matrices W[:, :, i, j] whose eigenvalues are pooled; each
  matrix, transposed so that N >= M, contributes the eigenvalues of X = W^T W / N (the normalized
  ESD); eigenvalues <= 1e-5 are dropped. The power law is fitted as WeightWatcher's own fitter does:
  for every candidate xmin (each sorted eigenvalue but the largest) alpha = 1 + n / sum ln(x / xmin)
  over the n eigenvalues >= xmin, and D = max_j |1 - (x_j / xmin)^(1 - alpha) - j / n|; the smallest D
  wins. The matrices are built as U diag(s) V^T with random orthonormal U, V and singular values
  s = sqrt(N lambda), lambda drawn from a Pareto law p(lambda) ~ lambda^-alpha (alpha = 2.5 for the
  Linear weight, 3 for every slice of the convolution), so their ESDs have a known power-law tail.
* NC1 (Papyan, Han & Donoho 2020): Tr(Sigma_W Sigma_B^+) / C with Sigma_W the within-class covariance
  over all N examples and Sigma_B = (1/C) sum_c (mu_c - mu_G)(mu_c - mu_G)^T, mu_G the global mean of
  all N features; the classes are imbalanced (60, 25 and 8 examples), so mu_G differs from the mean
  of the class means.

Writes tests/Geodesy.Tests/Golden/spectra_nc1.safetensors (the inputs, float64) and
tests/Geodesy.Tests/Golden/spectra_nc1.json (the golden values).

Usage: /usr/bin/python3 tools/golden/make_spectra_nc1_golden.py [OUT_DIR]
"""
import json
import os
import struct
import sys

import numpy as np

EVALS_THRESH = 1e-5
LINEAR_ALPHA, CONV_ALPHA = 2.5, 3.0


def with_pareto_spectrum(rng, rows, cols, alpha, scale=0.01):
    """A rows x cols matrix (rows >= cols) whose normalized ESD W^T W / rows is Pareto(alpha) above `scale`."""
    lam = scale * (1 + rng.pareto(alpha - 1, size=cols))      # density ~ lambda^-alpha for lambda >= scale
    u, _ = np.linalg.qr(rng.normal(size=(rows, cols)))
    v, _ = np.linalg.qr(rng.normal(size=(cols, cols)))
    return u @ np.diag(np.sqrt(rows * lam)) @ v.T


def save_f64_safetensors(path, tensors):
    """A minimal safetensors writer for float64 arrays (8-byte header length, JSON header, data)."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name], dtype="<f8").tobytes()
        header[name] = {"dtype": "F64", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def esd(weight):
    """The pooled, normalized eigenvalues of a layer, sorted ascending."""
    if weight.ndim == 4:
        mats = [weight[:, :, i, j] for i in range(weight.shape[2]) for j in range(weight.shape[3])]
    else:
        mats = [weight]
    evals = []
    for w in mats:
        if w.shape[0] < w.shape[1]:
            w = w.T
        n = w.shape[0]
        # eigenvalues of W^T W / N by a symmetric eigensolver (not an SVD), as a second route
        evals.extend(np.linalg.eigvalsh(w.T @ w / n))
    evals = np.sort(np.array(evals))
    return evals[evals > EVALS_THRESH]


def fit_power_law(x):
    """Brute force over every candidate xmin; returns (alpha, xmin, D, tail)."""
    x = np.sort(x)
    best = None
    for k in range(len(x) - 1):
        tail = x[k:]
        n = len(tail)
        s = np.sum(np.log(tail / x[k]))
        if s <= 0:
            continue
        alpha = 1 + n / s
        if alpha > 1:
            d = max(abs(1 - (tail[j] / x[k]) ** (1 - alpha) - j / n) for j in range(n))
        else:
            d = 1.0
        if best is None or d < best[2]:
            best = (alpha, x[k], d, n)
    return best


def nc1(h, y, classes):
    n, dim = h.shape
    mu_g = h.mean(axis=0)
    sigma_w = np.zeros((dim, dim))
    sigma_b = np.zeros((dim, dim))
    present = [c for c in range(classes) if np.any(y == c)]
    for c in present:
        hc = h[y == c]
        mu_c = hc.mean(axis=0)
        for row in hc:
            d = (row - mu_c)[:, None]
            sigma_w += d @ d.T
        d = (mu_c - mu_g)[:, None]
        sigma_b += d @ d.T
    sigma_w /= n
    sigma_b /= len(present)
    return float(np.trace(sigma_w @ np.linalg.pinv(sigma_b, hermitian=True)) / len(present))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "tests", "Geodesy.Tests", "Golden")
    rng = np.random.default_rng(2020)
    linear = with_pareto_spectrum(rng, 200, 100, LINEAR_ALPHA)
    conv = np.zeros((16, 12, 3, 3))
    for i in range(3):
        for j in range(3):
            conv[:, :, i, j] = with_pareto_spectrum(rng, 16, 12, CONV_ALPHA)
    counts = [60, 25, 8]
    labels = np.concatenate([np.full(c, k) for k, c in enumerate(counts)]).astype(np.float64)
    centres = rng.normal(size=(3, 5)) * 2.0
    features = np.concatenate([centres[k] + rng.normal(size=(c, 5)) * (0.5 + 0.3 * k) for k, c in enumerate(counts)])

    golden = {"layers": {}}
    for name, w in [("linear", linear), ("conv", conv)]:
        ev = esd(w)
        alpha, xmin, d, tail = fit_power_law(ev)
        golden["layers"][name] = {"true_alpha": LINEAR_ALPHA if name == "linear" else CONV_ALPHA, "eigenvalues": int(len(ev)), "lambda_max": float(ev[-1]), "alpha": float(alpha),
                                  "xmin": float(xmin), "ks": float(d), "tail": int(tail)}
    golden["nc1"] = nc1(features, labels.astype(int), 3)
    # the same with the mean of the class means in place of the global mean (what NC1 must NOT equal)
    golden["nc1_mean_of_class_means"] = None
    means = np.stack([features[labels == k].mean(axis=0) for k in range(3)])
    mc = means - means.mean(axis=0)
    sb = mc.T @ mc / 3
    within = sum(((features[labels == k] - means[k]).T @ (features[labels == k] - means[k])) for k in range(3)) / len(labels)
    golden["nc1_mean_of_class_means"] = float(np.trace(within @ np.linalg.pinv(sb, hermitian=True)) / 3)
    golden["generator"] = "numpy.random.default_rng(2020), numpy " + np.__version__

    save_f64_safetensors(os.path.join(out, "spectra_nc1.safetensors"),
                         {"linear": linear, "conv": conv, "features": features, "labels": labels})
    with open(os.path.join(out, "spectra_nc1.json"), "w") as f:
        json.dump(golden, f, indent=2, sort_keys=True)
        f.write("\n")
    print(json.dumps(golden, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
