#!/usr/bin/env python3
"""Golden files for Geodesy's PyTorch cross-checks (tests/Geodesy.Tests/Interop/GoldenTests.cs).

Builds two small nn.Sequential models with torch.manual_seed(0), saves their state_dicts as
safetensors, their TorchScript, and a reference computation: the float32 logits on a fixed batch,
and, in float64 copies of the same weights, the logits, the mean cross-entropy and its gradient
with respect to every parameter. The safetensors files are written by the small writer in
safetensors_lite.py (the format is an 8-byte little-endian header length, a JSON header, then the
raw bytes), so the script needs only torch and numpy: `apt-get install -y python3-torch`.

Usage: python3 tools/golden/make_golden.py [OUT_DIR]   (default: tests/Geodesy.Tests/Golden)
"""
import os
import sys
import zipfile

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_lite import save_safetensors  # noqa: E402


def save_torchscript(module, path):
    """torch.jit.script + save, then drops the *.debug_pkl records (source positions for error
    messages; torch.jit.load does not need them) to keep the golden files small."""
    full = path + ".full"
    torch.jit.script(module).save(full)
    tmp = path + ".tmp"
    with zipfile.ZipFile(full) as zin, zipfile.ZipFile(tmp, "w") as zout:
        for info in zin.infolist():
            if not info.filename.endswith(".debug_pkl"):
                zout.writestr(info, zin.read(info.filename))
    os.remove(full)
    torch.jit.load(tmp)  # still loads
    os.replace(tmp, path)


def mlp():
    return nn.Sequential(nn.Linear(784, 8), nn.ReLU(), nn.Linear(8, 10))


def cnn():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(8 * 7 * 7, 10))


def reference(model, x, y):
    """float32 logits, and float64 logits, mean cross-entropy and its parameter gradients."""
    model.eval()
    with torch.no_grad():
        logits32 = model(x)
    m64 = model.double()  # exact: every float32 is a float64
    m64.eval()
    m64.zero_grad()
    logits64 = m64(x.double())
    loss = F.cross_entropy(logits64, y)
    loss.backward()
    out = {"logits_f32": logits32, "logits_f64": logits64.detach(), "loss_f64": loss.detach()}
    for name, p in m64.named_parameters():
        out["grad." + name] = p.grad.detach().clone()
    model.float()
    return out


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "Geodesy.Tests", "Golden")
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)
    meta = {"format": "pt", "torch_version": torch.__version__, "seed": "0",
            "generator": "tools/golden/make_golden.py"}

    # The fixed batch: two pixel-like images in [0, 1) (two keep the files under 200 KB).
    x = torch.rand(2, 1, 28, 28, dtype=torch.float32)
    y = torch.tensor([3, 7], dtype=torch.int64)
    save_safetensors(os.path.join(out_dir, "batch.safetensors"), {"input": x, "labels": y}, meta)

    models = {"mlp": mlp(), "cnn": cnn()}

    # Non-trivial BatchNorm: random affine parameters, and running statistics from a few
    # train-mode forward passes on shifted, scaled random images.
    net = models["cnn"]
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
        net.train()
        for _ in range(3):
            net(torch.rand(16, 1, 28, 28) * 2.0 + 0.5)

    for name, model in models.items():
        flat_input = name == "mlp"
        xin = x.reshape(x.shape[0], -1) if flat_input else x
        model.eval()
        save_safetensors(os.path.join(out_dir, f"{name}_state.safetensors"), model.state_dict(), meta)
        save_torchscript(model, os.path.join(out_dir, f"{name}_script.pt"))
        save_safetensors(os.path.join(out_dir, f"{name}_reference.safetensors"), reference(model, xin, y), meta)

    total = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
    print(f"wrote golden files to {os.path.normpath(out_dir)} ({total} bytes)")


if __name__ == "__main__":
    main()
