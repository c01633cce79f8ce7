"""Entry point: python src/run.py [model=...] [task=...] [method=...] [experiment=...] [-m sweeps]."""
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `neuroada` importable without installing

from neuroada.cli import main as run_main  # noqa: E402


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig):
    return run_main(cfg)  # the record (None for a failed job of a multirun): read by neuroada.sweep_summary


if __name__ == "__main__":
    main()
