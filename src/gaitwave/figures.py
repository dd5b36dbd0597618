"""gaitwave-figures: draw the paper's Figures 3 and 4 from the implemented norm-fusion.

    gaitwave-figures                      # writes outputs/figures/
    gaitwave-figures --out docs/figures

Writes `figure3_value.png` (loss value against p(s_i)), `figure4_gradient.png` (|dL/dp(s_i)|)
and `curves.csv` (every plotted number); the computation is `gaitwave.analysis.curves`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from gaitwave.analysis.curves import write_figures


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry: `gaitwave-figures [--out DIR]`."""
    parser = argparse.ArgumentParser(
        prog="gaitwave-figures",
        description="Draw the Waveloss paper's Figures 3 (loss value) and 4 (gradient) for "
        "l = -1..3 without normalisation, without truncation, and with both, from NormFusion.",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("outputs/figures"), help="output folder (created)"
    )
    args = parser.parse_args(argv)
    for path in write_figures(args.out).values():
        print(path)


if __name__ == "__main__":
    main()
