#!/usr/bin/env python3
"""PyTorch version of the `vig` encoder plugin, parity fixtures and weight conversion.

The model is written from the Vision GNN paper (Han et al., NeurIPS 2022) and
from the plugin (plugins/encoders/vig/vig.c), without any reference code. Its
parameter and buffer names are exactly the plugin's weight names, so a
state dict saved here loads into the plugin (option `weights` or
`init_weights`) and the other way round:

    stem.<i>.conv.{weight,bias}, stem.<i>.bn.{weight,bias,running_mean,running_var}
    pos_embed.weight                      (C, H*W, 1, 1): the embedding of grid position p is column p
    downsample.<s>.conv|bn.*              s = 1..3, pyramid only
    blocks.<i>.grapher.fc1|nn|fc2.conv|bn.*
    blocks.<i>.ffn.fc1|fc2.conv|bn.*
    decoder.<u>.up.{weight,bias}          ConvTranspose2d, PyTorch's (in, out, 4, 4) layout
    decoder.<u>.bn.*, decoder.out.{weight,bias}

BatchNorm's `num_batches_tracked` is dropped on export (the plugin has no such
buffer). The relative-position term is not a weight, because the plugin computes it
from the grid as ViG does (sine-cosine embedding P, 2 P P^T / C, bicubic
resampling of each row to the key count, negated).

Commands:

    fixtures [--out tests/vig_parity/fixtures]
        Builds a tiny pyramid and a tiny isotropic net at 64 x 64 with random
        weights (BN running statistics included) and writes them to
        NAME.weights.safetensors. NAME.outputs.safetensors gets the fixed
        input and, computed in float64, every block's output in inference and
        training mode, the reconstruction, the relative-position terms, the
        loss, the parameter gradients of one training step and the running
        statistics after it. NAME.converted.safetensors is a reference-shaped
        state dict at 224 converted to the net. The input seed is chosen so
        that no kNN decision is closer than KNN_MARGIN, because a near tie
        could pick another neighbour under float32 rounding.

    convert --preset pvig_ti [--image-size 224] [--seed 0] REFERENCE.pth OUT.safetensors
        Maps a state dict of the reference models (vig_pytorch's vig.py and
        pyramid_vig.py: `stem.convs.*`, `pos_embed`, `backbone.*`) to the
        plugin's names. The reference position embedding is interpolated
        bicubically to the plugin's grid when the image size differs from
        224. The reference has no decoder and a classifier head, so `prediction.*`
        and the frozen `backbone.*.0.relative_pos` are skipped. The decoder is
        initialized from --seed with PyTorch's default initialization.

    selftest
        Converts the state dict of a reference-shaped model made here (random
        values, the reference's names and shapes at 224) and checks that every
        plugin name is filled, that the values are the mapped ones, and that
        the position embedding was resized.

Environment: Python 3.11 with the packages of
scripts/requirements-vig-reference.txt, for example
    python3 -m venv bench/.venv && bench/.venv/bin/pip install -r scripts/requirements-vig-reference.txt
then `bench/.venv/bin/python scripts/vig_reference.py fixtures`. Safetensors
files are read and written by the small functions below, so the
`safetensors` package is not needed.

Importing: `build_model(preset_or_config)` returns a torch.nn.Module whose
forward maps (N, 3, H, W) images to the reconstruction; `reconstruction_loss`
is the plugin's loss MSE + lambda * (1 - SSIM).
"""

import argparse
import json
import math
import pathlib
import struct
import sys

import torch
import torch.nn.functional as F
from torch import nn

# ---- architecture ---------------------------------------------------------------

PRESETS = {
    "small": {"variant": "pyramid", "widths": [16, 32, 64, 128], "blocks": [1, 1, 2, 1]},
    "pvig_ti": {"variant": "pyramid", "widths": [48, 96, 240, 384], "blocks": [2, 2, 6, 2]},
    "pvig_s": {"variant": "pyramid", "widths": [80, 160, 400, 640], "blocks": [2, 2, 6, 2]},
    "vig_ti": {"variant": "isotropic", "widths": [192], "blocks": [12]},
    "vig_s": {"variant": "isotropic", "widths": [320], "blocks": [16]},
}

DEFAULTS = {
    "preset": "small",
    "variant": "pyramid",
    "k": 9,
    "reduce_ratios": [4, 2, 1, 1],
    "relative_pos": True,
    "pos_embed": True,
    "output": "linear",
    "image_size": 224,
}


