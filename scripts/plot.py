#!/usr/bin/python3
"""Draws the comparison plots (PNG + SVG) from dfwbench results, one folder per machine.

  /usr/bin/python3 scripts/plot.py [--results results/] [--out plots/] [--machine ID]
  /usr/bin/python3 scripts/plot.py [--out DIR] FILE...

For each machine set results/<machine-id>/ (or only --machine ID, leaving every other
machine's plots as they are) the figures go to plots/<machine-id>/, each skipped with a
message on stderr when its input is absent:
  paper_decode_BACKEND        the paper's figure: per-token time and peak memory vs T
  sequence_time_PRESET_BACKEND_DTYPE   full-sequence time vs T, log-log, crossovers marked
  ceiling_fraction_BACKEND    fraction of the in-run ceiling each case is bound by
  accuracy_heatmap[_COMMIT]   worst relative L2 error per variant x form/backend/dtype
  grid_BACKEND_DTYPE[_COMMIT] rule x feature-map timings
Given FILEs (bench results, .csv or .json, from anywhere), it draws instead one figure per
file into --out (default: the current directory), file_NAME.png/.svg: time against T for
every variant, form, dtype and gate set in it, a panel per mode (decode, prefill).
Every figure names its machine and commit; a series holds one commit (its label names
the commit when the set has several), and a heatmap of a set with several commits is
drawn once per commit (_COMMIT). PyTorch peers (peers-*.csv of scripts/peers.py) join the
paper and sequence figures as thin series in their variant's colour, marker x or +. Points of a disturbed run are ringed with a hollow black
diamond; oom cases show on the memory axis at their planned bytes. Colours are Okabe-Ito
and every series also has its own marker (and line style), so the figures read in grey
too.
Exit status: 0 on success, 2 on a malformed results file.
"""
import argparse
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import matplotlib  # noqa: E402
import matplotlib.ticker  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

import analysis  # noqa: E402
from results_io import (DTYPE_ORDER, VARIANT_ORDER, ResultsError, docs_limits, machine_sets, ordered, provenance,  # noqa: E402
                        read_bench_file)

OKABE_ITO = {"black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73",
             "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7",
             "grey": "#999999"}
# variant: (colour, marker, line style of the paper figure)
VARIANT_STYLE = {
    "softmax": (OKABE_ITO["black"], "o", "-"),
    "dfw": (OKABE_ITO["vermillion"], "s", "--"),
    "delta": (OKABE_ITO["blue"], "^", ":"),
    "linear": (OKABE_ITO["orange"], "D", "-."),
    "performer": (OKABE_ITO["sky"], "v", (0, (6, 2))),
    "t2r": (OKABE_ITO["green"], "P", (0, (3, 1, 1, 1))),
    "gated": (OKABE_ITO["purple"], "X", (0, (1, 1))),
    "fwp": (OKABE_ITO["grey"], "*", (0, (6, 1, 1, 1, 1, 1))),
    "ssd": (OKABE_ITO["green"], "d", (0, (2, 2))),
}
FALLBACK_STYLES = [(OKABE_ITO[c], m, ls) for c, m, ls in
                   (("yellow", "h", "-"), ("sky", "<", "--"), ("green", ">", ":"), ("orange", "p", "-."))]
FORM_LINESTYLE = {"decode": "-", "recurrent": "-", "chunked": "--", "blocked": "-", "cudnn": "-.", "reference": ":"}
BOUND_HATCH = {"compute": "///", "memory": ""}
CHECK_LIMITS = docs_limits()  # docs/MATH.md relative-L2 limits
CHECK_FORM_ORDER = ("recurrent", "chunked", "blocked", "decode", "cudnn")  # heatmap columns, per backend and dtype
ERROR_FLOOR = 1e-10  # an exact 0 error is drawn at this value on the log scale
DISTURBED_STYLE = dict(marker="D", markersize=11, markerfacecolor="none", markeredgecolor="black",
                       markeredgewidth=1.2, linestyle="none", label=f"{analysis.INCONCLUSIVE}: timing not trusted")

plt.rcParams.update({"svg.hashsalt": "dfwbench", "font.size": 9, "axes.grid": True,
                     "grid.alpha": 0.3, "legend.fontsize": 8})


def variant_style(variant):
    if variant in VARIANT_STYLE:
        return VARIANT_STYLE[variant]
    return FALLBACK_STYLES[sum(map(ord, variant)) % len(FALLBACK_STYLES)]


