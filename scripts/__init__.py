"""Repository scripts. The Python ones run from the repository root as modules, e.g.
`python -m scripts.gen_reference` (docs/reference/ from the code) and `python -m scripts.build_readme`."""
