#!/usr/bin/python3
"""PyTorch side of `geodesy bench peer` (docs/bench.md).

Geodesy writes the embedded digits (.npy), the weights (.safetensors, PyTorch names) and a job
file into one folder, starts `/usr/bin/python3 peer.py JOB.json` and then asks for one work item
at a time on stdin, one JSON object per line:

    {"item": "grad", "warmup": false}

and reads one JSON line back per request: {"item": ..., "ms": ..., "detail": {...}}, or
{"error": "..."} before exiting with status 1. The first line written is
{"ready": true, "libraries": {...}} once the data and models are loaded.

Two more modes serve the peak-memory pair, each job in a process of its own:
`peer.py memory-job JOB.json RESULT.json` runs PyHessian's eigenvalues() and trace() on the cnn in
its full-dataset mode, and `peer.py peak-memory COMMAND...` runs COMMAND as its only child and
prints {"exit_code", "seconds", "peak_rss_kb" (ru_maxrss of that child), "last_stderr"}.

The work mirrors what Geodesy does for the same item (see PeerBenchmark.cs); the curvature items
follow PyHessian (Yao, Gholami, Keutzer & Mahoney 2020, github.com/amirgholami/PyHessian,
pyhessian/hessian.py): its power iteration with deflation (eigenvalues(), maxIter=100, tol=1e-3)
and its Hutchinson loop on a gradient graph kept once per batch (create_graph=True).

Needs Debian's python3-torch and python3-numpy (bench/peer/run.sh installs them); safetensors
files are read by the small reader below, so the `safetensors` package is not needed.
"""

import json
import os
import resource
import struct
import subprocess
import sys
import time


# ---------------------------------------------------------------------------------------------
# Peak memory of one job, needs only the standard library (so the parent holds no torch itself).