def caption(fig, rows, extra, sources=None):
    sources = sources or ", ".join(ordered((f"results/{r['machine_id']}/{r['file']}" for r in rows), ()))
    fig.text(0.01, 0.005, f"{provenance(rows)}\nsource: {sources}. {extra}", fontsize=7,
             ha="left", va="bottom", wrap=True, color="#333333")


def save(fig, out_dir, name):
    for ext in ("png", "svg"):
        path = os.path.join(out_dir, f"{name}.{ext}")
        fig.savefig(path, dpi=150, metadata={"Date": None} if ext == "svg" else None)
    plt.close(fig)
    print(f"plot: wrote {os.path.join(out_dir, name)}.png/.svg")


def shape_text(rows, keys=("B", "H", "dk", "dv", "m")):
    parts = []
    for k in keys:
        values = sorted({r[k] for r in rows if isinstance(r[k], int)})
        if values:
            parts.append(f"{k}={values[0]}" if len(values) == 1 else f"{k}={values[0]}..{values[-1]}")
    return " ".join(parts)


def mark_disturbed(ax, points):
    """Rings the (x, y, row) points whose row was disturbed; one legend entry per axis."""
    shown = [(x, y) for x, y, r in points if r["disturbed"]]
    if shown:
        ax.plot([x for x, _ in shown], [y for _, y in shown], **DISTURBED_STYLE)


def commit_suffix(rows, commit):
    """' @commit' when rows hold several commits (each series is then of one), else ''."""
    return f" @{commit}" if len({r["commit"] for r in rows}) > 1 else ""


def mark_oom(ax, rows):
    """oom cases on a memory axis: a cross at the bytes the case planned (at the top of the
    axis when it recorded none), one legend entry."""
    oom = [r for r in rows if r["status"] == "oom"]
    for i, r in enumerate(oom):
        label = "oom: did not fit (planned bytes)" if i == 0 else None
        colour = variant_style(r["variant"])[0]
        if r["planned_bytes"] > 0:  # NaN or 0: not recorded
            ax.plot([r["T"]], [r["planned_bytes"] / analysis.MiB], marker="x", markersize=9, markeredgewidth=2,
                    color=colour, linestyle="none", label=label)
        else:
            ax.plot([r["T"]], [1.0], marker="x", markersize=9, markeredgewidth=2, color=colour, linestyle="none",
                    transform=ax.get_xaxis_transform(), clip_on=False, label=label)


def statuses_note(rows):
    """'softmax blocked: oom at T=65536; ...' for the rows that did not run."""
    notes = []
    for (variant, form, status), part in analysis.group(
            [r for r in rows if r["status"] != "ok"], "variant", "form", "status").items():
        Ts = ",".join(str(r["T"]) for r in sorted(part, key=lambda r: r["T"]))
        notes.append(f"{variant} {form}: {status} at T={Ts}")
    return "; ".join(notes)


# PyTorch and fla peers: (marker, line style); a variant has at most two peers per mode and
# backend (softmax: sdpa, eager; delta on a GPU: fla's chunk and fused recurrent kernels).
PEER_STYLE = {"torch_sdpa": ("x", "--"), "torch_eager": ("+", ":"), "torch_step": ("x", "--"),
              "torch_recurrent": ("x", "--"), "torch_chunked": ("x", "-."),
              "fla_fused_recurrent_gla": ("1", "-."), "fla_chunk_delta_rule": ("1", "-."),
              "fla_fused_recurrent_delta_rule": ("2", ":")}


def draw_peers(ax, results, preset, backend, mode, value):
    """Series of the PyTorch peers (scripts/peers.py) of this preset: thin lines in their
    variant's colour, marker and line style per peer (PEER_STYLE), one per variant,
    peer, gate set and commit."""
    rows = [r for r in analysis.ok_rows(results.peers)
            if r["preset"] == preset and r["backend"] == backend and r["mode"] == mode
            and (r["T"] > 0 or mode == "decode")]
    for (variant, peer, gates, commit), part in analysis.group(rows, "variant", "form", "gates", "commit").items():
        part.sort(key=lambda r: r["T"])
        colour = variant_style(variant)[0]
        marker, linestyle = PEER_STYLE.get(peer, ("x", "--"))
        extra = "" if gates == "uniform" else f" {gates}"
        ax.plot([r["T"] for r in part], [value(r) for r in part], color=colour, marker=marker, linestyle=linestyle,
                linewidth=0.9, markersize=4, label=f"{variant} ({peer}{extra}){commit_suffix(rows, commit)}")
    return rows