def resolve_config(preset_or_config):
    """Returns the full configuration of a preset name or an option dict.

    The keys are the plugin's option names (preset, variant, widths, blocks,
    k, reduce_ratios, relative_pos, pos_embed, output) plus image_size (an int
    or (height, width)). As in the plugin, widths and blocks override a preset.
    """
    cfg = dict(DEFAULTS)
    given = {"preset": preset_or_config} if isinstance(preset_or_config, str) else dict(preset_or_config)
    cfg.update(given)
    preset = cfg["preset"]
    if preset != "custom":
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; use one of {sorted(PRESETS)} or custom")
        for key, value in PRESETS[preset].items():
            if key not in given or key == "variant":
                cfg[key] = value
    size = cfg["image_size"]
    if isinstance(size, int):
        size = (size, size)
    elif not isinstance(size, (tuple, list)) or len(size) != 2:
        raise ValueError(f"image_size must be a positive int or a pair of them, got {size!r}")
    cfg["image_size"] = tuple(size)
    stages = 4 if cfg["variant"] == "pyramid" else 1
    if len(cfg["widths"]) != stages or len(cfg["blocks"]) != stages:
        raise ValueError(f"a {cfg['variant']} model needs {stages} widths and blocks")
    if any(w % 4 for w in cfg["widths"]):
        raise ValueError("widths must be multiples of 4")
    check_image_size(cfg)
    return cfg


def check_image_size(cfg):
    """Raises ValueError when the last stage's grid has fewer keys than the
    kNN graph needs, as the plugin does.

    A pyramid model needs k keys at 1/32 after the last reduce ratio. An
    isotropic one needs the last block's k at 1/16, which is 2k with several
    blocks."""
    height, width = cfg["image_size"]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (height, width)):
        raise ValueError(f"image_size must be a positive int or a pair of them, got {cfg['image_size']!r}")
    name = cfg["preset"] if cfg["preset"] != "custom" else f"this {cfg['variant']} model"
    if cfg["variant"] == "pyramid":
        ratio = cfg["reduce_ratios"][3]
        step, grid, need = 32, (height // 32 // ratio, width // 32 // ratio), cfg["k"]
    else:
        step, grid, need = 16, (height // 16, width // 16), 2 * cfg["k"] if cfg["blocks"][0] > 1 else cfg["k"]
    if height % step or width % step:
        raise ValueError(f"image_size {height} x {width} does not fit {name}: its sides must be multiples of {step}")
    if grid[0] * grid[1] < need:
        raise ValueError(f"image_size {height} x {width} is too small for {name}: its last graph needs {need} keys "
                         f"where its {grid[0]} x {grid[1]} grid has {grid[0] * grid[1]}; raise image_size or lower k")


class ConvBN(nn.Module):
    """conv (bias) + BatchNorm (eps 1e-5, momentum 0.1) + optional GELU: the plugin's ae_conv_bn."""

    def __init__(self, cin, cout, kernel, stride=1, groups=1, gelu=False):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=True)
        self.bn = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)
        self.gelu = gelu

    def forward(self, x):
        x = self.bn(self.conv(x))
        return F.gelu(x) if self.gelu else x


def sincos_embedding(channels, height, width):
    """Return the (H*W, C) float64 2-D sine-cosine embedding.

    The first half of the channels encodes the column x, the second the row y,
    each as C/4 sines then C/4 cosines at frequencies 1 / 10000^(i / (C/4)).
    """
    quarter = channels // 4
    omega = 1.0 / torch.pow(10000.0, torch.arange(quarter, dtype=torch.float64) / quarter)
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64),
                            indexing="ij")
    parts = []
    for pos in (xs.reshape(-1), ys.reshape(-1)):
        angle = pos[:, None] * omega[None, :]
        parts += [torch.sin(angle), torch.cos(angle)]
    return torch.cat(parts, dim=1)


