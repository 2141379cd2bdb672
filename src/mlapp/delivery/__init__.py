"""Delivery: build once, record desired state by digest on the deploy branch, wait for reality."""
