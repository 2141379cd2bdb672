"""Delivery: build once, record desired state by digest on the deploy branch, wait for reality.

``state``: the deploy branch (plain git in a temporary worktree) and its release records;
``ops``: deploy, promote, rollback, accept on it; ``kube``: render, validate, push-mode apply;
``cluster``: Argo CD objects and bootstrap, wait, smoke, the kind e2e; ``registry``: MLflow
aliases; ``github``: attestation, repository setup, workflow rules; ``commands``: the CLI's.
"""
