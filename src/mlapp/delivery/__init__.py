"""Delivery: build once, deploy by digest, promote what passed staging, roll back in one step.

``state`` + ``git``: the deploy branch (GitOps record of what runs where);
``ops``: deploy/promote/rollback/accept on it; ``kube``: render, validate, apply;
``registry``: MLflow aliases; ``github``/``setup``: gh calls; ``workflows``: workflow rules.
"""
