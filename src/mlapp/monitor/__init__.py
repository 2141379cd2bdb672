"""Monitoring and continuous training.

``mlapp monitor run`` compares a batch of recent data with the training reference (feature
drift, prediction shift, metric decay) and says whether to retrain; ``mlapp monitor retrain-*``
turns that recommendation into one pull request that the normal PR report and gate judge.

Modules: ``stats`` (PSI, KS: pure functions), ``batch`` (reading and validating a batch),
``drift`` (the comparison and the decision), ``rows`` (the report's rows, read without pandas),
``render`` (Markdown), ``run`` (the command), ``refresh`` and ``retrain`` (the retraining branch
and pull request).
"""