def relative_bias(channels, height, width, ratio):
    """Return the (H*W, keys) float32 term added to the squared kNN distances.

    The term is minus the node-by-node term 2 P P^T / C (rounded to float32),
    resampled bicubically (align_corners=False) along the key axis from H*W to
    the key count, as ViG's Grapher does. Rows keep their length, which bicubic
    leaves exact.
    """
    p = sincos_embedding(channels, height, width)
    rel = (2.0 * p @ p.T / channels).to(torch.float32)
    keys = (height // ratio) * (width // ratio)
    rel = F.interpolate(rel[None, None], size=(height * width, keys), mode="bicubic", align_corners=False)
    return -rel[0, 0]


class Grapher(nn.Module):
    def __init__(self, channels, k, dilation, ratio, bias):
        super().__init__()
        self.k, self.dilation, self.ratio = k, dilation, ratio
        self.fc1 = ConvBN(channels, channels, 1)
        self.nn = ConvBN(2 * channels, 2 * channels, 1, groups=4, gelu=True)
        self.fc2 = ConvBN(2 * channels, channels, 1)
        self.register_buffer("bias", bias, persistent=False)
        self.last_dist = None  # (N, H*W, keys) distances of the last forward, for the tie margin

    def neighbours(self, x, keys):
        """(N, H*W, k) key indices: the k*d nearest normalized keys, every d-th kept."""
        with torch.no_grad():
            q = F.normalize(x.flatten(2), dim=1).transpose(1, 2)
            kk = F.normalize(keys.flatten(2), dim=1).transpose(1, 2)
            dist = (q * q).sum(-1, keepdim=True) - 2 * q @ kk.transpose(1, 2) + (kk * kk).sum(-1)[:, None, :]
            if self.bias is not None:
                dist = dist + self.bias
            order = torch.topk(-dist, self.k * self.dilation, dim=-1).indices
            self.last_dist = dist
            return order[..., :: self.dilation]

    def forward(self, x, trace=None, prefix=""):
        shortcut = x
        x = self.fc1(x)
        keys = F.avg_pool2d(x, self.ratio) if self.ratio > 1 else x
        edges = self.neighbours(x, keys)
        n, c, h, w = x.shape
        flat, kflat = x.flatten(2), keys.flatten(2)

        # Gather from the (N, C, keys) map with flattened indices, so the
        # backward scatters into that map and not into an (N, C, H*W, keys) one.
        index = edges.reshape(n, 1, h * w * self.k).expand(n, c, h * w * self.k)
        gathered = torch.gather(kflat, 2, index).reshape(n, c, h * w, self.k)
        rel = (gathered - flat[..., None]).amax(-1)
        x = torch.stack([flat, rel], dim=2).reshape(n, 2 * c, h, w)
        if trace is not None:
            trace[prefix + ".graph"] = x
        x = self.fc2(self.nn(x))
        return x + shortcut


class FFN(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.fc1 = ConvBN(channels, 4 * channels, 1, gelu=True)
        self.fc2 = ConvBN(4 * channels, channels, 1)

    def forward(self, x):
        return self.fc2(self.fc1(x)) + x


class Block(nn.Module):
    def __init__(self, channels, k, dilation, ratio, bias):
        super().__init__()
        self.grapher = Grapher(channels, k, dilation, ratio, bias)
        self.ffn = FFN(channels)


class PosEmbed(nn.Module):
    """Learnable (C, H, W) embedding stored as the plugin stores it: a (C, H*W,
    1, 1) weight, which the plugin adds to every image of the batch."""

    def __init__(self, channels, height, width):
        super().__init__()
        self.shape = (channels, height, width)
        self.weight = nn.Parameter(torch.zeros(channels, height * width, 1, 1))

    def forward(self, x):
        return x + self.weight.reshape(1, *self.shape)


class DecoderStage(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cout, 4, 2, 1)
        self.bn = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)


class VigAutoencoder(nn.Module):
    """The plugin's network. Its forward returns the reconstruction. With
    `trace` a dict, forward stores the plugin layer outputs it names."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        height, width = cfg["image_size"]
        widths, blocks, k = cfg["widths"], cfg["blocks"], cfg["k"]
        self.pyramid = cfg["variant"] == "pyramid"
        divisor = 32 if self.pyramid else 16
        if height % divisor or width % divisor:
            raise ValueError(f"a {cfg['variant']} model needs an image size divisible by {divisor}")
        if self.pyramid:
            c = widths[0]
            self.stem = nn.ModuleList([ConvBN(3, c // 2, 3, 2, gelu=True), ConvBN(c // 2, c, 3, 2, gelu=True),
                                       ConvBN(c, c, 3, 1)])
            gh, gw = height // 4, width // 4
        else:
            c = widths[0]
            chans = [max(c // 8, 1), max(c // 4, 1), max(c // 2, 1), c]
            layers, cin = [], 3
            for ch in chans:
                layers.append(ConvBN(cin, ch, 3, 2, gelu=True))
                cin = ch
            layers.append(ConvBN(c, c, 3, 1))
            self.stem = nn.ModuleList(layers)
            gh, gw = height // 16, width // 16
        self.pos_embed = PosEmbed(c, gh, gw) if cfg["pos_embed"] else None

        # Blocks are numbered globally. Pyramid stages after the first start
        # with a stride-2 downsampling convolution.
        self.downsample = nn.ModuleDict()
        self.blocks = nn.ModuleList()
        if self.pyramid:
            limit = max((height // 32) * (width // 32) // (cfg["reduce_ratios"][3] ** 2) // k, 1)
            index = 0
            for s in range(4):
                if s > 0:
                    self.downsample[str(s)] = ConvBN(widths[s - 1], widths[s], 3, 2)
                    gh, gw = gh // 2, gw // 2
                ratio = cfg["reduce_ratios"][s]
                for _ in range(blocks[s]):
                    bias = relative_bias(widths[s], gh, gw, ratio) if cfg["relative_pos"] else None
                    self.blocks.append(Block(widths[s], k, min(index // 4 + 1, limit), ratio, bias))
                    index += 1
        else:
            n = blocks[0]
            limit = max(gh * gw // (2 * k), 1)
            for i in range(n):
                # k = int(linspace(k, 2k, n)[i]) in double precision, as the plugin computes it.
                ki = int(k + k * i / (n - 1)) if n > 1 else k
                self.blocks.append(Block(c, ki, min(i // 4 + 1, limit), 1, None))
        self.decoder = nn.ModuleDict()
        cin, size, up = widths[-1], (height // 32 if self.pyramid else height // 16), 0
        width_now = cin
        while size < height:
            width_now = max(width_now // 2, 16)
            self.decoder[str(up)] = DecoderStage(cin, width_now)
            cin, size, up = width_now, size * 2, up + 1
        self.decoder["out"] = nn.Conv2d(cin, 3, 3, 1, 1)

    def forward(self, x, trace=None):
        for layer in self.stem:
            x = layer(x)
        if trace is not None:
            trace[f"stem.{len(self.stem) - 1}.bn"] = x
        if self.pos_embed is not None:
            x = self.pos_embed(x)
            if trace is not None:
                trace["pos_embed.add"] = x

        index = 0
        stages = 4 if self.pyramid else 1
        for s in range(stages):
            if s > 0:
                x = self.downsample[str(s)](x)
                if trace is not None:
                    trace[f"downsample.{s}.bn"] = x
            count = self.cfg["blocks"][s]
            for _ in range(count):
                block = self.blocks[index]
                x = block.grapher(x, trace, f"blocks.{index}.grapher")
                if trace is not None:
                    trace[f"blocks.{index}.grapher.residual"] = x
                x = block.ffn(x)
                if trace is not None:
                    trace[f"blocks.{index}.ffn.residual"] = x
                index += 1

        up = 0
        while str(up) in self.decoder:
            stage = self.decoder[str(up)]
            x = F.relu(stage.bn(stage.up(x)))
            if trace is not None:
                trace[f"decoder.{up}.act"] = x
            up += 1

        x = self.decoder["out"](x)
        if trace is not None:
            trace["decoder.out"] = x
        if self.cfg["output"] == "tanh":
            x = torch.tanh(x)
            if trace is not None:
                trace["decoder.tanh"] = x
        return x


def build_model(preset_or_config):
    """Returns the plugin's network for a preset name (vig_ti, vig_s, pvig_ti,
    pvig_s, small; 224 x 224) or a dict of the plugin's options plus
    image_size. Parameters use PyTorch's default initialization, and position
    embeddings start at zero."""
    return VigAutoencoder(resolve_config(preset_or_config))


# ---- loss -------------------------------------------------------------------------


def ssim_loss(pred, target, data_range, dtype=torch.float64):
    """1 - mean SSIM over planes and valid positions of an 11 x 11 Gaussian
    window (sigma 1.5), C1 = (0.01 L)^2, C2 = (0.03 L)^2, computed in `dtype`
    (float64 like the plugin, and bench/vig can request float32)."""
    pred, target = pred.to(dtype), target.to(dtype)
    g = torch.exp(-((torch.arange(11, dtype=dtype) - 5) ** 2) / (2 * 1.5**2))
    g = g / g.sum()
    planes = pred.shape[0] * pred.shape[1]

    def blur(v):
        v = v.reshape(planes, 1, *v.shape[2:])
        v = F.conv2d(v, g.view(1, 1, 1, 11))
        return F.conv2d(v, g.view(1, 1, 11, 1))

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = blur(pred), blur(target)
    sxx = blur(pred * pred) - mx * mx
    syy = blur(target * target) - my * my
    sxy = blur(pred * target) - mx * my
    s = (2 * mx * my + c1) * (2 * sxy + c2) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return 1.0 - s.mean()


def reconstruction_loss(pred, target, ssim_weight=0.5, ssim_range=4.0, dtype=torch.float64):
    """Return the plugin's training loss, MSE + ssim_weight * (1 - SSIM),
    computed in `dtype` (float64, as the plugin sums)."""
    mse = ((pred.to(dtype) - target.to(dtype)) ** 2).mean()
    return mse + ssim_weight * ssim_loss(pred, target, ssim_range, dtype) if ssim_weight > 0 else mse


# ---- safetensors ------------------------------------------------------------------

DTYPES = {torch.float32: "F32", torch.int32: "I32", torch.float64: "F64", torch.int64: "I64",
          torch.bfloat16: "BF16", torch.float16: "F16"}


def save_safetensors(tensors, path, metadata=None):
    """Writes {name: tensor} as safetensors: 8-byte little-endian header
    length, JSON header (names sorted, 8-byte aligned), raw little-endian data."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        data = t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    if sys.byteorder != "little":
        raise RuntimeError("safetensors files are little-endian; this host is not")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def load_safetensors(path):
    """Returns ({name: tensor}, metadata) of a safetensors file."""
    raw = pathlib.Path(path).read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + size])
    meta = header.pop("__metadata__", {})
    inverse = {v: k for k, v in DTYPES.items()}
    out = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        buf = bytearray(raw[8 + size + begin : 8 + size + end])
        dtype = inverse[entry["dtype"]]
        out[name] = torch.frombuffer(buf, dtype=dtype).reshape(entry["shape"]).clone() if buf else \
            torch.zeros(entry["shape"], dtype=dtype)
    return out, meta