def plot_paper(results, fig_spec, out_dir):
    rows = results.bench_rows(presets=("paper",), backend=fig_spec.backend)
    ok = analysis.ok_rows(rows)
    dtypes = analysis.dtypes_of(ok)
    fig, (ax_t, ax_m) = plt.subplots(2, 1, sharex=True, figsize=(7, 7.2))
    time_points, memory_points = [], []
    for variant in analysis.variants_of(ok):
        colour, marker, linestyle = variant_style(variant)
        for (dtype, commit), part in analysis.group([r for r in ok if r["variant"] == variant],
                                                    "dtype", "commit").items():
            series = list(analysis.fastest_per_T(part).values())
            label = (variant if len(dtypes) == 1 else f"{variant} {dtype}") + commit_suffix(ok, commit)
            Ts = [r["T"] for r in series]
            style = dict(color=colour, marker=marker, linestyle=linestyle, markersize=5,
                         markerfacecolor=colour if dtype == dtypes[0] else "white", label=label)
            ax_t.plot(Ts, [r["time_median_ms"] for r in series], **style)
            ax_t.fill_between(Ts, [r["time_p20_ms"] for r in series], [r["time_p80_ms"] for r in series],
                              color=colour, alpha=0.15, linewidth=0)
            ax_m.plot(Ts, [analysis.memory_bytes(r) / analysis.MiB for r in series], **style)
            time_points += [(r["T"], r["time_median_ms"], r) for r in series]
            memory_points += [(r["T"], analysis.memory_bytes(r) / analysis.MiB, r) for r in series]
    peers = draw_peers(ax_t, results, "paper", fig_spec.backend, "decode", lambda r: r["time_median_ms"])
    draw_peers(ax_m, results, "paper", fig_spec.backend, "decode", lambda r: analysis.memory_bytes(r) / analysis.MiB)
    mark_disturbed(ax_t, time_points + [(r["T"], r["time_median_ms"], r) for r in peers])
    mark_disturbed(ax_m, memory_points + [(r["T"], analysis.memory_bytes(r) / analysis.MiB, r) for r in peers])
    mark_oom(ax_m, rows)
    if any(r["status"] == "oom" for r in rows) or analysis.disturbed(ok):
        ax_m.legend(loc="upper left")
    memory_kind = "device" if fig_spec.backend == "cuda" else "host"
    ax_t.set_ylabel("time per generated token (ms)")
    ax_m.set_ylabel(f"peak {memory_kind} memory (MiB)")
    ax_m.set_xlabel("context length T (tokens already in the sequence)")
    ax_t.set_ylim(bottom=0)
    ax_m.set_ylim(bottom=0)
    ax_t.legend(title="variant", loc="upper left")
    ax_t.set_title(f"Per-token generation on {fig_spec.backend} ({', '.join(dtypes)}), {shape_text(ok)}\n"
                   "the paper's figure: softmax attention on a KV cache vs one recurrent step")
    note = statuses_note(rows)
    caption(fig, rows, "Median time, band = 20th-80th percentile." + (f" Not run: {note}." if note else ""))
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    save(fig, out_dir, fig_spec.name)


