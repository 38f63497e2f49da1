"""MobileNet-V2 forward (eval, no_grad), minidl against PyTorch CPU in one process.

    python benchmarks/mobilenet_v2.py [--batch 8] [--size 224] [--repeat 7] [--threads 2]
                                      [--quick] [--out benchmarks/results]

The same architecture with the same weights: minidl.models.mobilenet_v2 and a PyTorch twin built
here from torch.nn (torchvision's layout, so minidl's state dict loads into it strictly; no
torchvision needed), randomised BatchNorm statistics, outputs checked to agree to 1e-3. The two
forwards are alternated (benchmarks/_timing.alternating_samples), medians of ``--repeat``
rounds after a warm-up; the ratio is minidl's median / torch's. Thread pools are pinned at run
time and reported: torch.set_num_threads, numba.set_num_threads, threadpoolctl's BLAS limit.
Then each dispatched op's share of minidl's forward (minidl.kernels.timing), with the depthwise
convolutions (groups == channels), the pointwise 1x1 ones and the rest timed alone by kind. ``--quick``: batch 2, 112x112,
3 rounds. Writes mobilenet_v2.json (command, machine, threads, samples, medians, ratio).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
AGREE_TOL = 1e-3


def torch_twin(torch, minidl_model):
    """A torch.nn MobileNet-V2 with ``minidl_model``'s layout and its weights, in eval mode."""
    nn = torch.nn

    def convert(module):
        from minidl import nn as mnn
        from minidl.models.mobilenet_v2 import InvertedResidual, ReLU6
        if isinstance(module, mnn.Conv2d):
            return nn.Conv2d(module.in_channels, module.out_channels, module.kernel_size,
                             module.stride, module.padding, groups=module.groups,
                             bias=module.bias is not None)
        if isinstance(module, mnn.BatchNorm2d):
            return nn.BatchNorm2d(module.num_features)
        if isinstance(module, ReLU6):
            return nn.ReLU6(inplace=True)
        if isinstance(module, mnn.Dropout):
            return nn.Dropout(module.p)
        if isinstance(module, mnn.Linear):
            return nn.Linear(module.in_features, module.out_features)
        if isinstance(module, mnn.Sequential):
            return nn.Sequential(*[convert(m) for m in module])
        if isinstance(module, InvertedResidual):
            return Residual(convert(module.conv), module.use_res_connect)
        raise TypeError(f"torch_twin: no torch counterpart for {type(module).__name__}")

    class Residual(nn.Module):
        def __init__(self, conv, use_res_connect):
            super().__init__()
            self.conv, self.use_res_connect = conv, use_res_connect

        def forward(self, x):
            return x + self.conv(x) if self.use_res_connect else self.conv(x)

    class Twin(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = convert(minidl_model.features)
            self.classifier = convert(minidl_model.classifier)

        def forward(self, x):
            x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
            return self.classifier(torch.flatten(x, 1))

    twin = Twin()
    state = {k: torch.from_numpy(np.array(v)) for k, v in minidl_model.state_dict().items()}
    missing, unexpected = twin.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if not k.endswith("num_batches_tracked")]:
        raise RuntimeError(f"torch_twin: keys differ: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return twin.eval()


def randomise_batch_norms(model, seed=0):
    from minidl import nn
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean[...] = rng.uniform(-0.2, 0.2, c)
            m.running_var[...] = rng.uniform(0.5, 1.5, c)
    return model


def conv_kind(m) -> str:
    if m.groups == m.in_channels > 1:
        return "depthwise 3x3 convs"
    return "pointwise 1x1 convs" if m.kernel_size == (1, 1) else "other convs"


def op_profile(minidl, model, x, repeat):
    """{op: ms per forward}, the whole forward's ms, and each kind of convolution's ms (every
    Conv2d timed alone on the input it gets in the forward, median of 3)."""
    from minidl import nn
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    inputs = {}
    with minidl.no_grad():
        def keep_input(mod, inp, out):      # returns None: the output is left as it is
            inputs.setdefault(id(mod), inp[0])
        handles = [m.register_forward_hook(keep_input) for m in convs]
        model(x)
        for h in handles:
            h.remove()
        with minidl.kernels.timing() as seconds:
            start = time.perf_counter()
            for _ in range(repeat):
                model(x)
            total = (time.perf_counter() - start) / repeat * 1e3
        kinds: dict[str, list] = {}
        for m in convs:
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                m(inputs[id(m)])
                times.append((time.perf_counter() - t0) * 1e3)
            entry = kinds.setdefault(conv_kind(m), [0, 0.0])
            entry[0] += 1
            entry[1] += statistics.median(times)
    return {"ms": total, "ops": {op: s / repeat * 1e3 for op, s in seconds.items()},
            "convs_alone": {k: {"layers": n, "ms": ms} for k, (n, ms) in kinds.items()}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="batch 2, 112x112, 3 rounds")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    if args.quick:
        args.batch, args.size, args.repeat = 2, 112, 3

    import minidl
    import minidl.models
    import torch
    from _timing import alternating_samples, machine, print_table, write_json
    from resnet20_step import pin_threads

    threads = pin_threads(args.threads, torch)
    minidl.manual_seed(0)
    model = randomise_batch_norms(minidl.models.mobilenet_v2()).eval()
    twin = torch_twin(torch, model)
    x = np.random.default_rng(1).standard_normal((args.batch, 3, args.size, args.size)).astype(np.float32)
    xm, xt = minidl.Tensor(x), torch.from_numpy(x)

    def run_minidl():
        with minidl.no_grad():
            return model(xm).data

    def run_torch():
        with torch.no_grad():
            return twin(xt).numpy()

    diff = float(np.abs(run_minidl() - run_torch()).max())
    if diff > AGREE_TOL:
        raise RuntimeError(f"mobilenet_v2 benchmark: minidl and torch disagree by {diff:.3g} > {AGREE_TOL}")
    samples = alternating_samples([run_minidl, run_torch], repeat=args.repeat, warmup=1)
    med_m, med_t = (statistics.median(s) for s in samples)
    profile = op_profile(minidl, model, xm, max(1, args.repeat // 2))

    print(f"MobileNet-V2 forward, batch {args.batch}, {args.size}x{args.size}, eval, no_grad; "
          f"threads {threads}")
    print_table([["", "median ms", "samples ms"],
                 ["minidl", f"{med_m:.1f}", " ".join(f"{t:.0f}" for t in samples[0])],
                 ["torch CPU", f"{med_t:.1f}", " ".join(f"{t:.0f}" for t in samples[1])]])
    print(f"ratio minidl / torch: {med_m / med_t:.2f}x   (outputs agree to {diff:.2g})")
    rows = [["op (minidl forward)", "ms", "share"]]
    for op, ms in sorted(profile["ops"].items(), key=lambda kv: -kv[1]):
        rows.append([op, f"{ms:.1f}", f"{ms / profile['ms']:.0%}"])
    for kind, r in profile["convs_alone"].items():
        rows.append([f"  {r['layers']} {kind} (timed alone)", f"{r['ms']:.1f}", f"{r['ms'] / profile['ms']:.0%}"])
    rows.append(["whole forward", f"{profile['ms']:.1f}", "100%"])
    print()
    print_table(rows)
    path = write_json(args.out / "mobilenet_v2.json", {
        "command": " ".join(sys.argv), "machine": machine(), "threads": threads,
        "batch": args.batch, "size": args.size, "repeat": args.repeat,
        "samples_ms": {"minidl": samples[0], "torch": samples[1]},
        "median_ms": {"minidl": med_m, "torch": med_t}, "ratio": med_m / med_t,
        "max_abs_diff": diff, "profile": profile})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