def plugin_state(model):
    """Return the model's tensors under the plugin's names (no num_batches_tracked)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}


# ---- fixtures ---------------------------------------------------------------------

FIXTURES = {
    # Widths 8/16/24/32 give stage grids 16, 8, 4, 2 at 64 px. Keys are pooled
    # 4x4 and 2x2 in stages 1 and 2, and the last stage has 4 keys, so k = 3.
    "pyramid": {"preset": "custom", "variant": "pyramid", "widths": [8, 16, 24, 32], "blocks": [1, 1, 2, 1],
                "k": 3, "image_size": 64},
    # 4 x 4 nodes. k grows 2 -> 4 over 6 blocks, and blocks 4 and 5 have dilation 2.
    "isotropic": {"preset": "custom", "variant": "isotropic", "widths": [16], "blocks": [6], "k": 2,
                  "image_size": 64},
}
BATCH = 2
SSIM_WEIGHT = 0.5
SSIM_RANGE = 4.0
KNN_MARGIN = 1e-4  # smallest allowed gap between sorted kNN distances at a kept/dropped boundary


def randomize(model, seed):
    """Random weights and BN statistics that keep activations near unit scale."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            if name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=gen))
            elif name.endswith("running_mean"):
                t.copy_(0.2 * torch.randn(t.shape, generator=gen))
            elif name.endswith("bn.weight"):
                t.copy_(0.8 + 0.4 * torch.rand(t.shape, generator=gen))
            elif name.endswith("bias"):
                t.copy_(0.1 * torch.randn(t.shape, generator=gen))
            elif name == "pos_embed.weight":
                t.copy_(0.2 * torch.randn(t.shape, generator=gen))
            else:
                fan_in = t[0].numel() if not name.endswith("up.weight") else t.shape[0] * 4
                t.copy_(torch.randn(t.shape, generator=gen) / math.sqrt(fan_in))


