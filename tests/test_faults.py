"""Fault injection (issue 17): corrupt adapters, out-of-range patterns, stale results on other data, lost
records, concurrent launches, bad settings. Each test failed on the code before the fix."""
import json
import os
import stat
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from safetensors.torch import load_file, save_file
from torch import nn

import neuroada.pipeline as pipeline
from conftest import make_tiny_llama
from neuroada import NeuroAdaConfig, apply_neuroada, cpu_extension, load_adapter, neuroada_layers, save_adapter
from neuroada.adapter_io import AdapterFileError
from neuroada.layer import NeuroAdaLinear
from neuroada.records import write_record
from neuroada.run_guard import DataChanged, RunLocked
from neuroada.selection import select_pattern

REPO = Path(__file__).resolve().parents[1]
COMMON = ["model=tiny-llama", "task.max_new_tokens=2", "trainer.max_steps=1", "trainer.batch_size=8", "eval_batch_size=2",
          "eval_before=false", "logger=none"]
TINY = [*COMMON, "task=addition", "task.train.size=16", "task.eval_sets.addition.size=2"]
GSM8K = [*COMMON, "task=gsm8k", "task.max_train_samples=2", "task.max_eval_samples=2"]


def compose_cfg(root, *overrides, base=TINY):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose("config", overrides=[*base, f"output_root={root}", *overrides])


def gsm8k_cfg(root, *overrides):
    return compose_cfg(root, *overrides, base=GSM8K)


@pytest.fixture
def no_model(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("the model was loaded before the bad input was caught")

    monkeypatch.setattr(pipeline, "load_model", refuse)


# ---- adapters: corrupt files are refused, naming the file and the tensor -------------------------------

def trained_adapter(tmp_path, k=4, selection="magnitude"):
    model = make_tiny_llama()
    apply_neuroada(model, NeuroAdaConfig(k=k, selection=selection))
    with torch.no_grad():
        for layer in neuroada_layers(model).values():
            layer.neuroada_delta.normal_(0, 0.01)
    return save_adapter(model, tmp_path / "adapter")


def rewrite(path, change, keep_metadata=True):
    """Rewrites adapter.safetensors with `change(tensors)` applied (keeping or dropping its checksums)."""
    from safetensors import safe_open

    file = path / "adapter.safetensors"
    with safe_open(str(file), "pt") as f:
        metadata = f.metadata()
    tensors = load_file(file)
    change(tensors)
    save_file(tensors, str(file), metadata=metadata if keep_metadata else {"format": "neuroada-adapter"})


def tensor_offset(file: Path, name: str) -> int:
    header_len = struct.unpack("<Q", file.read_bytes()[:8])[0]
    header = json.loads(file.read_bytes()[8:8 + header_len])
    return 8 + header_len + header[name]["data_offsets"][0]


K_PROJ = "model.layers.0.self_attn.k_proj"


@pytest.mark.parametrize("checksums", [True, False], ids=["with-checksums", "old-file-without-checksums"])
@pytest.mark.parametrize("fault, match", [
    (lambda t: t[f"{K_PROJ}.idx"].__setitem__((0, 0), 30000), r"column indices must be in \[0, 32\)"),
    (lambda t: t[f"{K_PROJ}.idx"].__setitem__((3, 1), -2), r"column indices must be in \[0, 32\)"),
    (lambda t: t[f"{K_PROJ}.idx"].__setitem__((2, 1), t[f"{K_PROJ}.idx"][2, 0]), "strictly increasing"),
    (lambda t: t.__setitem__(f"{K_PROJ}.idx", t[f"{K_PROJ}.idx"].float()), "must be int16, int32 or int64"),
    (lambda t: t.__setitem__(f"{K_PROJ}.idx", t[f"{K_PROJ}.idx"][:8]), r"must have shape \(16, k\)"),
    (lambda t: t.__setitem__(f"{K_PROJ}.delta", t[f"{K_PROJ}.delta"][:, :2].contiguous()), "must be float32 shaped like"),
    (lambda t: t.pop(f"{K_PROJ}.delta"), "is missing"),
])
def test_corrupt_adapter_tensors_are_refused_before_the_model_changes(tmp_path, checksums, fault, match):
    path = trained_adapter(tmp_path)
    rewrite(path, fault, keep_metadata=checksums)
    base = make_tiny_llama()
    before = {k: v.clone() for k, v in base.state_dict().items()}
    expected = "does not match its sha256|is missing" if checksums else match
    with pytest.raises(AdapterFileError, match=expected) as info:
        load_adapter(base, path)
    assert "adapter.safetensors" in str(info.value) and K_PROJ in str(info.value)
    assert not neuroada_layers(base) and not hasattr(base, "neuroada_config")
    assert all(p.requires_grad for p in base.parameters())
    after = base.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_a_bit_flipped_delta_is_caught_by_the_checksum(tmp_path, tiny_batch):
    path = trained_adapter(tmp_path)
    file = path / "adapter.safetensors"
    data = bytearray(file.read_bytes())
    at = tensor_offset(file, f"{K_PROJ}.delta") + 3  # the sign/exponent byte of the first fp32 value
    data[at] ^= 0x04  # exponent + 8: the value grows 256x (or shrinks), still finite
    file.write_bytes(bytes(data))
    bad = load_file(file)[f"{K_PROJ}.delta"]
    assert torch.isfinite(bad).all()
    with pytest.raises(AdapterFileError, match=rf"adapter.safetensors: tensor '{K_PROJ}.delta' does not match its sha256"):
        load_adapter(make_tiny_llama(), path)


@pytest.mark.parametrize("damage, match", [
    (lambda f: f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 2]), "not a readable safetensors file"),
    (lambda f: f.write_bytes(b""), "not a readable safetensors file"),
    (lambda f: f.write_bytes(os.urandom(4096)), "not a readable safetensors file"),
])
def test_truncated_empty_or_garbage_weights_file_is_named(tmp_path, damage, match):
    path = trained_adapter(tmp_path)
    damage(path / "adapter.safetensors")
    base = make_tiny_llama()
    with pytest.raises(AdapterFileError, match=match) as info:
        load_adapter(base, path)
    assert str(path / "adapter.safetensors") in str(info.value)
    assert not neuroada_layers(base)