def peak_memory(command):
    """Runs command as a child and prints one JSON line: its exit code, wall seconds and peak
    resident memory (ru_maxrss of the waited-for child, kB on Linux) and its last stderr line."""
    t = time.perf_counter()
    done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seconds = time.perf_counter() - t
    lines = [line for line in done.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    sys.stdout.write(json.dumps({"exit_code": done.returncode, "seconds": seconds,
                                 "peak_rss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                                 "last_stderr": lines[-1] if lines else None}) + "\n")
    return 0


if __name__ == "__main__" and len(sys.argv) >= 3 and sys.argv[1] == "peak-memory":
    sys.exit(peak_memory(sys.argv[2:]))

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as missing:  # one JSON line Geodesy turns into its error message
    sys.stdout.write(json.dumps({"error": f"{missing}: install Debian's python3-torch, python3-numpy and "
                                          "libopenblas0-openmp (bench/peer/run.sh does it with apt-get)"}) + "\n")
    sys.exit(1)

# ---------------------------------------------------------------------------------------------
# Files


_SAFETENSORS_DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32}


def read_safetensors(path):
    """{name: torch tensor} from a safetensors file: u64 header length, JSON header, raw data."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    (header_len,) = struct.unpack("<Q", blob[:8])
    if header_len > len(blob) - 8:
        raise ValueError(f"{path}: header length {header_len} exceeds the file")
    header = json.loads(blob[8:8 + header_len].decode("utf-8"))
    data = memoryview(blob)[8 + header_len:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype = _SAFETENSORS_DTYPES.get(entry["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {entry['dtype']}")
        start, end = entry["data_offsets"]
        if not 0 <= start <= end <= len(data):
            raise ValueError(f"{path}: tensor {name} has offsets {start}..{end} outside the data")
        count = int(np.prod(entry["shape"])) if entry["shape"] else 1
        if (end - start) != count * np.dtype(dtype).itemsize:
            raise ValueError(f"{path}: tensor {name} has {end - start} bytes for shape {entry['shape']}")
        array = np.frombuffer(data[start:end], dtype=dtype).reshape(entry["shape"])
        tensors[name] = torch.from_numpy(array.copy())
    return tensors


def load_npy(folder, name):
    return torch.from_numpy(np.load(os.path.join(folder, name)))


# ---------------------------------------------------------------------------------------------
# Models: the two architectures the benchmark uses, as nn.Sequential with Geodesy's names.


def build_model(arch):
    """mlp:784-H...-10 (ReLU) or cnn (Geodesy's default: channels 16-32, kernel 3, max pool)."""
    if arch.startswith("mlp:"):
        sizes = [int(s) for s in arch[4:].split("-")]
        layers = []
        for i in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers), True
    if arch == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 7 * 7, 10)), False
    raise ValueError(f"peer.py knows mlp:A-B-...-C and cnn, not '{arch}'")


class Problem:
    """A model with Geodesy's weights and a fixed batch, as Geodesy's CurvatureProblem sees it (eval mode)."""

    def __init__(self, folder, spec):
        self.model, self.flatten = build_model(spec["arch"])
        self.model.load_state_dict(read_safetensors(os.path.join(folder, spec["weights"])), strict=True)
        self.model.eval()
        self.params = [p for p in self.model.parameters()]
        x = load_npy(folder, spec["inputs"])
        self.x = x.reshape(x.shape[0], -1) if self.flatten else x
        self.y = load_npy(folder, spec["labels"])
        self.v = [t.contiguous() for t in unflatten(load_npy(folder, spec["vector"]), self.params)] if "vector" in spec else None

    def loss(self, x=None, y=None):
        return F.cross_entropy(self.model(self.x if x is None else x), self.y if y is None else y)

    def kept_graph(self):
        """The gradient with its graph kept, as PyHessian's hessian() builds it for a single batch."""
        return torch.autograd.grad(self.loss(), self.params, create_graph=True)


def unflatten(flat, like):
    out, offset = [], 0
    for p in like:
        n = p.numel()
        out.append(flat[offset:offset + n].view_as(p))
        offset += n
    if offset != flat.numel():
        raise ValueError(f"vector has {flat.numel()} entries, the model {offset} parameters")
    return out


def dot(xs, ys):
    return sum(torch.sum(a * b) for a, b in zip(xs, ys))


def normalized(v):
    # PyHessian's normalization(): divide by (norm + 1e-6).
    s = dot(v, v).sqrt().item()
    return [t / (s + 1e-6) for t in v]


# ---------------------------------------------------------------------------------------------
# Work items: each returns (milliseconds, detail).


def median(values):
    s = sorted(values)
    m = len(s) // 2
    return s[m] if len(s) % 2 else 0.5 * (s[m - 1] + s[m])


def repeated(job, work):
    """Median milliseconds of `work` over job's reps after its warm-up repetitions."""
    for _ in range(job["warmup_reps"]):
        work()
    times = []
    result = None
    for _ in range(job["reps"]):
        t = time.perf_counter()
        result = work()
        times.append((time.perf_counter() - t) * 1e3)
    return median(times), times, result


def item_train(ctx, warmup):
    spec = ctx.job["train"]
    folder = ctx.folder
    model, flatten = build_model(spec["arch"])
    model.load_state_dict(read_safetensors(os.path.join(folder, spec["init"])), strict=True)
    x_train, y_train = ctx.train_data
    x_test, y_test = ctx.test_data
    perms = ctx.perms
    epochs = 1 if warmup else spec["epochs"]
    batch, eval_batch = spec["batch"], spec["eval_batch"]
    opt = torch.optim.SGD(model.parameters(), lr=spec["lr"], momentum=spec["momentum"])

    def evaluate(x, y):
        # As Geodesy's Evaluation.Evaluate: eval mode, no grad, summed loss and correct count.
        model.eval()
        loss_sum, correct = 0.0, 0
        with torch.no_grad():
            for s in range(0, x.shape[0], eval_batch):
                logits = model(x[s:s + eval_batch])
                loss_sum += F.cross_entropy(logits, y[s:s + eval_batch], reduction="sum").item()
                correct += (logits.argmax(1) == y[s:s + eval_batch]).sum().item()
        return loss_sum / x.shape[0], correct / x.shape[0]

    t = time.perf_counter()
    # Geodesy's trainer evaluates train and test before the first epoch and after every epoch.
    evaluate(x_train, y_train)
    evaluate(x_test, y_test)
    n = x_train.shape[0]
    for epoch in range(epochs):
        model.train()
        perm = perms[epoch]
        for s in range(0, n, batch):
            idx = perm[s:s + batch]
            xb, yb = x_train.index_select(0, idx), y_train.index_select(0, idx)
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            batch_loss = loss.item()  # Geodesy reads each step's loss (divergence check)
            if batch_loss != batch_loss:
                raise RuntimeError(f"training diverged at epoch {epoch + 1}")
            loss.backward()
            opt.step()
        train_loss, train_acc = evaluate(x_train, y_train)
        test_loss, test_acc = evaluate(x_test, y_test)
    ms = (time.perf_counter() - t) * 1e3
    return ms, {"epochs": epochs, "final_train_loss": train_loss, "train_accuracy": train_acc,
                "test_loss": test_loss, "test_accuracy": test_acc}


def item_grad(ctx, warmup):
    p = ctx.mlp

    def work():
        loss = p.loss()
        g = torch.autograd.grad(loss, p.params)
        return loss.item(), g

    ms, times, (loss, g) = repeated(ctx.job, work)
    return ms, {"reps_ms": times, "loss": loss, "gradient_norm": dot(g, g).sqrt().item()}


def item_hvp(ctx, warmup):
    """Double backprop from scratch: forward, gradient with graph, then its product with v."""
    p = ctx.mlp

    def work():
        g = torch.autograd.grad(p.loss(), p.params, create_graph=True)
        return torch.autograd.grad(g, p.params, grad_outputs=p.v)

    ms, times, hv = repeated(ctx.job, work)
    return ms, {"reps_ms": times, "method": "double-backprop", "vHv": dot(hv, p.v).item(), "hv_norm": dot(hv, hv).sqrt().item()}


def item_hvp_repeated(ctx, warmup):
    """PyHessian's product on a single batch: the gradient graph built once, reused (retain_graph)."""
    p = ctx.mlp
    g = p.kept_graph()

    def work():
        return torch.autograd.grad(g, p.params, grad_outputs=p.v, retain_graph=True)

    ms, times, hv = repeated(ctx.job, work)
    return ms, {"reps_ms": times, "method": "kept-graph", "vHv": dot(hv, p.v).item(), "hv_norm": dot(hv, hv).sqrt().item()}


def pyhessian_eigenvalues(problem, top_n, max_iter, tol, seed):
    """PyHessian's hessian(model, criterion, data=(x, y)).eigenvalues(maxIter, tol, top_n)."""
    torch.manual_seed(seed)
    g = problem.kept_graph()
    eigenvalues, eigenvectors, products = [], [], 0
    while len(eigenvalues) < top_n:
        eigenvalue = None
        v = normalized([torch.randn(q.size()) for q in problem.params])
        for _ in range(max_iter):
            for u in eigenvectors:  # orthnormal(): Gram-Schmidt against the vectors found, then normalize
                c = dot(v, u)
                v = [a - c * b for a, b in zip(v, u)]
            v = normalized(v)
            hv = torch.autograd.grad(g, problem.params, grad_outputs=v, retain_graph=True)
            products += 1
            tmp = dot(hv, v).item()
            v = normalized(hv)
            if eigenvalue is None:
                eigenvalue = tmp
            elif abs(eigenvalue - tmp) / (abs(eigenvalue) + 1e-6) < tol:
                break
            else:
                eigenvalue = tmp
        eigenvalues.append(eigenvalue)
        eigenvectors.append(v)
    return eigenvalues, products


def eigen_item(problem, spec, warmup):
    top_n, max_iter = (1, 3) if warmup else (spec["k"], spec["max_iter"])
    t = time.perf_counter()
    values, products = pyhessian_eigenvalues(problem, top_n, max_iter, spec["tol"], spec["seed"])
    ms = (time.perf_counter() - t) * 1e3
    return ms, {"method": "power-iteration (PyHessian eigenvalues())", "eigenvalues": values, "matvecs": products,
                "max_iter": max_iter, "tol": spec["tol"]}


def item_eigen_top10(ctx, warmup):
    return eigen_item(ctx.mlp, ctx.job["curvature"], warmup)


def item_eigen_top10_cnn(ctx, warmup):
    return eigen_item(ctx.cnn, ctx.job["cnn"], warmup)


def item_trace_hutchinson(ctx, warmup):
    """PyHessian's trace() loop on the kept graph, with a fixed number of Rademacher probes."""
    p, spec = ctx.mlp, ctx.job["curvature"]
    probes = 3 if warmup else spec["hutchinson_probes"]
    torch.manual_seed(spec["seed"])
    t = time.perf_counter()
    g = p.kept_graph()
    samples = []
    for _ in range(probes):
        v = [torch.randint_like(q, high=2) for q in p.params]
        for vi in v:
            vi[vi == 0] = -1
        hv = torch.autograd.grad(g, p.params, grad_outputs=v, retain_graph=True)
        samples.append(dot(hv, v).item())
    ms = (time.perf_counter() - t) * 1e3
    mean = float(np.mean(samples))
    stderr = float(np.std(samples, ddof=1) / np.sqrt(len(samples))) if len(samples) > 1 else float("nan")
    return ms, {"estimate": mean, "stderr": stderr, "matvecs": probes}


def item_per_example_norms(ctx, warmup):
    """‖∇ loss_i‖ for every example by a loop of single-example gradients."""
    p = ctx.mlp
    n = 50 if warmup else p.x.shape[0]
    t = time.perf_counter()
    norms = []
    for i in range(n):
        g = torch.autograd.grad(p.loss(p.x[i:i + 1], p.y[i:i + 1]), p.params)
        norms.append(dot(g, g).sqrt().item())
    ms = (time.perf_counter() - t) * 1e3
    return ms, {"method": "loop", "examples": n, "norms": norms}


ITEMS = {
    "train": item_train,
    "grad": item_grad,
    "hvp": item_hvp,
    "hvp_repeated": item_hvp_repeated,
    "eigen_top10": item_eigen_top10,
    "trace_hutchinson": item_trace_hutchinson,
    "per_example_norms": item_per_example_norms,
    "eigen_top10_cnn": item_eigen_top10_cnn,
}


# ---------------------------------------------------------------------------------------------
# Which libraries this process runs on.


def libraries():
    info = {
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "python": sys.version.split()[0],
        "num_threads": torch.get_num_threads(),
        "parallel_backend": next((line.split(":", 1)[1].strip() for line in torch.__config__.parallel_info().splitlines()
                                  if line.startswith("ATen parallel backend")), None),
        "torch_config": torch.__config__.show(),
        "environment": {k: os.environ.get(k) for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS",
                                                       "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
    }
    try:
        import threadpoolctl
        info["threadpools"] = [{k: pool.get(k) for k in ("internal_api", "filepath", "version", "threading_layer",
                                                         "architecture", "num_threads")}
                               for pool in threadpoolctl.threadpool_info()]
    except ImportError:
        info["threadpools"] = None
    info["openblas_core"] = openblas_core()
    info["loaded_libraries"] = loaded_libraries()
    return info


def loaded_libraries():
    """Shared objects of interest mapped into this process (/proc/self/maps)."""
    keys = ("blas", "lapack", "gomp", "omp", "mkl", "dnnl", "torch")
    found = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and ".so" in parts[-1]:
                    name = os.path.basename(parts[-1])
                    if any(k in name.lower() for k in keys):
                        found.add(os.path.realpath(parts[-1]))
    except OSError:
        return None
    return sorted(found)


def openblas_core():
    """The kernel OpenBLAS chose (openblas_get_corename), or None if no OpenBLAS is loaded."""
    import ctypes
    for path in loaded_libraries() or []:
        if "openblas" in os.path.basename(path).lower():
            try:
                lib = ctypes.CDLL(path)
                lib.openblas_get_corename.restype = ctypes.c_char_p
                lib.openblas_get_config.restype = ctypes.c_char_p
                return {"library": path, "core": lib.openblas_get_corename().decode(), "config": lib.openblas_get_config().decode()}
            except (OSError, AttributeError):
                return {"library": path, "core": None, "config": None}
    return None


# ---------------------------------------------------------------------------------------------


class Context:
    def __init__(self, job_path):
        self.folder = os.path.dirname(os.path.abspath(job_path))
        with open(job_path) as f:
            self.job = json.load(f)
        torch.set_num_threads(int(self.job["threads"]))
        train = self.job["train"]
        flatten = build_model(train["arch"])[1]
        x = load_npy(self.folder, train["inputs"])
        xt = load_npy(self.folder, train["test_inputs"])
        self.train_data = (x.reshape(x.shape[0], -1) if flatten else x, load_npy(self.folder, train["labels"]))
        self.test_data = (xt.reshape(xt.shape[0], -1) if flatten else xt, load_npy(self.folder, train["test_labels"]))
        self.perms = load_npy(self.folder, train["perms"])
        self.mlp = Problem(self.folder, self.job["curvature"])
        self.cnn = Problem(self.folder, self.job["cnn"]) if "cnn" in self.job else None


def send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------------------------
# Peak memory: each job in a process of its own, measured by its parent.


def pyhessian_dataloader_product(model, batches, params, v):
    """PyHessian's dataloader_hv_product(): per batch a forward, the gradient with create_graph, its
    product with v (graph freed), weighted by the batch size; the mean over the data."""
    total = [torch.zeros(p.size()) for p in params]
    count = 0
    for x, y in batches:
        model.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward(create_graph=True)
        # get_params_grad(): `grad + 0.` copies, so the zero_grad() below (in place) keeps its graph.
        grads = [p.grad + 0.0 if p.grad is not None else torch.zeros_like(p) for p in params]
        model.zero_grad()
        hv = torch.autograd.grad(grads, params, grad_outputs=v, only_inputs=True, retain_graph=False)
        total = [t + h * float(x.shape[0]) + 0.0 for t, h in zip(total, hv)]
        count += x.shape[0]
    total = [t / float(count) for t in total]
    return dot(total, v).item(), total


def memory_job(job_path, result_path):
    """The curvature job of the peak-memory pair: PyHessian's eigenvalues(top_n) and trace() in its
    full-dataset mode (batches of the job's batch size, so one batch's graph at a time, as Geodesy
    streams), on the cnn and the job's digits; writes the answers to result_path."""
    folder = os.path.dirname(os.path.abspath(job_path))
    with open(job_path) as f:
        spec = json.load(f)["memory"]
    torch.set_num_threads(int(spec["threads"]))
    model, _ = build_model(spec["arch"])
    model.load_state_dict(read_safetensors(os.path.join(folder, spec["weights"])), strict=True)
    model.eval()
    params = [p for p in model.parameters()]
    x, y = load_npy(folder, spec["inputs"]), load_npy(folder, spec["labels"])
    b = int(spec["batch"])
    batches = [(x[s:s + b], y[s:s + b]) for s in range(0, x.shape[0], b)]
    torch.manual_seed(spec["seed"])
    t = time.perf_counter()
    products = 0
    eigenvalues, eigenvectors = [], []
    while len(eigenvalues) < spec["k"]:  # PyHessian eigenvalues(maxIter, tol, top_n)
        eigenvalue = None
        v = normalized([torch.randn(p.size()) for p in params])
        for _ in range(spec["max_iter"]):
            for u in eigenvectors:
                c = dot(v, u)
                v = [a - c * q for a, q in zip(v, u)]
            v = normalized(v)
            tmp, hv = pyhessian_dataloader_product(model, batches, params, v)
            products += 1
            v = normalized(hv)
            if eigenvalue is None:
                eigenvalue = tmp
            elif abs(eigenvalue - tmp) / (abs(eigenvalue) + 1e-6) < spec["tol"]:
                break
            else:
                eigenvalue = tmp
        eigenvalues.append(eigenvalue)
        eigenvectors.append(v)
    samples, trace = [], 0.0
    for _ in range(spec["trace_max_iter"]):  # PyHessian trace(maxIter, tol)
        v = [torch.randint_like(p, high=2) for p in params]
        for vi in v:
            vi[vi == 0] = -1
        _, hv = pyhessian_dataloader_product(model, batches, params, v)
        products += 1
        samples.append(dot(hv, v).item())
        if abs(np.mean(samples) - trace) / (abs(trace) + 1e-6) < spec["tol"]:
            break
        trace = np.mean(samples)
    result = {"top_eigenvalues": eigenvalues, "trace": float(np.mean(samples)), "trace_probes": len(samples),
              "matvecs": products, "seconds": time.perf_counter() - t}
    with open(result_path, "w") as f:
        json.dump(result, f)
    return 0


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "memory-job":
        return memory_job(sys.argv[2], sys.argv[3])
    if len(sys.argv) != 2:
        sys.stderr.write("usage: peer.py JOB.json | peer.py memory-job JOB.json RESULT.json | peer.py peak-memory COMMAND...\n"
                         "(started by `geodesy bench peer`)\n")
        return 2
    try:
        ctx = Context(sys.argv[1])
        send({"ready": True, "libraries": libraries()})
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            request = json.loads(line)
            if request.get("quit"):
                break
            name = request["item"]
            if name not in ITEMS:
                raise ValueError(f"unknown work item '{name}'")
            ms, detail = ITEMS[name](ctx, bool(request.get("warmup")))
            send({"item": name, "ms": ms, "detail": detail})
    except Exception as e:  # reported to Geodesy as one line, which names it
        send({"error": f"{type(e).__name__}: {e}"})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
