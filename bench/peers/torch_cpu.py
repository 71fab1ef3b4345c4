"""Peer: PyTorch on the CPU, on the same shapes and steps as ours.

Launched by bench/peers.ts as `python3 torch_cpu.py --groups kernels,step [--tiny] --spec JSON`,
where the spec holds the shapes and each case's name, shape label and work counts (so records line
up with ours). Prints one JSON record per line on stdout and `note: ...` lines on stderr. Timing
mirrors bench/harness.ts: 2 warm-ups, at least 5 timed runs, more while they fit 1.5 s (at most 25).
"""
import argparse
import ctypes
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def note(line):
    print(f"note: {line}", file=sys.stderr, flush=True)


def timed(run, tiny):
    warmup, runs, budget, max_runs = (0, 1, 0, 1) if tiny else (2, 5, 1500, 25)
    for _ in range(warmup):
        run()
    times = []
    while len(times) < runs or (sum(times) < budget and len(times) < max_runs):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), min(times), max(times), len(times)


def round3(x):
    return float(f"{x:.3g}")


def record(info, timing, adapter):
    ms, lo, hi, n = timing
    r = {"group": info["group"], "name": info["name"], "impl": "pytorch-cpu",
         "shape": info["shape"], "ms": round3(ms), "min": round3(lo), "max": round3(hi),
         "n": n, "adapter": adapter}
    seconds = ms / 1000
    for key, out, scale in (("flops", "gflops", 1e9), ("bytes", "gbps", 1e9),
                            ("tokens", "tokens_per_s", 1)):
        if info.get(key):
            r[out] = round3(info[key] / seconds / scale)
    return r


def loaded_blas():
    """The BLAS library this process actually loaded (after a product), resolved through the
    system's alternatives symlinks, or None when no shared BLAS is mapped."""
    torch.matmul(torch.ones(64, 64), torch.ones(64, 64))
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "blas" in line.lower() and "/" in line}
    libs = sorted(p for p in paths if ".so" in p)
    return os.path.realpath(libs[0]) if libs else None


def openblas_core(path):
    """OpenBLAS's own name of the kernel it selected for this CPU (e.g. Haswell), or None."""
    try:
        lib = ctypes.CDLL(path)
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return None


def matmul_gflops(n=1024):
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.matmul(a, b)
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        torch.matmul(a, b)
        runs.append(time.perf_counter() - t0)
    return 2 * n ** 3 / statistics.median(runs) / 1e9


def report_blas():
    """Notes which BLAS runs the products and how fast; warns loudly about the reference BLAS."""
    path = loaded_blas()
    gflops = matmul_gflops()
    core = openblas_core(path) if path and "openblas" in path else None
    kind = ("OpenBLAS" if path and "openblas" in path else
            "MKL" if path and "mkl" in path else
            "BLIS" if path and "blis" in path else
            "the reference BLAS" if path else "no shared BLAS (torch's built-in fallback)")
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    note(f"BLAS: {kind} ({path or 'none mapped'}"
         f"{', kernel ' + core if core else ''}{', env ' + str(env) if env else ''}); "
         f"matmul 1024³ {gflops:.1f} GFLOP/s")
    if kind not in ("OpenBLAS", "MKL", "BLIS"):
        note("WARNING: PyTorch-CPU runs its products on " + kind + ", ~30× slower than OpenBLAS: "
             "every ratio against it flatters ours. Install OpenBLAS "
             "(`apt-get install libopenblas0-pthread`) and re-run.")
    return kind, gflops


def randn(*shape, grad=False):
    return torch.randn(*shape).requires_grad_(grad)