def test_truncated_config_is_named(tmp_path):
    path = trained_adapter(tmp_path)
    cfg = path / "adapter_config.json"
    cfg.write_text(cfg.read_text()[:40])
    with pytest.raises(AdapterFileError, match="adapter_config.json: not valid JSON"):
        load_adapter(make_tiny_llama(), path)


def test_a_failed_load_can_be_retried(tmp_path, tiny_batch):
    good = trained_adapter(tmp_path / "good")
    bad = trained_adapter(tmp_path / "bad")
    rewrite(bad, lambda t: t[f"{K_PROJ}.idx"].__setitem__((0, 0), 30000), keep_metadata=False)
    base = make_tiny_llama()
    with pytest.raises(AdapterFileError):
        load_adapter(base, bad)
    load_adapter(base, good)  # used to fail: "base_model already has NeuroAda layers"
    reference = load_adapter(make_tiny_llama(), good)
    assert torch.equal(base(**tiny_batch).logits, reference(**tiny_batch).logits)


def test_save_refuses_to_delete_what_it_did_not_write(tmp_path):
    model = make_tiny_llama()
    apply_neuroada(model, NeuroAdaConfig(k=2))
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="not empty and is not a NeuroAda adapter.*notes.txt"):
        save_adapter(model, folder)
    assert (folder / "notes.txt").read_text() == "precious"
    a_file = tmp_path / "adapter"
    a_file.write_text("precious")
    with pytest.raises(FileExistsError, match="is not a folder"):
        save_adapter(model, a_file)
    assert a_file.read_text() == "precious"
    empty = tmp_path / "empty"
    empty.mkdir()
    save_adapter(model, empty)  # an empty folder is fine
    save_adapter(model, empty)  # and so is replacing a previous adapter
    assert sorted(p.name for p in empty.iterdir()) == ["adapter.safetensors", "adapter_config.json"]


