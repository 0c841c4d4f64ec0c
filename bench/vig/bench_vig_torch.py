"""Time the PyTorch version of the vig encoder as bench_vig times the plugin.

The model is `build_model` of scripts/vig_reference.py, the plugin's network
written in PyTorch (encoder and transposed-convolution decoder). The loss is
its `reconstruction_loss`, MSE + 0.5 * (1 - SSIM), computed in float64 there
as the plugin computes it. --loss-dtype float32 computes the same loss in
float32, as a PyTorch user would usually write it, and names the side
"torch-f32-loss". Inference is the forward pass in eval mode under
torch.no_grad().
Training is one epoch of --steps batches. Each batch runs a forward pass in
train mode, the loss, backward, gradient clipping to norm 5 and one Adam step
(lr 1e-3), as the plugin does by default. The input is normally distributed
noise.

--precision bf16 runs the forward pass and the loss under
torch.autocast("cpu", dtype=torch.bfloat16) (weights and Adam stay float32).
This is PyTorch's counterpart of the plugin's option precision = bf16. Its
rows have the modes "inference bf16" and "training bf16", as those of
bench_vig --precision bf16 do.

--gather selects how the max-relative aggregation gathers neighbours.
"reference" keeps vig_reference.py's torch.gather over an expanded
(N, C, H*W, keys) view, whose backward materializes a gradient of that full
size (944 MB per block at stage 1 of pvig_ti at batch 8). "indexed" (the
default) indexes a (N*keys, C) table with the flattened edge list, as
batched_index_select in the Vision GNN authors' code does. The gathered
tensor and its gradient are then (N, H*W, k, C). Before timing, the script checks
that both give the same reconstruction and gradients on a small input.

Prints the CSV rows of bench_vig (side "torch") with the wall and CPU
milliseconds per image of every repetition after one warm-up. The CPU time is
the process CPU time divided by the thread count. Run with
OMP_WAIT_POLICY=passive, as bench_vig.
"""

import argparse
import pathlib
import sys
import time

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "scripts"))
import vig_reference  # noqa: E402
from vig_reference import build_model, reconstruction_loss  # noqa: E402

REFERENCE_FORWARD = vig_reference.Grapher.forward


def indexed_forward(self, x, trace=None, prefix=""):
    """Grapher.forward of vig_reference.py with the neighbours gathered by
    indexing a (N*keys, C) table instead of torch.gather on an expanded view."""
    shortcut = x
    x = self.fc1(x)
    keys = torch.nn.functional.avg_pool2d(x, self.ratio) if self.ratio > 1 else x
    edges = self.neighbours(x, keys)
    self.last_edges = edges
    n, c, h, w = x.shape
    key_count = keys.shape[2] * keys.shape[3]
    nodes = x.flatten(2).transpose(1, 2)  # (N, H*W, C)
    table = keys.flatten(2).transpose(1, 2).reshape(n * key_count, c)
    offsets = torch.arange(n, device=x.device).view(n, 1, 1) * key_count
    gathered = table[(edges + offsets).reshape(-1)].view(n, h * w, self.k, c)
    rel = (gathered - nodes[:, :, None, :]).amax(2).transpose(1, 2)  # (N, C, H*W)
    x = torch.stack([x.flatten(2), rel], dim=2).reshape(n, 2 * c, h, w)
    if trace is not None:
        trace[prefix + ".graph"] = x
    x = self.fc2(self.nn(x))
    return x + shortcut


def check_gather_equal():
    """Check that both gathers give the same reconstruction and parameter
    gradients for the small preset at 128 x 128.

    Raises AssertionError if they differ."""
    torch.manual_seed(3)
    model = build_model({"preset": "small", "image_size": 128})
    images = torch.randn(2, 3, 128, 128)
    results = []
    for forward in (REFERENCE_FORWARD, indexed_forward):
        vig_reference.Grapher.forward = forward
        model.zero_grad(set_to_none=True)
        output = model(images)
        reconstruction_loss(output, images).backward()
        results.append([output.detach().clone()] + [p.grad.clone() for p in model.parameters()])
    for a, b in zip(*results):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6), "the indexed gather differs from vig_reference.py's"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads value (default 2)")
    parser.add_argument("--preset", default="pvig_ti", help="vig preset (default pvig_ti)")
    parser.add_argument("--size", type=int, default=224, help="image side in pixels (default 224)")
    parser.add_argument("--batch", type=int, default=8, help="images per batch (default 8)")
    parser.add_argument("--steps", type=int, default=2, help="training batches per repetition (default 2)")
    parser.add_argument("--repeats", type=int, default=5, help="repetitions after the warm-up (default 5)")
    parser.add_argument("--gather", choices=["indexed", "reference"], default="indexed",
                        help="neighbour gather of the max-relative aggregation (default indexed; see above)")
    parser.add_argument("--precision", choices=["f32", "bf16"], default="f32",
                        help="f32, or bf16 autocast of the forward pass and the loss (default f32)")
    parser.add_argument("--loss-dtype", choices=["float64", "float32"], default="float64",
                        help="dtype of the training loss (default float64, as the plugin)")
    parser.add_argument("--mode", choices=["both", "inference", "training"], default="both",
                        help="time inference, training or both (default both), as bench_vig's --mode")
    return parser.parse_args()


def side(args):
    name = "torch" if args.gather == "indexed" else "torch-reference-gather"
    return name + ("-f32-loss" if args.loss_dtype == "float32" else "")


def row(args, mode, repetition, wall, cpu, images):
    mode += " bf16" if args.precision == "bf16" else ""
    print(f"{side(args)},{mode},{args.preset},{args.threads},{args.batch},{args.size},{repetition},"
          f"{1e3 * wall / images:.3f},{1e3 * cpu / args.threads / images:.3f}", flush=True)


def autocast(args):
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16")


def time_inference(args, model, batch):
    model.eval()
    with torch.no_grad(), autocast(args):
        for repetition in range(args.repeats + 1):
            wall, cpu = time.perf_counter(), time.process_time()
            model(batch)
            if repetition > 0:
                row(args, "inference", repetition, time.perf_counter() - wall, time.process_time() - cpu, args.batch)


def time_training(args, model, images):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for repetition in range(args.repeats + 1):
        wall, cpu = time.perf_counter(), time.process_time()
        for step in range(args.steps):
            batch = images[step * args.batch:(step + 1) * args.batch]
            optimizer.zero_grad(set_to_none=True)
            with autocast(args):
                loss = reconstruction_loss(model(batch), batch, dtype=getattr(torch, args.loss_dtype))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
        if repetition > 0:
            row(args, "training", repetition, time.perf_counter() - wall, time.process_time() - cpu,
                args.batch * args.steps)


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    check_gather_equal()
    vig_reference.Grapher.forward = indexed_forward if args.gather == "indexed" else REFERENCE_FORWARD
    torch.manual_seed(1)
    model = build_model({"preset": args.preset, "image_size": args.size})
    images = torch.randn(args.batch * args.steps, 3, args.size, args.size, generator=torch.Generator().manual_seed(7))

    print(f"# torch {torch.__version__}, vig {args.preset}, deconv decoder, {args.precision}, {args.size} x {args.size}, "
          f"batch {args.batch}, {args.threads} threads, {args.steps} training steps per repetition, "
          f"{args.gather} gather")
    print("side,mode,preset,threads,batch,size,repetition,wall_ms_per_image,cpu_ms_per_image", flush=True)
    if args.mode != "training":
        time_inference(args, model, images[:args.batch])
    if args.mode != "inference":
        time_training(args, model, images)


if __name__ == "__main__":
    main()
