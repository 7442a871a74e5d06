"""PNG plots (matplotlib, Agg backend): one figure per target and metric, one panel per workload.

Bars are medians; whiskers span min to max over the repetitions. s3fast runners are drawn
in one colour family and peers in another so the comparison reads at a glance.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .summary import GroupSummary, is_s3fast, label_order

#: file name stem -> (metric, title); both whole process, start-up included, like the ratios.
PLOT_METRICS = {
    "mb_per_s": ("mb_per_s_process", "throughput, MB/s, whole process (higher is better)"),
    "cpu_s_per_gib": ("cpu_s_per_gib", "client CPU-s per GiB, whole process (lower is better)"),
}


def make_plots(groups: Sequence[GroupSummary], out_dir: Path) -> list[str]:
    """Write the PNGs into ``out_dir``; return their file names (relative to ``out_dir``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for target in sorted({g.target for g in groups}):
        mine = [g for g in groups if g.target == target]
        workloads = sorted({g.workload for g in mine})
        for stem, (metric, title) in PLOT_METRICS.items():
            panels = [(w, [g for g in mine if g.workload == w and g.get(metric)]) for w in workloads]
            panels = [(w, gs) for w, gs in panels if gs]
            if not panels:
                continue
            ncols = min(3, len(panels))
            nrows = -(-len(panels) // ncols)
            max_bars = max(len(gs) for _, gs in panels)
            fig, axes = plt.subplots(
                nrows, ncols, figsize=(5.2 * ncols, 0.8 + 0.32 * max_bars * nrows + 0.9 * nrows),
                squeeze=False,
            )
            for ax in axes.flat[len(panels):]:
                ax.set_visible(False)
            for ax, (workload, gs) in zip(axes.flat, panels):
                gs = sorted(gs, key=lambda g: label_order(g.label))
                meds = [g.get(metric).median for g in gs]  # type: ignore[union-attr]
                lows = [m - g.get(metric).min for m, g in zip(meds, gs)]  # type: ignore[union-attr]
                highs = [g.get(metric).max - m for m, g in zip(meds, gs)]  # type: ignore[union-attr]
                colors = ["tab:red" if is_s3fast(g.runner) else "tab:blue" for g in gs]
                ypos = list(range(len(gs)))
                ax.barh(ypos, meds, xerr=[lows, highs], color=colors, alpha=0.8, capsize=2)
                ax.set_yticks(ypos)
                ax.set_yticklabels([g.label for g in gs], fontsize=7)
                ax.invert_yaxis()
                ax.set_title(workload, fontsize=9)
                ax.tick_params(axis="x", labelsize=7)
                ax.grid(axis="x", alpha=0.3)
            fig.suptitle(f"{target}: {title}", fontsize=10)
            fig.tight_layout()
            name = f"{stem}-{target}.png"
            fig.savefig(out_dir / name, dpi=80)
            plt.close(fig)
            written.append(name)
    return written
