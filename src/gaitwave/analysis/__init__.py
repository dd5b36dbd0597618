"""Analysis of losses and finished runs, one module per step:

- ``runs``: find training run folders and read each one's status, metrics, overrides and config.
- ``stats``: seed statistics: mean ± std, paired differences with Student t intervals.
- ``ablation``: the ablation report's numbers: rows over seeds, baseline, l grid, part weights.
- ``tables``: the report as Markdown, CSV and console tables; ``write_report`` writes its files.
- ``weights``: part weights omega of the fusion over training, from ``fusion_weights.csv``.
- ``plots``: the report's figures: bars, l_min x l_max heatmap, part weights per part.
- ``curves``: loss value and |dL/dp| of one part against p(s_i) (the paper's Figures 3, 4).

``gaitwave-report`` (:mod:`gaitwave.report`) chains runs, ablation and tables; ``gaitwave-figures``
(:mod:`gaitwave.figures`) draws the curves.
"""
