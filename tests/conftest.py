import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real benchmark data (../shared/data beside the repo, or $NEUROADA_DATA_DIR)."""
    path = Path(os.environ.get("NEUROADA_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))
    if not path.is_dir():
        pytest.fail(f"benchmark data not found at {path}; set NEUROADA_DATA_DIR")
    return path


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield
