"""Analysis of losses and finished runs: ``curves`` (the paper's Figures 3 and 4), ``runs``
(reading run folders), ``stats`` (seed statistics), ``ablation`` (paper-style tables over seeds,
paired against a baseline) and ``plots`` (the report's figure). ``gaitwave-report``
(:mod:`gaitwave.report`) puts the last four together."""