def test_save_and_load_on_a_model_without_hf_config(tmp_path):
    class Mine(nn.Module):
        def __init__(self):
            super().__init__()
            self.up, self.down = nn.Linear(16, 32), nn.Linear(32, 16)

        def forward(self, x):
            return self.down(torch.relu(self.up(x)))

    torch.manual_seed(0)
    model = Mine()
    apply_neuroada(model, NeuroAdaConfig(k=3, target_modules=["up", "down"]))
    with torch.no_grad():
        model.up.neuroada_delta.normal_()
    save_adapter(model, tmp_path / "a")  # used to raise AttributeError: no `config`
    torch.manual_seed(0)
    loaded = load_adapter(Mine(), tmp_path / "a")
    x = torch.randn(4, 16)
    assert torch.equal(loaded(x), model(x))
    torch.manual_seed(1)
    with pytest.raises(ValueError, match="different base model"):
        load_adapter(Mine(), tmp_path / "a")


def test_invalid_regex_target_is_a_clear_error():
    with pytest.raises(ValueError, match=r"target pattern 're:\(q_proj' is not a valid regular expression"):
        apply_neuroada(make_tiny_llama(), NeuroAdaConfig(k=2, target_modules=["re:(q_proj"]))


# ---- the layer and the C++ kernels never write out of range ---------------------------------------------

def test_every_selection_gives_a_pattern_the_checks_accept():
    from neuroada.selection import check_pattern

    w = torch.randn(12, 10)
    for selection in ("magnitude", "reverse", "random", "random_layer", "partial_rows"):
        check_pattern(select_pattern(w, selection, 3, name="w"))
    check_pattern(select_pattern(w, "random_global", 3, name="w", count=40))


@pytest.mark.parametrize("path", ["cpp", "torch"])
def test_a_corrupt_index_buffer_raises_and_leaves_every_weight_unchanged(path):
    if path == "cpp" and not cpu_extension.available():
        pytest.skip("no C++ toolchain")
    torch.manual_seed(0)
    storage = torch.randn(4 * 8 * 16)  # four weights side by side: a write out of range lands in a neighbour
    weights = [storage[i * 128:(i + 1) * 128].view(8, 16) for i in range(4)]
    before = storage.clone()
    base = nn.Linear(16, 8, bias=False)
    base.weight = nn.Parameter(weights[1], requires_grad=False)
    layer = NeuroAdaLinear(base, select_pattern(weights[1], "magnitude", 3, name="w"))
    with torch.no_grad():
        layer.neuroada_delta.fill_(1.0)
        layer.neuroada_idx[7, 2] = 40  # row 7 + column 40 = the first row of the next weight
    ctx = cpu_extension.disabled() if path == "torch" else torch.no_grad()
    with ctx, pytest.raises(ValueError, match=r"column indices must be in \[0, 16\)"):
        layer(torch.randn(2, 16))
    assert torch.equal(storage, before)


