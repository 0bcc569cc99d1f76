"""Sphinx directive ``unet-diagram``: the U-Net drawn from :class:`xdeepr.nn.UNet` itself.

At build time the directive builds the network with the seed's parameters, runs one
forward pass with shape hooks on every block, and emits an inline SVG (blocks,
channels, resolutions, skip connections) plus a table of every block with its
parameters. Nothing is drawn by hand, so the figure cannot drift from the code; it
needs no system binary (no graphviz ``dot``).

Options (all optional)::

    ```{unet-diagram}
    :n-channels: 16
    :channel-multipliers: 1, 2, 2, 4
    :is-attention: False, False, True, True
    :n-blocks: 2
    :condition-channels: 5
    :height: 24
    :width: 32
    ```
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective

# seed architecture (DeepR resources/configuration_diffusion.yml)
DEFAULTS: dict[str, Any] = {
    "image_channels": 1,
    "n_channels": 16,
    "channel_multipliers": (1, 2, 2, 4),
    "is_attention": (False, False, True, True),
    "n_blocks": 2,
}


@dataclass
class Box:
    """One block of the forward pass as the hooks saw it."""

    path: str  # attribute path in the module tree, e.g. "down.3"
    kind: str  # class name, with "+ attention" for blocks that have it
    in_ch: str  # e.g. "32" or "64+32" for a block eating a skip connection
    out_ch: int
    hw: tuple[int, int]
    params: int
    attention: bool = False
    level: int = 0


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.replace("(", "").replace(")", "").split(",") if p.strip())


def _bools(text: str) -> tuple[bool, ...]:
    return tuple(p.strip().lower() == "true" for p in text.strip("()").split(",") if p.strip())


def trace(params: dict[str, Any], cond: int, height: int, width: int) -> dict[str, Any]:
    """Build ``UNet(**params)``, run one forward pass, return what every block did."""
    import torch

    from xdeepr.nn import UNet

    net = UNet(**params, conditioned_on_input=cond).eval()
    records: dict[str, tuple[list[tuple[int, ...]], tuple[int, ...]]] = {}
    hooks = []
    watched = {"image_proj": net.image_proj, "middle": net.middle, "final": net.final}
    watched.update({f"down.{i}": m for i, m in enumerate(net.down)})
    watched.update({f"up.{i}": m for i, m in enumerate(net.up)})
    for name, mod in watched.items():

        def hook(m: Any, args: tuple[Any, ...], out: Any, name: str = name) -> None:
            shapes = [tuple(a.shape) for a in args if isinstance(a, torch.Tensor)]
            records[name] = (shapes, tuple(out.shape))

        hooks.append(mod.register_forward_hook(hook))
    x = torch.zeros(1, params["image_channels"], height, width)
    with torch.no_grad():
        out = net(
            x,
            torch.tensor([500.0]),
            torch.zeros(1, cond, height, width),
            torch.tensor([[0.25, 0.5]]) if net.calendar_emb is not None else None,
        )
    for h in hooks:
        h.remove()

    def count(m: Any) -> int:
        return sum(p.numel() for p in m.parameters())

    def box(name: str, mod: Any, level: int) -> Box:
        ins, o = records[name]
        kind = type(mod).__name__
        attention = False
        if kind == "_Block":
            attention = type(mod.attn).__name__ == "AttentionBlock"
            kind = "ResidualBlock" + (" + Attention" if attention else "")
        elif kind == "MiddleBlock":
            kind, attention = "MiddleBlock (Res, Attention, Res)", True
        elif kind == "Conv2d" and name == "image_proj":
            kind = "input projection (3×3 conv)"
        in_ch = str(ins[0][1])
        return Box(name, kind, in_ch, o[1], (o[2], o[3]), count(mod), attention, level)

    levels = len(params["channel_multipliers"])
    n_blocks = params["n_blocks"]
    # the down path: every output is pushed on the skip stack (input projection first)
    left = [box("image_proj", net.image_proj, 0)]
    level = 0
    for i, m in enumerate(net.down):
        b = box(f"down.{i}", m, level)
        if type(m).__name__ == "Downsample":
            level += 1
            b.level = level
            b.kind = "Downsample (3×3 conv, stride 2)"
        left.append(b)
    # the up path: each block pops one skip; Upsample sits between levels
    right: list[Box] = []
    ups: list[Box] = []
    level = levels - 1
    for i, m in enumerate(net.up):
        name = f"up.{i}"
        if type(m).__name__ == "Upsample":
            u = box(name, m, level)
            u.kind = "Upsample (4×4 transposed conv, stride 2)"
            ups.append(u)
            level -= 1
            continue
        b = box(name, m, level)
        ins, _ = records[name]
        skip_ch = left[len(left) - 1 - len(right)].out_ch
        b.in_ch = f"{ins[0][1] - skip_ch}+{skip_ch}"
        right.append(b)
    middle = box("middle", net.middle, levels - 1)
    final = Box(
        "norm + final",
        "GroupNorm, SiLU, 3×3 conv → ε̂ or v̂",
        str(right[-1].out_ch),
        records["final"][1][1],
        records["final"][1][2:],
        count(net.norm) + count(net.final),
        False,
        0,
    )
    time_ch = net.time_emb.lin2.out_features
    return {
        "net": net,
        "left": left,
        "right": right,
        "ups": ups,
        "middle": middle,
        "final": final,
        "time_channels": time_ch,
        "params": count(net),
        "emb_params": count(net.time_emb) + (count(net.calendar_emb) if net.calendar_emb else 0),
        "out_shape": tuple(out.shape),
        "n_blocks": n_blocks,
        "levels": levels,
        "n_channels": params["n_channels"],
    }


def svg(tr: dict[str, Any], cond: int) -> str:
    """The traced network as an SVG U: down path left, up path right, skips across."""
    left, right, ups = tr["left"], tr["right"], tr["ups"]
    row_h, box_h, box_w, indent, gap = 52, 36, 318, 26, 100
    top = 96
    rows = len(left)
    x_left = 20
    x_right = x_left + box_w + 3 * indent + gap
    width = x_right + box_w + 3 * indent + 20
    height = top + (rows + 1) * row_h + 70
    level_fill = ["#e8f1fb", "#d5e6f7", "#c1daf3", "#adcfee", "#99c3ea", "#85b7e6"]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" style="max-width:{width}px;font-family:sans-serif" role="img" '
        'aria-label="U-Net diagram generated from xdeepr.nn.UNet">',
        '<defs><marker id="arr" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#555"/></marker></defs>',
    ]

    def rect(x: float, y: float, b: Box, w: float = box_w) -> None:
        fill = level_fill[min(b.level, len(level_fill) - 1)]
        stroke = "#c0392b" if b.attention else "#34495e"
        sw = 2.2 if b.attention else 1
        out.append(
            f'<rect x="{x}" y="{y}" width="{w}" height="{box_h}" rx="5" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="{sw}"/>'
        )
        out.append(
            f'<text x="{x + 6}" y="{y + 14}" font-size="11.5" font-weight="bold">'
            f"{escape(b.path)} · {escape(b.kind)}</text>"
        )
        out.append(
            f'<text x="{x + 6}" y="{y + 29}" font-size="11">{escape(b.in_ch)} → {b.out_ch}'
            f" ch · {b.hw[0]}×{b.hw[1]} · {b.params:,} par.</text>"
        )

    # header: input and embeddings
    h0, w0 = left[0].hw
    out.append(
        f'<text x="{x_left}" y="22" font-size="13" font-weight="bold">input: x_t '
        f"(1 ch) ⊕ condition ({cond} ch), {h0}×{w0}</text>"
    )
    out.append(
        f'<text x="{x_left}" y="42" font-size="12">t → '
        f"sinusoidal({tr['n_channels']}) → Linear → SiLU → "
        f"Linear ({tr['time_channels']}); + calendar (hour, day of year) → "
        f"Linear ({tr['time_channels']}): added in every residual block</text>"
    )
    # final block above the up path
    fb = tr["final"]
    fy = top - 24
    rect(x_right, fy - box_h + 14, fb)
    for r, b in enumerate(left):
        y = top + r * row_h + 20
        xl = x_left + b.level * indent
        rect(xl, y, b)
        if r + 1 < rows:  # down arrow
            nb = left[r + 1]
            x2 = x_left + nb.level * indent + 30
            out.append(
                f'<line x1="{xl + 30}" y1="{y + box_h}" x2="{x2}"'
                f' y2="{y + row_h}" stroke="#555" marker-end="url(#arr)"/>'
            )
        rb = right[rows - 1 - r]
        xr = x_right + (3 - min(rb.level, 3)) * indent
        rect(xr, y, rb)
        # skip connection: concatenated on the channels of the paired up block
        out.append(
            f'<line x1="{xl + box_w}" y1="{y + box_h / 2}" x2="{xr}" y2="{y + box_h / 2}" '
            'stroke="#888" stroke-dasharray="5,3" marker-end="url(#arr)"/>'
        )
        if r > 0:  # up arrow (towards the output)
            pb = right[rows - r]
            xp = x_right + (3 - min(pb.level, 3)) * indent
            out.append(
                f'<line x1="{xr + box_w - 30}" y1="{y}" x2="{xp + box_w - 30}" '
                f'y2="{y - row_h + box_h}" stroke="#555" marker-end="url(#arr)"/>'
            )
            if rb.level != pb.level:  # an Upsample between the two levels
                u = next(u for u in ups if u.level == rb.level)
                out.append(
                    f'<text x="{xr + box_w - 44}" y="{y - 4}" font-size="10.5" '
                    f'text-anchor="end" fill="#1a5276">{escape(u.path)} · Upsample '
                    f"(4×4 transposed conv, stride 2) → {u.hw[0]}×{u.hw[1]}, "
                    f"{u.params:,} par.</text>"
                )
    # arrow from the top up block to the final block
    out.append(
        f'<line x1="{x_right + 40}" y1="{top + 20}" x2="{x_right + 40}" y2="{fy + 14}" '
        'stroke="#555" marker-end="url(#arr)"/>'
    )
    # middle block at the bottom
    mb = tr["middle"]
    my = top + rows * row_h + 26
    mx = (x_left + width) / 2 - box_w / 2
    rect(mx, my, mb)
    ly = top + (rows - 1) * row_h + 20 + box_h
    lx = x_left + left[-1].level * indent + 30
    out.append(
        f'<line x1="{lx}" y1="{ly}" x2="{mx}" y2="{my + box_h / 2}" stroke="#555" '
        'marker-end="url(#arr)"/>'
    )
    rx = x_right + (3 - min(right[0].level, 3)) * indent + box_w - 30
    out.append(
        f'<line x1="{mx + box_w}" y1="{my + box_h / 2}" x2="{rx}" y2="{ly}" '
        'stroke="#555" marker-end="url(#arr)"/>'
    )
    out.append(
        f'<text x="{x_left}" y="{height - 12}" font-size="11" fill="#555">red outline: '
        "self-attention · dashed: skip connection (concatenated on channels) · shade: "
        "level (resolution halves per level)</text>"
    )
    out.append("</svg>")
    return "\n".join(out)


class UNetDiagram(SphinxDirective):
    """Inline SVG of the U-Net and a table of its blocks, traced from the code."""

    has_content = False
    option_spec: ClassVar[dict[str, Any]] = {
        "n-channels": directives.positive_int,
        "channel-multipliers": _ints,
        "is-attention": _bools,
        "n-blocks": directives.positive_int,
        "condition-channels": directives.nonnegative_int,
        "height": directives.positive_int,
        "width": directives.positive_int,
    }

    def run(self) -> list[nodes.Node]:
        o = self.options
        params = dict(DEFAULTS)
        params["n_channels"] = o.get("n-channels", params["n_channels"])
        params["channel_multipliers"] = o.get("channel-multipliers", params["channel_multipliers"])
        params["is_attention"] = o.get("is-attention", params["is_attention"])
        params["n_blocks"] = o.get("n-blocks", params["n_blocks"])
        cond = o.get("condition-channels", 5)
        tr = trace(params, cond, o.get("height", 24), o.get("width", 32))
        self.env.note_dependency(__file__)
        import xdeepr.nn

        self.env.note_dependency(xdeepr.nn.__file__)
        figure = nodes.container(classes=["unet-diagram"])
        figure += nodes.raw("", svg(tr, cond), format="html")
        call = (
            f"UNet(image_channels=1, n_channels={params['n_channels']}, channel_multipliers="
            f"{tuple(params['channel_multipliers'])}, is_attention="
            f"{tuple(params['is_attention'])}, n_blocks={params['n_blocks']}, "
            f"conditioned_on_input={cond})"
        )
        cap = nodes.paragraph()
        cap += nodes.emphasis(
            text=(
                f"Generated at build time from xdeepr.nn: {call}, one forward pass on a "
                f"{tr['left'][0].hw[0]}×{tr['left'][0].hw[1]} field with shape hooks on every "
                f"block. {tr['params']:,} parameters, of which {tr['emb_params']:,} in the "
                "timestep and calendar embeddings."
            )
        )
        figure += cap
        return [figure, self._table(tr)]

    def _table(self, tr: dict[str, Any]) -> nodes.table:
        header = ["block (module path)", "type", "channels in → out", "output H×W", "parameters"]
        rows = [tr["left"][0], *tr["left"][1:], tr["middle"]]
        rows += [b for b in _up_order(tr)]
        rows.append(tr["final"])
        table = nodes.table(classes=["unet-blocks"])
        group = nodes.tgroup(cols=len(header))
        table += group
        for _ in header:
            group += nodes.colspec(colwidth=1)
        head = nodes.thead()
        group += head
        body = nodes.tbody()
        group += body

        def row(cells: list[str], parent: nodes.Element) -> None:
            r = nodes.row()
            for c in cells:
                e = nodes.entry()
                e += nodes.paragraph(text=c)
                r += e
            parent += r

        row(header, head)
        for b in rows:
            row(
                [
                    b.path,
                    b.kind,
                    f"{b.in_ch} → {b.out_ch}",
                    f"{b.hw[0]}×{b.hw[1]}",
                    f"{b.params:,}",
                ],
                body,
            )
        return table


def _up_order(tr: dict[str, Any]) -> list[Box]:
    """The up path in execution order (blocks and Upsamples by module index)."""
    items = tr["right"] + tr["ups"]
    return sorted(items, key=lambda b: int(b.path.split(".")[1]))


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("unet-diagram", UNetDiagram)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