def plot_sequence(results, fig_spec, out_dir):
    rows = [r for r in results.bench_rows(presets=(fig_spec.preset,), backend=fig_spec.backend, mode="prefill")
            if r["dtype"] == fig_spec.dtype]
    ok = [r for r in analysis.ok_rows(rows) if r["T"] > 0]
    fig, ax = plt.subplots(figsize=(9.5, 5.8))
    points = []
    for variant in analysis.variants_of(ok):
        colour, marker, _ = variant_style(variant)
        for (form, commit), part in analysis.group([r for r in ok if r["variant"] == variant],
                                                   "form", "commit").items():
            best = analysis.fastest_per_T(part)
            ax.plot(list(best), [r["time_median_ms"] for r in best.values()], color=colour, marker=marker,
                    linestyle=FORM_LINESTYLE.get(form, "-."), markersize=5,
                    label=f"{variant} ({form}){commit_suffix(ok, commit)}")
            points += [(T, r["time_median_ms"], r) for T, r in best.items()]
    peers = draw_peers(ax, results, fig_spec.preset, fig_spec.backend, "prefill", lambda r: r["time_median_ms"])
    mark_disturbed(ax, points + [(r["T"], r["time_median_ms"], r) for r in peers if r["dtype"] == fig_spec.dtype])
    lines = []
    for c in analysis.crossovers(ok):
        who = f"{c.variant}{commit_suffix(ok, c.commit)}"
        if c.disturbed:
            lines.append(f"{who}: {analysis.INCONCLUSIVE}")
        elif c.verdict == "from T":
            colour = variant_style(c.variant)[0]
            ax.axvline(c.T, color=colour, linestyle=":", linewidth=1.2)
            ax.plot([c.T], [c.variant_ms], marker="o", markersize=13, markerfacecolor="none",
                    markeredgecolor=colour, markeredgewidth=1.5, linestyle="none")
            lines.append(f"{who} ({c.forms}) faster from T={c.T}")
        elif c.verdict == "at every T":
            lines.append(f"{who} faster at every T")
        else:
            lines.append(f"{who} slower up to T={c.max_T}")
    ax.legend(title="variant (form)", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if lines:
        ax.text(1.01, 0.0, "vs softmax\n(fastest form of each):\n" + "\n".join(lines), transform=ax.transAxes,
                ha="left", va="bottom", fontsize=7.5,
                bbox=dict(boxstyle="round", facecolor="white", edgecolor="#888888"))
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:.0f}"))
    ax.set_yscale("log")
    ax.set_xlabel("sequence length T (tokens)")
    ax.set_ylabel("time for the whole sequence, forward (ms)")
    what = "batch x T fixed" if fig_spec.preset == "scaling" else "the paper's shapes"
    ax.set_title(f"Full-sequence time, preset {fig_spec.preset} ({what}) on {fig_spec.backend} {fig_spec.dtype}\n"
                 f"{shape_text(ok)}; circles and dotted lines: first T from which\n"
                 "a variant stays faster than softmax", fontsize=9.5)
    note = statuses_note(rows)
    caption(fig, rows, "Median time; chunked: fastest chunk per T." + (f" Not run: {note}." if note else ""))
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    save(fig, out_dir, fig_spec.name)


def plot_ceiling(results, fig_spec, out_dir):
    rows = analysis.ceiling_rows(results, fig_spec.backend)
    summary = analysis.ceiling_summary(rows)
    modes = ordered((s.mode for s in summary), ("decode", "prefill"))
    counts = [sum(1 for s in summary if s.mode == m) for m in modes]
    fig, axes = plt.subplots(len(modes), 1, figsize=(8, 1.6 * len(modes) + 0.32 * len(summary) + 0.8),
                             gridspec_kw={"height_ratios": [c + 1.5 for c in counts]}, squeeze=False)
    low = min(min(100 * s.median, 100 * s.best) for s in summary)
    for ax, mode in zip(axes[:, 0], modes):
        part = [s for s in summary if s.mode == mode]
        multi_dtype = len({s.dtype for s in part}) > 1
        multi_commit = len({s.commit for s in summary}) > 1
        ys = list(range(len(part)))
        for y, s in zip(ys, part):
            colour = variant_style(s.variant)[0]
            edge = "white" if colour == OKABE_ITO["black"] else "black"  # the hatch takes the edge colour
            ax.barh(y, 100 * s.best, color=colour, edgecolor=edge, hatch=BOUND_HATCH[s.bound], linewidth=0.8,
                    height=0.7)
            ax.plot(100 * s.median, y, marker="|", color="white", markersize=16, markeredgewidth=4)
            ax.plot(100 * s.median, y, marker="|", color="black", markersize=14, markeredgewidth=1.8)
            noisy = f", {analysis.INCONCLUSIVE}" if s.row["disturbed"] else ""
            ax.annotate(f"{100 * s.best:.3g}% ({s.bound}) at T={s.row['T']}, {s.row['preset']}{noisy}", (100 * s.best, y),
                        ha="left", va="center", fontsize=7, xytext=(4, 0), textcoords="offset points")
        ax.set_yticks(ys)
        ax.set_yticklabels([f"{s.variant} {s.form}" + (f" {s.dtype}" if multi_dtype else "") +
                            (f" @{s.commit}" if multi_commit else "") for s in part])
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:g}%"))
        ax.axvline(100, color="black", linewidth=1)
        ax.set_xlim(max(low / 3, 1e-4), max(2000, 1500 * max(s.best for s in summary)))  # room for the labels
        ax.set_xlabel("fraction of the ceiling the case is bound by (%, log)")
        ax.set_title(f"{mode}: bar = best case over the measured shapes, tick = median", fontsize=9)
        ax.grid(axis="y", visible=False)
    from matplotlib.patches import Patch
    handles = [Patch(facecolor="white", edgecolor="black", hatch=BOUND_HATCH["compute"],
                     label="compute-bound: % of GFLOP/s ceiling"),
               Patch(facecolor="white", edgecolor="black", label="memory-bound: % of GB/s ceiling")]
    fig.legend(handles=handles, loc="lower right", bbox_to_anchor=(0.99, 0.055), ncol=2, fontsize=7)
    ceilings = sorted({(r["ceiling_gflops"], r["ceiling_gbps"]) for r in (s.row for s in summary)})
    ceiling_text = "; ".join(f"{g:.4g} GFLOP/s, {b:.4g} GB/s" for g, b in ceilings)
    fig.suptitle(f"Distance to the in-run ceiling on {fig_spec.backend}: compute-bound when FLOP/byte "
                 f"is above the ridge point", fontsize=10)
    caption(fig, rows, f"Ceilings measured in the run: {ceiling_text}.")
    fig.tight_layout(rect=(0, 0.1, 1, 0.97))
    save(fig, out_dir, fig_spec.name)


