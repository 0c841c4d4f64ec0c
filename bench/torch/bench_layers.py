"""Time in PyTorch the layers and kNN graphs that bench/nn/bench_nn times.

Shapes, labels, dtypes and the timing method follow bench_nn.c: one warm-up
pass, then repetitions until at least --min-seconds have passed (and at least
3), reporting the mean wall time and the mean process CPU time divided by the
thread count. Rows are printed as CSV in bench_nn's --csv format, so
compare.py joins them by (kind, label, dtype).

Run with OMP_WAIT_POLICY=passive on a loaded machine, as for bench_nn, or
spinning OpenMP threads count as CPU time.
"""

import argparse
import sys
import time

import torch
import torch.nn.functional as F

BATCH = 8


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads value (default 2)")
    parser.add_argument(
        "--min-seconds", type=float, default=0.3, help="minimum wall time of each measurement in seconds (default 0.3)"
    )
    parser.add_argument("--only", default="", help="time only the labels that contain this text")
    return parser.parse_args()


def measure(run, threads, min_seconds):
    """Return (wall ms, CPU ms per thread) of one call of `run`, averaged."""
    run()
    start = time.perf_counter()
    cpu_start = time.process_time()
    reps = 0
    while True:
        run()
        reps += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds and reps >= 3:
            break
    cpu = (time.process_time() - cpu_start) / threads
    return elapsed / reps * 1e3, cpu / reps * 1e3


# Pyramid ViG-Ti at 224 x 224, as in bench_nn.c:
# (label, kind, in channels, height, width, out channels, kernel, stride, padding, groups).
SPECS = [
    ("stem conv 3x3 s2 3->24 @224", "conv", 3, 224, 224, 24, 3, 2, 1, 1),
    ("stem conv 3x3 s2 24->48 @112", "conv", 24, 112, 112, 48, 3, 2, 1, 1),
    ("stem conv 3x3 48->48 @56", "conv", 48, 56, 56, 48, 3, 1, 1, 1),
    ("grapher fc 1x1 48->48 @56", "conv", 48, 56, 56, 48, 1, 1, 0, 1),
    ("mrconv 1x1 g4 96->96 @56", "conv", 96, 56, 56, 96, 1, 1, 0, 4),
    ("ffn 1x1 48->192 @56", "conv", 48, 56, 56, 192, 1, 1, 0, 1),
    ("ffn 1x1 192->48 @56", "conv", 192, 56, 56, 48, 1, 1, 0, 1),
    ("downsample 3x3 s2 48->96 @56", "conv", 48, 56, 56, 96, 3, 2, 1, 1),
    ("ffn 1x1 96->384 @28", "conv", 96, 28, 28, 384, 1, 1, 0, 1),
    ("downsample 3x3 s2 96->240 @28", "conv", 96, 28, 28, 240, 3, 2, 1, 1),
    ("downsample 3x3 s2 240->384 @14", "conv", 240, 14, 14, 384, 3, 2, 1, 1),
    ("ffn 1x1 240->960 @14", "conv", 240, 14, 14, 960, 1, 1, 0, 1),
    ("ffn 1x1 384->1536 @7", "conv", 384, 7, 7, 1536, 1, 1, 0, 1),
    ("decoder deconv 4x4 s2 48->24 @56", "deconv", 48, 56, 56, 24, 4, 2, 1, 1),
    ("decoder out conv 3x3 16->3 @224", "conv", 16, 224, 224, 3, 3, 1, 1, 1),
    ("batch norm 48 @56", "bn", 48, 56, 56, 0, 0, 0, 0, 0),
    ("GELU 192 @56", "gelu", 192, 56, 56, 0, 0, 0, 0, 0),
    ("max pool 3x3 s2 48 @56", "maxpool", 48, 56, 56, 0, 3, 2, 1, 0),
    ("avg pool 4x4 (keys r=4) 48 @56", "avgpool", 48, 56, 56, 0, 4, 4, 0, 0),
    ("bilinear resize x2 48 @28", "resize", 48, 28, 28, 0, 0, 0, 0, 0),
    ("add 48 @56", "add", 48, 56, 56, 0, 0, 0, 0, 0),
    ("concat 48+48 @56", "concat", 48, 56, 56, 0, 0, 0, 0, 0),
    ("max-relative k=9 r=4 48 @56", "maxrel", 48, 56, 56, 0, 9, 4, 0, 0),
]