def test_cpp_kernels_never_write_out_of_range():
    ext = cpu_extension.load()
    if ext is None:
        pytest.skip("no C++ toolchain")
    storage = torch.randn(2 * 8 * 16)  # the weight and, right after it in memory, a neighbour
    w = storage[:128].view(8, 16)
    before = storage.clone()
    crow = torch.arange(0, 8 * 3 + 1, 3)
    for bad in (40, -1, 16):
        col = torch.tensor([[1, 5, 9]] * 8, dtype=torch.int16)
        col[5, 1] = bad
        col = col.reshape(-1)
        with pytest.raises(RuntimeError, match="pattern out of range.*nothing was written"):
            ext.swap_in(w, crow, col, torch.ones(24))
        with pytest.raises(RuntimeError, match="pattern out of range"):
            ext.restore(w, crow, col, torch.zeros(24))
        with pytest.raises(RuntimeError, match="pattern out of range"):
            ext.sddmm_csr_tiled(torch.randn(4, 8), torch.randn(4, 16), crow, col, 64)
        assert torch.equal(storage, before)
    good = torch.tensor([1, 5, 9] * 8, dtype=torch.int16)
    for bad_rows in (torch.cat([crow[:4], torch.tensor([100]), crow[5:]]),  # a pointer past the entries
                     torch.cat([crow[:4], torch.tensor([2]), crow[5:]])):  # pointers going back
        for call in (lambda: ext.swap_in(w, bad_rows, good, torch.ones(24)), lambda: ext.restore(w, bad_rows, good, torch.zeros(24))):
            with pytest.raises(RuntimeError, match="pattern out of range"):
                call()
        assert torch.equal(storage, before)
    repeated = torch.tensor([1, 1, 9] * 8, dtype=torch.int16)  # a repeated column: restore is still exact
    ext.restore(w, crow, repeated, ext.swap_in(w, crow, repeated, torch.ones(24)))
    assert torch.equal(storage, before)


# ---- records: strict JSON, the user's umask ----------------------------------------------------------

def test_records_are_strict_json(tmp_path):
    path = write_record(tmp_path, {"metrics": {"test": {"accuracy": float("nan"), "loss": float("inf")}}, "n": 0})
    record = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert record["metrics"]["test"] == {"accuracy": None, "loss": None}


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_records_and_adapters_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        record = write_record(tmp_path / "run", {"status": "completed"})
        model = make_tiny_llama()
        apply_neuroada(model, NeuroAdaConfig(k=2))
        adapter = save_adapter(model, tmp_path / "run" / "adapter")
    finally:
        os.umask(old)
    assert stat.S_IMODE(record.stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE(adapter.stat().st_mode) == 0o777 & ~umask
    assert stat.S_IMODE((adapter / "adapter_config.json").stat().st_mode) == 0o666 & ~umask


# ---- settings: clear errors before the model loads -----------------------------------------------------

@pytest.mark.parametrize("override, match", [
    ("task.max_train_samples=0", r"task.max_train_samples=0 is invalid.*leave the set empty"),
    ("task.max_train_samples=-1", r"task.max_train_samples=-1 is invalid: an integer >= 1 or null"),
    ("task.max_train_samples=abc", r"task.max_train_samples='abc' is invalid"),
    ("task.max_eval_samples=0", r"task.max_eval_samples=0 is invalid"),
    ("task.max_eval_samples=-1", r"task.max_eval_samples=-1 is invalid"),
    ("seed=abc", r"seed='abc' is invalid: an integer"),
    ("trainer.lr=0", r"trainer.lr=0 is invalid.*lr=0 would train nothing"),
    ("trainer.lr=-1", r"trainer.lr=-1 is invalid: a number > 0"),
    ("trainer.batch_size=0", r"trainer.batch_size=0 is invalid: an integer >= 1"),
    ("trainer.grad_accum=0", r"trainer.grad_accum=0 is invalid"),
    ("trainer.max_steps=0 trainer.epochs=0", r"nothing would be trained"),
    ("model=tiny-bert", r"model=tiny-bert is an encoder.*task=addition is a generation task"),
])
def test_bad_settings_fail_before_the_model_loads(tmp_path, no_model, override, match):
    with pytest.raises(ValueError, match=match):
        pipeline.run(compose_cfg(tmp_path, *override.split()))


def test_an_empty_train_file_is_named(tmp_path, no_model, data_dir):
    data = tmp_path / "data"
    (data / "gsm8k").mkdir(parents=True)
    (data / "gsm8k" / "train.jsonl").write_text("")
    (data / "gsm8k" / "test.jsonl").write_text((data_dir / "gsm8k" / "test.jsonl").read_text().splitlines()[0] + "\n")
    with pytest.raises(ValueError, match="task 'gsm8k' has no training examples"):
        pipeline.run(gsm8k_cfg(tmp_path / "runs", f"data_dir={data}"))


def test_max_length_too_short_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"after tokenization with trainer.max_length=8.*raise trainer.max_length"):
        pipeline.run(compose_cfg(tmp_path, "trainer.max_length=8"))


