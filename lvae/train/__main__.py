"""``python -m lvae.train``: the command line is :mod:`lvae.train_cli`, whose help lists
the registries' names (a new objective or architecture needs no CLI edit)."""

from lvae.train_cli import main

if __name__ == "__main__":
    raise SystemExit(main())