def knn_margin(model):
    """Smallest gap, over every node of every block of the last forward,
    between consecutive sorted distances among the k*d + 1 nearest keys."""
    worst = math.inf
    for block in model.blocks:
        g = block.grapher
        dist = g.last_dist
        need = min(g.k * g.dilation + 1, dist.shape[-1])
        top = torch.topk(-dist, need, dim=-1).values
        gaps = (top[..., :-1] - top[..., 1:]).abs()
        worst = min(worst, gaps.min().item())
    return worst


def make_fixture(name, cfg, out_dir):
    torch.manual_seed(0)
    model = build_model(cfg)
    randomize(model, 1000 + len(name))
    height, width = model.cfg["image_size"]
    weights = plugin_state(model)

    # The references are computed in float64 from the float32 weights and
    # input, so the fixtures measure the plugin's float32 error alone.
    model = model.double()

    # An input whose kNN graphs have no near ties, in both modes.
    for seed in range(100):
        gen = torch.Generator().manual_seed(seed)
        images = torch.randn(BATCH, 3, height, width, generator=gen)
        margins = []
        for training in (False, True):
            probe = build_model(cfg).double()
            probe.load_state_dict(model.state_dict())
            probe.train(training)
            with torch.no_grad():
                probe(images.double())
            margins.append(knn_margin(probe))
        if min(margins) >= KNN_MARGIN:
            break
    else:
        raise RuntimeError(f"{name}: no input seed below 100 keeps the kNN margin {KNN_MARGIN}")

    tensors = {"input": images}
    images = images.double()

    model.eval()
    trace = {}
    with torch.no_grad():
        model(images, trace)
    for key, value in trace.items():
        if not key.endswith(".act"):
            tensors["eval." + key] = value

    model.train()
    trace = {}
    recon = model(images, trace)
    loss = reconstruction_loss(recon, images, SSIM_WEIGHT, SSIM_RANGE)
    loss.backward()
    for key, value in trace.items():
        # Training-mode outputs of the blocks only, to keep the file small (the loss covers the reconstruction).
        if key.endswith(".residual"):
            tensors["train." + key] = value.detach()
    tensors["loss"] = loss.detach().to(torch.float32).reshape(1)
    for pname, p in model.named_parameters():
        tensors["grad." + pname] = p.grad
    for bname, b in model.named_buffers():
        if bname.endswith("running_mean") or bname.endswith("running_var"):
            tensors["after." + bname] = b

    for index, block in enumerate(model.blocks):
        if block.grapher.bias is not None:
            tensors[f"relative_pos.blocks.{index}"] = block.grapher.bias

    tensors = {key: value.detach().to(torch.float32) for key, value in tensors.items()}
    meta = {"config": json.dumps(cfg), "batch": BATCH, "input_seed": seed, "knn_margin": min(margins),
            "ssim_weight": SSIM_WEIGHT, "ssim_range": SSIM_RANGE, "torch": torch.__version__}
    out_dir.mkdir(parents=True, exist_ok=True)
    save_safetensors(weights, out_dir / f"{name}.weights.safetensors")
    save_safetensors(tensors, out_dir / f"{name}.outputs.safetensors", meta)
    # A reference-shaped state dict at 224 x 224, converted to this 64 x 64
    # model: the plugin must accept it (names, shapes, resized pos_embed).
    converted = convert_state_dict(reference_shaped_state(model.cfg), model.cfg)
    save_safetensors(converted, out_dir / f"{name}.converted.safetensors")
    print(f"{name}: {len(weights)} weights, {len(tensors)} outputs, input seed {seed}, kNN margin "
          f"{min(margins):.2e}, loss {loss.item():.6f}")