def plot_accuracy(results, fig_spec, out_dir):
    import numpy as np
    rows = analysis.of_commit(results.check, fig_spec.commit)
    variants = ordered((r["variant"] for r in rows), VARIANT_ORDER)
    impls = sorted(ordered((r["impl"] for r in rows), ()), key=_impl_rank)
    worst = np.full((len(variants), len(impls)), np.nan)
    state = {}  # (i, j) -> "fail" | "unsupported"
    for r in rows:
        i, j = variants.index(r["variant"]), impls.index(r["impl"])
        if r["status"] == "UNSUPPORTED":
            state.setdefault((i, j), "unsupported")
            continue
        if state.get((i, j)) == "unsupported":
            del state[(i, j)]
        error = r["rel_l2_y"] if math.isfinite(r["rel_l2_y"]) else math.inf
        worst[i, j] = max(error, worst[i, j]) if not math.isnan(worst[i, j]) else error
        if r["status"] == "FAIL":
            state[(i, j)] = "fail"
    finite = worst[np.isfinite(worst)]
    vmin = max(ERROR_FLOOR, float(finite[finite > 0].min()) if (finite > 0).any() else ERROR_FLOOR)
    vmax = max(float(finite.max()) if finite.size else 1.0, 2 * max(CHECK_LIMITS.values()))
    shown = np.where(np.isfinite(worst), np.clip(worst, vmin, None), np.nan)
    fig, ax = plt.subplots(figsize=(3.5 + 1.1 * len(impls), 2.8 + 0.24 * len(variants)))
    cmap = plt.get_cmap("viridis").copy()
    cmap.set_bad("white")
    image = ax.imshow(np.ma.masked_invalid(shown), cmap=cmap, norm=LogNorm(vmin=vmin, vmax=vmax), aspect="auto")
    for i in range(len(variants)):
        for j in range(len(impls)):
            kind = state.get((i, j))
            if kind == "unsupported":
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor="#DDDDDD", hatch="....",
                                           edgecolor="#999999", linewidth=0))
                ax.text(j, i, "unsupported", ha="center", va="center", fontsize=6, color="#444444")
            elif kind == "fail":
                ax.add_patch(plt.Rectangle((j - 0.45, i - 0.45), 0.9, 0.9, fill=False, edgecolor="black",
                                           linewidth=2))
                ax.text(j, i, f"FAIL {worst[i, j]:.1e}", ha="center", va="center", fontsize=6,
                        color="white", fontweight="bold",
                        bbox=dict(boxstyle="square,pad=0.1", facecolor="black", linewidth=0))
            elif np.isfinite(worst[i, j]):
                value = worst[i, j]
                dark = image.norm(max(value, vmin)) < 0.6
                ax.text(j, i, "0" if value == 0 else f"{value:.1e}", ha="center", va="center", fontsize=6,
                        color="white" if dark else "black")
            elif np.isnan(worst[i, j]) and kind is None:
                ax.text(j, i, "not checked", ha="center", va="center", fontsize=6, color="#666666")
    ax.set_xticks(range(len(impls)))
    ax.set_xticklabels(impls, rotation=30, ha="right", fontsize=7.5)
    ax.set_yticks(range(len(variants)))
    ax.set_yticklabels(variants, fontsize=7)
    ax.set_xlabel("form / backend / dtype")
    ax.set_ylabel("variant (preset or spec)")
    ax.grid(False)
    bar = fig.colorbar(image, ax=ax, fraction=0.05, pad=0.02)
    bar.set_label("worst relative L2 error of y (log)")
    limits = [(d, v) for d, v in CHECK_LIMITS.items() if vmin <= v <= vmax]
    for _, limit in limits:
        bar.ax.axhline(limit, color="white", linewidth=3)
        bar.ax.axhline(limit, color="black", linewidth=1.5, linestyle="--")
    ax.set_title("Accuracy: worst relative L2 error over every checked case\n"
                 "(boxed black = FAIL, dotted grey = unsupported)", fontsize=10)
    limit_text = ", ".join(f"{d} {v:g}" for d, v in limits)
    caption(fig, rows, f"Dashed lines on the colour bar: the limits of docs/MATH.md ({limit_text}). "
            "An exact 0 is drawn at the bottom of the scale.")
    fig.tight_layout(rect=(0, 0.45 / fig.get_figheight(), 1, 1))
    save(fig, out_dir, fig_spec.name)


