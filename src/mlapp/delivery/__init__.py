"""Delivery: build once, record desired state by digest on the deploy branch, wait for reality.

``state`` + ``git``: the deploy branch (plain git in a temporary worktree); ``ops``: deploy,
promote, rollback, accept on it; ``kube``: render, validate, push-mode apply; ``argocd``: the
controller objects and bootstrap; ``verify``: wait until the service reports the model;
``e2e``: the kind job; ``registry``: MLflow aliases; ``github``/``setup``: gh; ``workflows``.
"""