# ---- conversion from the reference models -----------------------------------------


def reference_names(cfg):
    """{plugin name: reference name} of every weight the reference models have.

    Reference layout (vig_pytorch): stem.convs.<j> (Sequential of conv, BN,
    GELU...), pos_embed (1, C, h, w), backbone.<b> in order: Downsample
    (`conv.0`, `conv.1`) before each pyramid stage after the first, then
    Seq(Grapher, FFN) per block with Grapher `fc1.0/1`, `graph_conv.gconv.nn.0/1`,
    `fc2.0/1` and FFN `fc1.0/1`, `fc2.0/1`.
    """
    mapping = {}
    bn = ("weight", "bias", "running_mean", "running_var")

    def conv_bn(plugin, ref_conv, ref_bn):
        for p in ("weight", "bias"):
            mapping[f"{plugin}.conv.{p}"] = f"{ref_conv}.{p}"
        for p in bn:
            mapping[f"{plugin}.bn.{p}"] = f"{ref_bn}.{p}"

    pyramid = cfg["variant"] == "pyramid"
    stem_count = 3 if pyramid else 5
    for i in range(stem_count):
        conv_bn(f"stem.{i}", f"stem.convs.{3 * i}", f"stem.convs.{3 * i + 1}")
    b, index = 0, 0
    for s, count in enumerate(cfg["blocks"]):
        if s > 0:
            conv_bn(f"downsample.{s}", f"backbone.{b}.conv.0", f"backbone.{b}.conv.1")
            b += 1
        for _ in range(count):
            g, f = f"blocks.{index}.grapher", f"blocks.{index}.ffn"
            conv_bn(f"{g}.fc1", f"backbone.{b}.0.fc1.0", f"backbone.{b}.0.fc1.1")
            conv_bn(f"{g}.nn", f"backbone.{b}.0.graph_conv.gconv.nn.0", f"backbone.{b}.0.graph_conv.gconv.nn.1")
            conv_bn(f"{g}.fc2", f"backbone.{b}.0.fc2.0", f"backbone.{b}.0.fc2.1")
            conv_bn(f"{f}.fc1", f"backbone.{b}.1.fc1.0", f"backbone.{b}.1.fc1.1")
            conv_bn(f"{f}.fc2", f"backbone.{b}.1.fc2.0", f"backbone.{b}.1.fc2.1")
            b, index = b + 1, index + 1
    return mapping