def batched_index_select(x, idx):
    """Gather node features as Vision GNN's reference does.

    x is (B, C, N, 1) and idx (B, M, k) indexes N; the result is (B, C, M, k).
    """
    batch, channels, nodes = x.shape[:3]
    _, rows, k = idx.shape
    offset = torch.arange(batch).view(-1, 1, 1) * nodes
    flat = (idx + offset).reshape(-1)
    table = x.transpose(2, 1).contiguous().view(batch * nodes, channels)
    return table[flat, :].view(batch, rows, k, channels).permute(0, 3, 1, 2).contiguous()


class MaxRelative(torch.nn.Module):
    """Max-relative aggregation of ViG's MRConv2d without its 1x1 convolution.

    The output interleaves x and max_j(keys_j - x_i) per channel, as the
    reference's cat-then-reshape does, which matches advgnn_nn_max_relative
    with interleave on.
    """

    def __init__(self, edges):
        super().__init__()
        batch, nodes, k = edges.shape
        self.neighbours = edges
        self.centres = torch.arange(nodes).view(1, nodes, 1).expand(batch, nodes, k)

    def forward(self, x, keys):
        batch, channels, height, width = x.shape
        x = x.reshape(batch, channels, -1, 1)
        keys = keys.reshape(batch, channels, -1, 1)
        x_i = batched_index_select(x, self.centres)
        x_j = batched_index_select(keys, self.neighbours)
        relative, _ = torch.max(x_j - x_i, -1, keepdim=True)
        out = torch.cat([x.unsqueeze(2), relative.unsqueeze(2)], dim=2)
        return out.reshape(batch, 2 * channels, height, width)


