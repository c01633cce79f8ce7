"""`python -m neuroada.estimator`: the command line (`cli.main`)."""
from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
