#!/usr/bin/env python3
"""Write the torch.optim reference values of the optimizer test to
tests/nn/optim_goldens.txt.

Each case updates two parameters, a weight of shape (2, 3, 1, 1) and a bias
of shape (2), for a few steps with fixed float32 gradients and a learning
rate that changes per step, using torch.optim's single-tensor code path
(foreach=False). The C test sets the same start values and gradients in a
1x1 convolution "fc" and compares its parameters after every step, and its
state tensors and step count at the end.

File format, one record per line, numbers as float32 printed with 9
significant digits (which round-trips float32 exactly), weight values first
and bias values second in every list of 8:

    case NAME KIND MOMENTUM BETA1 BETA2 ALPHA EPS WEIGHT_DECAY STEPS
    init P0 .. P7
    step LR G0 .. G7          (STEPS times, each followed by)
    param P0 .. P7            (the parameters after that step)
    state STATE_NAME V0 .. V7 (one line per state tensor, PyTorch's names)
    count STEP_COUNT
    end

KIND is advgnn_optim_kind (1 SGD, 2 Adam, 3 AdamW, 4 RMSprop). Hyperparameters
are written as given to torch, defaults included.

Usage (torch 2.x, CPU is enough):
    bench/.venv/bin/python scripts/make_optim_goldens.py [--out tests/nn/optim_goldens.txt]
"""

import argparse
import pathlib

import numpy as np
import torch

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "nn" / "optim_goldens.txt"

KIND_SGD, KIND_ADAM, KIND_ADAMW, KIND_RMSPROP = 1, 2, 3, 4

# name, kind, momentum, beta1, beta2, alpha, eps, weight decay
CASES = [
    ("sgd", KIND_SGD, 0.0, 0.9, 0.999, 0.99, 1e-8, 0.0),
    ("sgd_momentum", KIND_SGD, 0.9, 0.9, 0.999, 0.99, 1e-8, 0.01),
    ("adam", KIND_ADAM, 0.0, 0.8, 0.99, 0.99, 1e-6, 0.05),
    ("adam_defaults", KIND_ADAM, 0.0, 0.9, 0.999, 0.99, 1e-8, 0.0),
    ("adamw", KIND_ADAMW, 0.0, 0.9, 0.999, 0.99, 1e-8, 0.1),
    ("rmsprop", KIND_RMSPROP, 0.0, 0.9, 0.999, 0.99, 1e-8, 0.0),
    ("rmsprop_momentum", KIND_RMSPROP, 0.5, 0.9, 0.999, 0.9, 1e-8, 0.01),
]
STEPS = 5
LEARNING_RATES = [0.05, 0.04, 0.03, 0.02, 0.01]


def make_optimizer(kind, params, momentum, beta1, beta2, alpha, eps, weight_decay):
    lr = LEARNING_RATES[0]
    if kind == KIND_SGD:
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, foreach=False)
    if kind == KIND_ADAM:
        return torch.optim.Adam(params, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay,
                                foreach=False)
    if kind == KIND_ADAMW:
        return torch.optim.AdamW(params, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay,
                                 foreach=False)
    return torch.optim.RMSprop(params, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                               momentum=momentum, foreach=False)


def numbers(values):
    return " ".join(f"{float(v):.9g}" for v in np.asarray(values, dtype=np.float32).ravel())


def flat(weight, bias):
    return np.concatenate([weight.detach().numpy().ravel(), bias.detach().numpy().ravel()])


def run_case(rng, case):
    name, kind, momentum, beta1, beta2, alpha, eps, weight_decay = case
    lines = [f"case {name} {kind} {momentum!r} {beta1!r} {beta2!r} {alpha!r} {eps!r} {weight_decay!r} {STEPS}"]
    weight = torch.nn.Parameter(torch.from_numpy(rng.uniform(-0.5, 0.5, (2, 3, 1, 1)).astype(np.float32)))
    bias = torch.nn.Parameter(torch.from_numpy(rng.uniform(-0.5, 0.5, 2).astype(np.float32)))
    optimizer = make_optimizer(kind, [weight, bias], momentum, beta1, beta2, alpha, eps, weight_decay)
    lines.append("init " + numbers(flat(weight, bias)))

    # Gradients of both signs spanning two orders of magnitude, so that the
    # second moments and the momentum buffers differ per element.
    for t in range(STEPS):
        lr = LEARNING_RATES[t]
        grads = (rng.uniform(-1.0, 1.0, 8) * 10.0 ** rng.uniform(-2.0, 0.0, 8)).astype(np.float32)
        weight.grad = torch.from_numpy(grads[:6].reshape(2, 3, 1, 1).copy())
        bias.grad = torch.from_numpy(grads[6:].copy())
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.step()
        lines.append(f"step {lr!r} " + numbers(grads))
        lines.append("param " + numbers(flat(weight, bias)))

    state_w, state_b = optimizer.state[weight], optimizer.state[bias]
    for key in ("momentum_buffer", "exp_avg", "exp_avg_sq", "square_avg"):
        if state_w.get(key) is not None:
            lines.append(f"state {key} " + numbers(flat(state_w[key], state_b[key])))
    count = int(state_w["step"]) if "step" in state_w else STEPS
    lines.append(f"count {count}")
    lines.append("end")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=OUT)
    args = parser.parse_args()

    rng = np.random.default_rng(20261204)
    lines = [f"# torch.optim reference values from scripts/make_optim_goldens.py (torch {torch.__version__})"]
    for case in CASES:
        lines.extend(run_case(rng, case))
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(CASES)} cases to {args.out}")


if __name__ == "__main__":
    main()