# ---- the run folder: data identity, lock, failures, unwritable roots ----------------------------------------

def fake_completed(cfg_dc, data_dir: Path, files: dict[str, str]) -> Path:
    from omegaconf import OmegaConf

    cfg = OmegaConf.to_container(cfg_dc, resolve=True)
    run_dir = Path(cfg["output_root"]) / pipeline.run_id(cfg)
    write_record(run_dir, {"run_id": run_dir.name, "status": "completed", "metrics": {"gsm8k": {"accuracy": 0.5}},
                           "data_dir": str(data_dir), "data_sha256": {str(data_dir / k): v for k, v in files.items()}})
    return run_dir


def gsm8k_copy(root: Path, source: Path, change: bool = False) -> Path:
    (root / "gsm8k").mkdir(parents=True)
    for name in ("train.jsonl", "test.jsonl"):
        lines = (source / "gsm8k" / name).read_text().splitlines()[:4]
        if change and name == "train.jsonl":
            lines[0] = lines[0].replace("a", "b", 1)
        (root / "gsm8k" / name).write_text("\n".join(lines) + "\n")
    return root


def test_a_completed_run_is_not_reused_for_other_data(tmp_path, no_model, data_dir):
    from neuroada.records import file_sha256

    a = gsm8k_copy(tmp_path / "a", data_dir)
    b = gsm8k_copy(tmp_path / "b", data_dir, change=True)
    same = gsm8k_copy(tmp_path / "same", data_dir)
    files = {f"gsm8k/{n}": file_sha256(a / "gsm8k" / n) for n in ("train.jsonl", "test.jsonl")}
    fake_completed(gsm8k_cfg(tmp_path / "runs", f"data_dir={a}"), a, files)
    with pytest.raises(DataChanged, match=r"different data: .* files in .*/a\) there, .* files in .*/b\) now \(gsm8k/train.jsonl: content differs\)"):
        pipeline.run(gsm8k_cfg(tmp_path / "runs", f"data_dir={b}"))
    with pytest.raises(DataChanged, match="gsm8k/test.jsonl: missing here"):  # a data folder that does not exist
        pipeline.run(gsm8k_cfg(tmp_path / "runs", f"data_dir={tmp_path / 'nowhere'}"))
    # the same files in another folder are the same data: the completed run is skipped
    assert pipeline.run(gsm8k_cfg(tmp_path / "runs", f"data_dir={same}"))["metrics"]["gsm8k"]["accuracy"] == 0.5


def test_checkpoints_are_not_resumed_on_other_data(tmp_path, no_model, data_dir):
    a = gsm8k_copy(tmp_path / "a", data_dir)
    b = gsm8k_copy(tmp_path / "b", data_dir, change=True)
    cfg_a = gsm8k_cfg(tmp_path / "runs", f"data_dir={a}")
    with pytest.raises(AssertionError, match="model was loaded"):  # starts: records the data it trains on
        pipeline.run(cfg_a)
    run_dir = next((tmp_path / "runs").iterdir())
    assert json.loads((run_dir / "data_sha256.json").read_text())["files"].keys() == {"gsm8k/train.jsonl", "gsm8k/test.jsonl"}
    (run_dir / "checkpoints" / "checkpoint-2").mkdir(parents=True)  # as a killed run leaves it
    with pytest.raises(DataChanged, match=r"was started \(its checkpoints are\) on different data"):
        pipeline.run(gsm8k_cfg(tmp_path / "runs", f"data_dir={b}"))


def test_a_failure_never_replaces_a_completed_record(tmp_path, no_model, data_dir):
    from neuroada import cli

    run_dir = fake_completed(gsm8k_cfg(tmp_path), data_dir, {})
    completed = (run_dir / "record.json").read_text()
    with pytest.raises(SystemExit):
        cli.main(gsm8k_cfg(tmp_path, "resume=false", f"data_dir={tmp_path / 'nowhere'}"))
    assert (run_dir / "record.json").read_text() == completed
    failed = json.loads((run_dir / "record.failed.json").read_text())
    assert failed["status"] == "failed" and "nowhere" in failed["error"]