def _impl_rank(impl):
    form, backend, dtype = (impl.split("/") + ["", "", ""])[:3]
    def rank(v, order):
        return order.index(v) if v in order else len(order)
    return rank(backend, ("cpu", "cuda")), rank(dtype, DTYPE_ORDER), rank(form, CHECK_FORM_ORDER), impl


def plot_grid(results, fig_spec, out_dir):
    import numpy as np
    rows = [r for r in analysis.of_commit(results.bench_rows(presets=("grid",), backend=fig_spec.backend),
                                          fig_spec.commit) if r["dtype"] == fig_spec.dtype]
    modes = ordered((r["mode"] for r in rows), ("prefill", "decode"))
    fig, axes = plt.subplots(1, len(modes), figsize=(7.5 * len(modes), 5.2), squeeze=False)
    for ax, mode in zip(axes[0], modes):
        part = [r for r in rows if r["mode"] == mode]
        cells = analysis.group(part, "variant")
        rule_names = ordered((analysis.grid_key(r)[0] for r in part), ("softmax", "add", "gated", "delta", "decay"))
        maps = ordered((analysis.grid_key(r)[1] for r in part), ("none", "identity", "elu1", "relu_proj", "favor", "dpfp"))
        times = np.full((len(rule_names), len(maps)), np.nan)
        labels = {}
        for cell_rows in cells.values():
            rule, phi = analysis.grid_key(cell_rows[0])
            i, j = rule_names.index(rule), maps.index(phi)
            best = min(analysis.ok_rows(cell_rows), key=lambda r: r["time_median_ms"], default=None)
            if best is None:
                labels[(i, j)] = "/".join(sorted({r["status"] for r in cell_rows}))
            else:
                times[i, j] = best["time_median_ms"]
                labels[(i, j)] = f"{best['time_median_ms']:.3g} ms\n{best['form']}"
        cmap = plt.get_cmap("cividis").copy()
        cmap.set_bad("white")
        finite = times[np.isfinite(times)]
        image = ax.imshow(np.ma.masked_invalid(times), cmap=cmap, aspect="auto",
                          norm=LogNorm(vmin=finite.min(), vmax=finite.max()) if finite.size else None)
        for i in range(len(rule_names)):
            for j in range(len(maps)):
                if (i, j) not in labels:
                    ax.text(j, i, "not in grid", ha="center", va="center", fontsize=6.5, color="#666666")
                    continue
                if not np.isfinite(times[i, j]):
                    ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor="#DDDDDD", hatch="xx",
                                               edgecolor="#999999", linewidth=0))
                    ax.text(j, i, labels[(i, j)], ha="center", va="center", fontsize=7, fontweight="bold")
                    continue
                dark = image.norm(times[i, j]) < 0.55
                ax.text(j, i, labels[(i, j)], ha="center", va="center", fontsize=7,
                        color="white" if dark else "black")
        ax.set_xticks(range(len(maps)))
        ax.set_xticklabels(maps)
        ax.set_yticks(range(len(rule_names)))
        ax.set_yticklabels(rule_names)
        ax.set_xlabel("feature map")
        ax.set_ylabel("update rule")
        ax.grid(False)
        ax.set_title(f"{mode}, {shape_text(part, ('B', 'H', 'T', 'dk', 'dv'))}")
        bar = fig.colorbar(image, ax=ax, fraction=0.05, pad=0.02)
        bar.set_label("median time, fastest form (ms, log)")
        bar.ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:g}"))
        bar.ax.yaxis.set_minor_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:g}"))
    fig.suptitle(f"Update rule x feature map on {fig_spec.backend} {fig_spec.dtype}", fontsize=10)
    caption(fig, rows, "Hatched: the case did not run (status shown).")
    fig.tight_layout(rect=(0, 0.07, 1, 0.97))
    save(fig, out_dir, fig_spec.name)