def convert_state_dict(reference, cfg, seed=0):
    """Returns the plugin state dict of `cfg` filled from a reference ViG or
    PViG state dict. The decoder comes from PyTorch's default init with `seed`.
    Raises ValueError naming a missing or mis-shaped reference tensor."""
    # NOTE: only the transposed-convolution decoder is built here, so the
    # result does not load into a plugin with decoder = "graph".
    for wrapper in ("state_dict", "model", "state_dict_ema"):
        if wrapper in reference and isinstance(reference[wrapper], dict):
            reference = reference[wrapper]
    reference = {k[7:] if k.startswith("module.") else k: v for k, v in reference.items()}
    # The relative-position term is not a weight, and skipping it saves its
    # (H*W)^2 products at build time.
    torch.manual_seed(seed)
    model = VigAutoencoder(dict(cfg, relative_pos=False))
    state = plugin_state(model)
    for plugin, ref in reference_names(cfg).items():
        if ref not in reference:
            raise ValueError(f"reference state dict has no {ref!r} (for {plugin}); is the preset right?")
        value = reference[ref].to(torch.float32)
        if value.shape != state[plugin].shape:
            raise ValueError(f"{ref} has shape {tuple(value.shape)}, the plugin's {plugin} needs "
                             f"{tuple(state[plugin].shape)}; is the preset right?")
        state[plugin] = value.clone()
    if model.pos_embed is not None:
        if "pos_embed" not in reference:
            raise ValueError("reference state dict has no 'pos_embed'")
        channels, gh, gw = model.pos_embed.shape
        ref = reference["pos_embed"].to(torch.float32)
        if ref.shape[1] != channels:
            raise ValueError(f"pos_embed has {ref.shape[1]} channels, the plugin needs {channels}")
        if tuple(ref.shape[2:]) != (gh, gw):
            # The input size differs from the reference's 224, so the grid is
            # resized bicubically (align_corners=False).
            ref = F.interpolate(ref, size=(gh, gw), mode="bicubic", align_corners=False)
        state["pos_embed.weight"] = ref.reshape(channels, gh * gw, 1, 1).clone()
    return state