def kernel_cases(s, infos):
    rows, cols = s["rows"], s["cols"]
    cases = []
    for m, info in zip(s["matmuls"], infos["matmul"]):
        lead = [] if m["batch"] == 1 else [m["batch"]]
        a, b = randn(*lead, m["m"], m["k"]), randn(*lead, m["k"], m["n"])
        cases.append((info, lambda a=a, b=b: torch.matmul(a, b)))
    n = s["addElements"]
    a, b = randn(n), randn(n)
    cases.append((infos["add"], lambda: torch.add(a, b)))
    x = randn(rows, cols)
    cases.append((infos["softmaxFwd"], lambda: torch.softmax(x, -1)))
    xg, dy = randn(rows, cols, grad=True), randn(rows, cols)
    cases.append((infos["softmaxFwdBwd"], lambda: torch.softmax(xg, -1).backward(dy)))
    w, bias = randn(cols, grad=True), randn(cols, grad=True)
    with_ln = lambda: F.layer_norm(x, (cols,), w.detach(), bias.detach(), 1e-5)
    cases.append((infos["layerNormFwd"], with_ln))
    cases.append((infos["layerNormFwdBwd"],
                  lambda: F.layer_norm(xg, (cols,), w, bias, 1e-5).backward(dy)))
    targets = torch.tensor([(i * 7919) % cols for i in range(rows)])
    cases.append((infos["crossEntropyFwdBwd"], lambda: F.cross_entropy(xg, targets).backward()))
    at = s["attention"]
    bh, seq, dh = at["batch"] * at["heads"], at["seq"], at["headDim"]
    q, k = randn(bh, seq, dh), randn(bh, seq, dh)
    mask = torch.triu(torch.full((seq, seq), -1e9), 1)
    cases.append((infos["attention"],
                  lambda: torch.softmax(q @ k.transpose(1, 2) / math.sqrt(dh) + mask, -1)))
    params = [randn(r, c, grad=True) for r, c in s["adamParams"]]
    for p in params:
        p.grad = torch.randn_like(p)
    adamw = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
    cases.append((infos["adamw"], adamw.step))
    return cases


def mlp_case(s, info):
    m = s["mlp"]
    model = torch.nn.Sequential(torch.nn.Linear(m["inputs"], m["hidden"]), torch.nn.ReLU(),
                                torch.nn.Linear(m["hidden"], m["outputs"]))
    x, y = randn(m["batch"], m["inputs"]), randn(m["batch"], m["outputs"])
    return info, train_step(model, lambda: F.mse_loss(model(x), y))


def transformer_case(s, info):
    t = s["transformer"]
    layer = lambda: torch.nn.TransformerEncoderLayer(
        t["dim"], t["heads"], t["hidden"], dropout=0.0, activation="gelu", batch_first=True,
        norm_first=True)
    model = torch.nn.Sequential(*[layer() for _ in range(t["layers"])])
    x, y = randn(t["batch"], t["seq"], t["dim"]), randn(t["batch"], t["seq"], t["dim"])
    return info, train_step(model, lambda: F.mse_loss(model(x), y))


def train_step(model, loss_fn):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        loss = loss_fn()
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss.item()

    return step


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--groups", default="kernels,step")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--spec", required=True)
    args = parser.parse_args()
    spec = json.loads(args.spec)
    s, infos = spec["shapes"], spec["infos"]
    groups = args.groups.split(",")
    if "OMP_NUM_THREADS" not in os.environ:
        # Use every core, as lavapipe does; Debian's build starts with one thread.
        torch.set_num_threads(os.cpu_count() or 1)
    # Debian's build says BLAS_INFO=generic: it calls whatever libblas.so.3 the system's
    # alternatives point at, so the library is found at run time, not from the build config.
    blas, gflops = report_blas()
    adapter = (f"CPU (PyTorch {torch.__version__}, {torch.get_num_threads()} threads, "
               f"{blas}, {gflops:.0f} GFLOP/s at 1024³)")
    torch.manual_seed(0)
    cases = []
    if "kernels" in groups:
        cases += kernel_cases(s, infos)
    if "step" in groups:
        cases += [mlp_case(s, infos["mlpStep"]), transformer_case(s, infos["transformerStep"])]
    for info, run in cases:
        try:
            print(json.dumps(record(info, timed(run, args.tiny), adapter), ensure_ascii=False),
                  flush=True)
        except Exception as e:  # one broken case must not stop the others
            note(f"{info['name']} {info['shape']} failed: {e}")


if __name__ == "__main__":
    main()