def build_layer(spec, dtype):
    """Return (module, inputs, inputs that need a gradient) for one spec row."""
    label, kind, c, h, w, out_c, k, stride, pad, groups = spec
    shape = (BATCH, c, h, w)
    inputs = [torch.rand(shape) - 0.5]
    if kind == "conv":
        module = torch.nn.Conv2d(c, out_c, k, stride, pad, groups=groups, bias=True)
    elif kind == "deconv":
        module = torch.nn.ConvTranspose2d(c, out_c, k, stride, pad, bias=True)
    elif kind == "bn":
        module = torch.nn.BatchNorm2d(c, eps=1e-5, momentum=0.1)
    elif kind == "gelu":
        module = torch.nn.GELU()
    elif kind == "maxpool":
        module = torch.nn.MaxPool2d(k, stride, pad)
    elif kind == "avgpool":
        module = torch.nn.AvgPool2d(k, stride, pad, count_include_pad=True)
    elif kind == "resize":
        module = torch.nn.Upsample(size=(2 * h, 2 * w), mode="bilinear", align_corners=False)
    elif kind == "add":
        module = Add()
        inputs.append(torch.rand(shape) - 0.5)
    elif kind == "concat":
        module = Concat()
        inputs.append(torch.rand(shape) - 0.5)
    elif kind == "maxrel":
        key_count = (h // stride) * (w // stride)
        # The same edge pattern as bench_nn: edge i points at key i * 7919 mod key_count.
        edges = (torch.arange(BATCH * h * w * k, dtype=torch.int64) * 7919 % key_count).view(BATCH, h * w, k)
        module = MaxRelative(edges)
        inputs.append(torch.rand(BATCH, c, h // stride, w // stride) - 0.5)
    else:
        raise ValueError(f"unknown layer kind {kind!r} in spec {label!r}")

    module = module.to(dtype).train()
    inputs = [t.to(dtype) for t in inputs]
    # The image needs no gradient, so the first convolution skips backward-data, as in bench_nn.
    needs_grad = not (kind == "conv" and c == 3)
    for t in inputs:
        t.requires_grad_(needs_grad)
    return module, inputs, [t for t in inputs if needs_grad]


class Add(torch.nn.Module):
    def forward(self, a, b):
        return a + b


class Concat(torch.nn.Module):
    def forward(self, a, b):
        return torch.cat([a, b], dim=1)


def bench_layer(spec, dtype, args):
    module, inputs, grad_inputs = build_layer(spec, dtype)
    targets = grad_inputs + [p for p in module.parameters() if p.requires_grad]

    def forward():
        return module(*inputs)

    out = forward()
    dy = (torch.rand(out.shape) - 0.5).to(dtype)

    # autograd.grad returns fresh gradients instead of adding into .grad, as
    # advgnn's backward overwrites its gradients. retain_graph keeps the one
    # recorded forward for every repetition, so only the backward is timed.
    def backward():
        return torch.autograd.grad(out, targets, dy, retain_graph=True)

    fwd = measure(forward, args.threads, args.min_seconds)
    bwd = measure(backward, args.threads, args.min_seconds)
    name = "bf16" if dtype == torch.bfloat16 else "f32"
    print(f"layer,{spec[0]},{name},{fwd[0]:.4f},{fwd[1]:.4f},{bwd[0]:.4f},{bwd[1]:.4f}", flush=True)


def knn_graph(x, k, ratio, bf16_matmul):
    """Return the (2, B, N, k) edge index as pyramid ViG's DenseDilatedKnnGraph builds it.

    The keys are the r x r average-pooled features (r > 1) or the nodes
    themselves. Both are L2-normalized over channels, the squared distances
    come from one matrix product, and torch.topk picks the k nearest. With
    bf16_matmul the normalized features are rounded to bf16 for the matrix
    product only, as advgnn_knn_config.bf16_matmul does.
    """
    with torch.no_grad():
        batch, channels = x.shape[:2]
        nodes = F.normalize(x.reshape(batch, channels, -1), p=2.0, dim=1).transpose(2, 1)
        if ratio > 1:
            keys = F.avg_pool2d(x, ratio, ratio).reshape(batch, channels, -1)
            keys = F.normalize(keys, p=2.0, dim=1).transpose(2, 1)
        else:
            keys = nodes
        if bf16_matmul:
            inner = torch.matmul(nodes.bfloat16(), keys.bfloat16().transpose(2, 1)).float()
        else:
            inner = torch.matmul(nodes, keys.transpose(2, 1))
        node_square = torch.sum(nodes * nodes, dim=-1, keepdim=True)
        key_square = torch.sum(keys * keys, dim=-1, keepdim=True)
        dist = node_square - 2 * inner + key_square.transpose(2, 1)
        _, neighbours = torch.topk(-dist, k=k)
        centres = torch.arange(nodes.shape[1]).repeat(batch, k, 1).transpose(2, 1)
        return torch.stack((neighbours, centres), dim=0)


def bench_knn(channels, ratio, bf16_matmul, args):
    x = torch.rand(BATCH, channels, 56, 56) - 0.5
    keys = (56 // ratio) * (56 // ratio)
    label = f"knn 3136 nodes {channels} ch {keys} keys k=9"
    if args.only not in label:
        return
    wall, cpu = measure(lambda: knn_graph(x, 9, ratio, bf16_matmul), args.threads, args.min_seconds)
    name = "bf16" if bf16_matmul else "f32"
    print(f"knn,{label},{name},{wall / BATCH:.4f},{cpu / BATCH:.4f},,", flush=True)


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    print(
        f"# torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"mkldnn available {torch.backends.mkldnn.is_available()} enabled {torch.backends.mkldnn.enabled}, "
        f"CPU capability {torch.backends.cpu.get_cpu_capability()}, batch {BATCH}"
    )
    print("# kind,label,dtype,fwd_ms_wall,fwd_ms_cpu,bwd_ms_wall,bwd_ms_cpu (knn: ms per image in fwd)")
    for spec in SPECS:
        if args.only in spec[0]:
            for dtype in (torch.float32, torch.bfloat16):
                bench_layer(spec, dtype, args)
    for bf16_matmul in (False, True):
        for channels, ratio in ((48, 1), (96, 1), (48, 4), (96, 2)):
            bench_knn(channels, ratio, bf16_matmul, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
