"""Which checkpoint a relaunch resumes from: incomplete ones are skipped, a finished run trains no more."""
import logging

import torch
from safetensors.torch import save_file
from transformers import TrainerState

from neuroada.training.checkpoints import finished_training, last_complete_checkpoint, mean_training_loss


def _checkpoint(root, step, max_steps=4):
    path = root / f"checkpoint-{step}"
    path.mkdir(parents=True)
    save_file({"delta": torch.arange(64, dtype=torch.float32)}, str(path / "trainable.safetensors"))
    TrainerState(global_step=step, max_steps=max_steps).save_to_json(str(path / "trainer_state.json"))
    return path


def test_truncated_last_checkpoint_falls_back_to_the_previous_one(tmp_path, caplog):
    _checkpoint(tmp_path, 2)
    last = _checkpoint(tmp_path, 4)
    weights = last / "trainable.safetensors"
    weights.write_bytes(weights.read_bytes()[:-40])  # a kill during the save
    with caplog.at_level(logging.WARNING):
        assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-2")
    assert "checkpoint-4 is incomplete" in caplog.text and "trainable.safetensors" in caplog.text


def test_checkpoint_without_trainer_state_is_incomplete(tmp_path):
    _checkpoint(tmp_path, 2)
    (_checkpoint(tmp_path, 10) / "trainer_state.json").unlink()  # numeric order, not lexical: 10 > 2
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-2")
    assert last_complete_checkpoint(tmp_path / "missing") is None


def test_complete_last_checkpoint_is_used(tmp_path):
    _checkpoint(tmp_path, 2)
    _checkpoint(tmp_path, 10, max_steps=10)
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-10")


def test_finished_training_only_at_the_last_step(tmp_path):
    assert finished_training(str(_checkpoint(tmp_path, 2))) is None
    state = finished_training(str(_checkpoint(tmp_path, 4)))
    assert state is not None and state.global_step == 4
    assert finished_training(None) is None


def test_mean_training_loss_weights_logged_intervals():
    state = TrainerState(log_history=[{"loss": 1.0, "step": 1}, {"loss": 4.0, "step": 4}, {"eval_loss": 9.0, "step": 4}])
    assert mean_training_loss(state) == (1.0 * 1 + 4.0 * 3) / 4
    assert mean_training_loss(TrainerState()) is None
