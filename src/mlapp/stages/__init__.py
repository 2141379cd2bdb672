"""Pipeline stages, one module each: a pure core function plus a thin ``main``."""