def hold_lock(run_dir: Path) -> subprocess.Popen:
    run_dir.mkdir(parents=True, exist_ok=True)
    code = (f"from filelock import FileLock; import sys, time; lock = FileLock({str(run_dir / '.lock')!r}); lock.acquire(); "
            "print('held', flush=True); time.sleep(600)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_launch_of_a_running_run_stops(tmp_path, no_model):
    from omegaconf import OmegaConf

    cfg = compose_cfg(tmp_path)
    run_dir = tmp_path / pipeline.run_id(OmegaConf.to_container(cfg, resolve=True))
    holder = hold_lock(run_dir)  # another process is running this run
    try:
        with pytest.raises(RunLocked, match=f"run {run_dir.name} is already running in another process"):
            pipeline.run(cfg)
        assert not (run_dir / "record.json").exists()
    finally:
        holder.kill()  # like a killed job: the OS drops its lock
        holder.wait()
    with pytest.raises(AssertionError, match="model was loaded"):  # now this launch gets the run
        pipeline.run(cfg)


def run_cli(tmp_path, *overrides):
    env = {**os.environ, "WANDB_MODE": "disabled"}
    cmd = [sys.executable, "src/run.py", *TINY, f"hydra.run.dir={tmp_path / 'hydra'}", *overrides]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def test_a_failed_run_prints_the_message_and_the_traceback_only_with_debug(tmp_path):
    out = run_cli(tmp_path, f"output_root={tmp_path / 'runs'}", "trainer.lr=0")
    assert out.returncode == 1
    assert "trainer.lr=0" in out.stderr + out.stdout and "Traceback" not in out.stderr + out.stdout
    out = run_cli(tmp_path, f"output_root={tmp_path / 'runs'}", "trainer.lr=0", "debug=true")
    assert out.returncode == 1 and "Traceback" in out.stderr


def test_an_output_root_that_is_a_file_is_one_clear_message(tmp_path):
    root = tmp_path / "file"
    root.write_text("")
    out = run_cli(tmp_path, f"output_root={root}")
    assert out.returncode == 1, out.stderr[-2000:]
    assert "is a file, not a folder" in out.stderr + out.stdout and "Traceback" not in out.stderr + out.stdout


def test_a_read_only_output_root_is_one_clear_message(tmp_path, monkeypatch, caplog):
    """Read-only is simulated (root ignores permissions): every write under the root is refused."""
    from neuroada import cli, io_utils

    root = tmp_path / "ro"
    root.mkdir()

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")

    mkdir = Path.mkdir
    monkeypatch.setattr(Path, "mkdir", lambda self, *a, **k: refuse() if str(self).startswith(str(root)) else mkdir(self, *a, **k))
    monkeypatch.setattr(io_utils.tempfile, "mkstemp", refuse)
    with pytest.raises(SystemExit):
        cli.main(compose_cfg(root))
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "cannot be written (Permission denied)" in errors[0].getMessage()
    assert errors[0].exc_info is None
    assert not list(root.iterdir())


def test_every_shipped_preset_passes_the_setting_checks():
    """The checks reject bad values only: the default job, every experiment preset and every task (with a model
    of the right kind) pass."""
    from omegaconf import OmegaConf

    from neuroada.config_checks import check_run_config

    overrides = [[]] + [[f"experiment={p.stem}"] for p in sorted((REPO / "conf" / "experiment").glob("*.yaml"))]
    for task in sorted(p.stem for p in (REPO / "conf" / "task").glob("*.yaml")):
        with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
            kind = compose("config", overrides=[f"task={task}"]).task.kind
        overrides.append([f"task={task}", "model=minilm-l6" if kind != "generation" else "model=smollm2-135m"])
    for extra in overrides:
        with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
            check_run_config(OmegaConf.to_container(compose("config", overrides=extra), resolve=True))