def reference_shaped_state(cfg, seed=7):
    """Return a random state dict with the reference models' names and 224 x 224
    shapes (head and frozen relative_pos included), for the self test."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    full = dict(cfg, image_size=(224, 224), relative_pos=False)
    model = VigAutoencoder(full)
    plugin = plugin_state(model)
    for pname, ref in reference_names(full).items():
        state[ref] = torch.randn(plugin[pname].shape, generator=gen)
        if ref.endswith("running_var"):
            state[ref] = state[ref].abs() + 0.5
    for key in list(state):
        if key.endswith("running_var"):
            state[key[: -len("running_var")] + "num_batches_tracked"] = torch.tensor(5)
    pyramid = cfg["variant"] == "pyramid"
    grid = 56 if pyramid else 14
    state["pos_embed"] = torch.randn(1, cfg["widths"][0], grid, grid, generator=gen)
    state["backbone.0.0.relative_pos"] = torch.zeros(1, 3136 if pyramid else 196, 196)
    state["prediction.0.weight"] = torch.randn(1024, cfg["widths"][-1], 1, 1, generator=gen)
    return {"state_dict": state}


def selftest():
    failures = 0
    for preset in ("pvig_ti", "vig_ti"):
        cfg = resolve_config({"preset": preset, "image_size": 256 if preset == "pvig_ti" else 224})
        ref = reference_shaped_state(cfg)
        state = convert_state_dict(ref, cfg)
        model = VigAutoencoder(dict(cfg, relative_pos=False))
        model.load_state_dict(state, strict=False)
        missing = set(plugin_state(model)) - set(state)
        mapped = reference_names(cfg)
        wrong = [p for p, r in mapped.items() if not torch.equal(state[p], ref["state_dict"][r])]
        pe = state["pos_embed.weight"]
        grid = model.pos_embed.shape
        print(f"{preset}: {len(mapped)} mapped tensors, {len(state) - len(mapped) - 1} from init, "
              f"pos_embed {tuple(ref['state_dict']['pos_embed'].shape)} -> {tuple(pe.shape)}")
        failures += len(missing) + len(wrong) + (pe.shape[1] != grid[1] * grid[2])
    print("selftest", "failed" if failures else "passed")
    return 1 if failures else 0


# ---- command line -----------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fx = sub.add_parser("fixtures", help="write the parity fixtures")
    fx.add_argument("--out", default=str(pathlib.Path(__file__).resolve().parent.parent / "tests/vig_parity/fixtures"))
    cv = sub.add_parser("convert", help="map a reference ViG/PViG state dict to the plugin's names")
    cv.add_argument("--preset", required=True, choices=["pvig_ti", "pvig_s", "vig_ti", "vig_s"])
    cv.add_argument("--image-size", default="224",
                    help="size of the images the plugin's encoder gets, in pixels: SIZE or HEIGHTxWIDTH")
    cv.add_argument("--output", choices=["linear", "tanh"], default="linear", help="the plugin's output option")
    cv.add_argument("--seed", type=int, default=0, help="seed of the decoder's initialization")
    cv.add_argument("reference", help="reference checkpoint (.pth, .pth.tar or .safetensors)")
    cv.add_argument("out", help="safetensors file for the plugin's weights or init_weights option")
    sub.add_parser("selftest", help="check convert on a reference-shaped state dict made here")
    args = parser.parse_args(argv)

    if args.command == "fixtures":
        for name, cfg in FIXTURES.items():
            make_fixture(name, cfg, pathlib.Path(args.out))
        return 0
    if args.command == "selftest":
        return selftest()
    try:
        size = [int(v) for v in args.image_size.lower().split("x")]
    except ValueError:
        parser.error(f"--image-size {args.image_size!r} is invalid; use SIZE or HEIGHTxWIDTH, e.g. 256 or 224x320")
    size = size * 2 if len(size) == 1 else size
    if len(size) != 2:
        parser.error(f"--image-size {args.image_size!r} is invalid; use SIZE or HEIGHTxWIDTH, e.g. 256 or 224x320")
    cfg = resolve_config({"preset": args.preset, "image_size": tuple(size), "output": args.output})
    if not pathlib.Path(args.reference).is_file():
        parser.error(f"reference checkpoint {args.reference!r} does not exist or is not a file")
    try:
        if args.reference.endswith(".safetensors"):
            reference, _ = load_safetensors(args.reference)
        else:
            reference = torch.load(args.reference, map_location="cpu", weights_only=True)
    except Exception as error:  # torch and the reader raise several types for a bad file
        parser.error(f"cannot read reference checkpoint {args.reference!r}: {error}")
    state = convert_state_dict(reference, cfg, args.seed)
    save_safetensors(state, args.out)
    print(f"wrote {len(state)} tensors for preset {args.preset} at {size[0]} x {size[1]} to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