def plot_training(results, fig_spec, out_dir):
    """The training preset: forward + backward time and peak tracked memory against T,
    a row of panels per shape (B, H, d)."""
    rows = [r for r in results.bench_rows(presets=("training",), backend=fig_spec.backend, mode="fwdbwd")
            if r["dtype"] == fig_spec.dtype]
    ok = analysis.ok_rows(rows)
    shapes = analysis.group(ok, "B", "H", "dk")
    fig, axes = plt.subplots(len(shapes), 2, figsize=(13, 4.4 * len(shapes) + 0.8), squeeze=False)
    for (time_ax, mem_ax), ((B, H, dk), part) in zip(axes, shapes.items()):
        time_points, mem_points = [], []
        for variant in analysis.variants_of(part):
            colour, marker, _ = variant_style(variant)
            for (form, commit), series in analysis.group([r for r in part if r["variant"] == variant],
                                                         "form", "commit").items():
                best = analysis.fastest_per_T(series)
                label = f"{variant} ({form}){commit_suffix(part, commit)}"
                style = dict(color=colour, marker=marker, linestyle=FORM_LINESTYLE.get(form, "-."), markersize=5,
                             label=label)
                time_ax.plot(list(best), [r["time_median_ms"] for r in best.values()], **style)
                mem_ax.plot(list(best), [r["peak_host_bytes"] / analysis.MiB for r in best.values()], **style)
                time_points += [(T, r["time_median_ms"], r) for T, r in best.items()]
                mem_points += [(T, r["peak_host_bytes"] / analysis.MiB, r) for T, r in best.items()]
        mark_disturbed(time_ax, time_points)
        mark_disturbed(mem_ax, mem_points)
        for ax in (time_ax, mem_ax):
            ax.set_xscale("log", base=2)
            ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:.0f}"))
            ax.set_yscale("log")
            ax.set_xlabel("sequence length T (tokens)")
        time_ax.set_ylabel("forward + backward (ms)")
        mem_ax.set_ylabel("peak tracked memory (MiB)")
        time_ax.set_title(f"time, B={B} H={H} d=m={dk}", fontsize=9.5)
        mem_ax.set_title(f"memory, B={B} H={H} d=m={dk}", fontsize=9.5)
        mem_ax.legend(title="variant (form)", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(f"A training step of the attention (preset training) on {fig_spec.backend} {fig_spec.dtype}",
                 fontsize=10)
    caption(fig, rows, "Median time; memory: the forward's and backward's own buffers (inputs and dy not counted).")
    fig.tight_layout(rect=(0, 0.07, 1, 0.97))
    save(fig, out_dir, fig_spec.name)


def plot_file(path, out_dir):
    """One bench results file, whatever its preset: time against T for every variant in it
    (a series per variant, form, dtype and gate set; chunked: the fastest chunk per T)."""
    rows = read_bench_file(path)
    ok = analysis.ok_rows(rows)
    modes = ordered((r["mode"] for r in ok), ("decode", "prefill", "bwd", "fwdbwd"))
    if not modes:
        raise ResultsError(f"{path}: no case that ran (status ok) to plot")
    fig, axes = plt.subplots(len(modes), 1, figsize=(10, 4.8 * len(modes) + 0.6), squeeze=False)
    for ax, mode in zip(axes[:, 0], modes):
        part = [r for r in ok if r["mode"] == mode]
        points = []
        for variant in analysis.variants_of(part):
            colour, marker, _ = variant_style(variant)
            mine = [r for r in part if r["variant"] == variant]
            keys = ("form", "backend", "dtype", "gates", "commit")
            for key, series in analysis.group(mine, *keys).items():
                best = analysis.fastest_per_T(series)
                varying = [str(v) for k, v in zip(keys, key) if len({r[k] for r in part}) > 1 and k != "commit"]
                label = " ".join([variant] + varying) + commit_suffix(part, key[-1])
                ax.plot(list(best), [r["time_median_ms"] for r in best.values()], color=colour, marker=marker,
                        linestyle=FORM_LINESTYLE.get(key[0], "-."), markersize=5, label=label)
                points += [(T, r["time_median_ms"], r) for T, r in best.items()]
        mark_disturbed(ax, points)
        if len({r["T"] for r in part}) > 1 and min(r["T"] for r in part) > 0:
            ax.set_xscale("log", base=2)
            ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:.0f}"))
        ax.set_yscale("log")
        ax.set_xlabel("context length T" if mode == "decode" else "sequence length T (tokens)")
        ax.set_ylabel("time per generated token (ms)" if mode == "decode" else "time for the whole sequence (ms)")
        ax.set_title(f"{mode}, {shape_text(part)}", fontsize=9.5)
        ax.legend(title="variant", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    presets = ", ".join(ordered((r["preset"] for r in rows), ()))
    fig.suptitle(f"{os.path.basename(path)} (preset {presets}): every variant in the file", fontsize=10)
    note = statuses_note(rows)
    caption(fig, rows, "Median time." + (f" Not run: {note}." if note else ""), sources=path)
    fig.tight_layout(rect=(0, 0.07, 1, 0.97))
    save(fig, out_dir, "file_" + os.path.splitext(os.path.basename(path))[0])


DRAW = {"paper": plot_paper, "sequence": plot_sequence, "ceiling": plot_ceiling,
        "accuracy": plot_accuracy, "grid": plot_grid, "training": plot_training}
NEEDS = {"paper": "results with preset 'paper'", "sequence": "results with preset 'paper-prefill' or 'scaling'",
         "ceiling": "bench rows with costs and ceilings", "accuracy": "check-*.csv",
         "grid": "results with preset 'grid'", "training": "results with preset 'training'"}


def draw_set(results, out_dir):
    """Every figure of one machine's set into out_dir; figures its results no longer call
    for are removed from out_dir (and from nowhere else)."""
    plan = analysis.figure_plan(results)
    for kind in DRAW:
        if not any(f.kind == kind for f in plan):
            print(f"plot: skipping {kind} plot: no {NEEDS[kind]} in {results.directory}", file=sys.stderr)
    os.makedirs(out_dir, exist_ok=True)
    for fig_spec in plan:
        DRAW[fig_spec.kind](results, fig_spec, out_dir)
    planned = {f"{f.name}.{ext}" for f in plan for ext in ("png", "svg")}
    for name in sorted(os.listdir(out_dir)):
        if name.startswith(analysis.FIGURE_PREFIXES) and name.endswith((".png", ".svg")) and name not in planned:
            os.remove(os.path.join(out_dir, name))
            print(f"plot: removed {os.path.join(out_dir, name)}: its results are gone", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--results", default=os.path.join(root, "results"),
                        help="results root, one directory per machine id")
    parser.add_argument("--out", help="plots root (PNG and SVG per machine; default plots/), or with FILEs the "
                        "directory for their figures (default: the current directory)")
    parser.add_argument("--machine", help="draw only this machine id's set")
    parser.add_argument("files", nargs="*", metavar="FILE", help="bench results files (.csv or .json) to plot "
                        "instead of the results root")
    args = parser.parse_args()
    if args.files:
        out_dir = args.out or os.getcwd()
        os.makedirs(out_dir, exist_ok=True)
        try:
            for path in args.files:
                plot_file(path, out_dir)
        except (ResultsError, OSError) as e:
            print(f"plot: malformed results: {e}", file=sys.stderr)
            return 2
        return 0
    args.out = args.out or os.path.join(root, "plots")
    try:
        sets = machine_sets(args.results)
    except (ResultsError, OSError) as e:
        print(f"plot: malformed results: {e}", file=sys.stderr)
        return 2
    if args.machine is not None:
        sets = [s for s in sets if s.machine_id == args.machine]
        if not sets:
            print(f"plot: no results for machine {args.machine!r} in {args.results}", file=sys.stderr)
            return 2
    if not sets:
        print(f"plot: skipping every plot: no machine's results in {args.results}", file=sys.stderr)
    for results in sets:
        draw_set(results, os.path.join(args.out, results.machine_id))
    return 0


if __name__ == "__main__":
    sys.exit(main())
