"""The serving image: build context, container engine, local base stand-in, build + smoke test.

``mlapp.image.build.build_and_smoke`` is what ``make image`` runs; the Dockerfile next to
this file is the template every build context gets (see ``mlapp.image.context``).
"""
