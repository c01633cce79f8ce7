"""Memory of one training step of a model too large to run here, estimated without allocating it.

How (exact by construction for what the code really does, up to kernel workspaces):

1. The model is built on the meta device from its config (`with torch.device("meta"): LlamaForCausalLM(cfg)`)
   and cast to the training dtype; the method is applied there with the same code a real run uses
   (`neuroada.methods.prepare_method`; `neuroada.released` for the released code's composition).
2. Every parameter, buffer and attached tensor becomes a fake tensor (`FakeTensorMode`, device cpu):
   shapes, dtypes and storages, no data.
3. AdamW's state is created first (zero gradients and one unmeasured step, as a real first step creates
   it), then one training step runs under fake mode -- forward (under bf16 autocast for mixed precision),
   backward, AdamW step. Two instruments watch it:
   - `saved_tensors_hooks`: the non-parameter storages saved for backward that are still alive when
     backward starts = `activations` (each storage once, whole);
   - a `TorchDispatchMode` that sees every storage an op creates (views of inputs excluded) and, through a
     weakref, its release: the highest sum of live bytes above the start of the step = `peak_step`.

The report is a `memory.MemoryReport` (the categories and definitions of a measured step; one difference:
`memory.py` also counts saved storages that the forward frees again, which only DoRA's detached
weight-norm branch has):
parameters, buffers, gradients, optimizer state, activations, temporaries = max(0, peak_step -
activations - gradients), total = parameters + buffers + optimizer state + max(peak_step, activations +
gradients). Not modelled: allocator rounding/fragmentation, kernel workspaces that are not tensors
(cuBLAS, flash-attention scratch), CUDA context, gradient-norm clipping (small per-parameter norms).

Fake tensors cannot run torch's sparse CSR kernel, so the estimate swaps NeuroAda's `sampled_addmm`
for a stand-in that allocates the same tensors (the fp32 `g^T` and `x` copies, values, indices) and
returns a correctly shaped result. Attention runs through HF's `sdpa` path on the fake CPU device,
which (no padding mask) selects the flash kernel: it saves q, k, v, the output and an fp32
log-sum-exp, as CUDA's flash kernel does. Where CPU and CUDA kernels save different tensors, `target`
picks CUDA's by default: dropout (LoRA/DoRA's, p = 0.05) then saves a bool mask (CUDA's fused kernel)
instead of CPU's input-dtype noise tensor.

Activation checkpointing (`checkpointing=`): HF's, of every decoder layer, turned on as the Trainer does for
`trainer.gradient_checkpointing=true` (`memory.enable_activation_checkpointing`), so the fake step runs
torch.utils.checkpoint itself: the layers' inputs are what the checkpoint saves (`activations`), and what a
layer's recomputation in backward allocates is counted apart at the peak (`peak_recomputed`). `peak_logits`
is the part of the peak held by vocabulary-wide tensors (logits, their fp32 copies, log-softmax, gradients).

Validated (peak within 0.04 %) against measured CPU steps of a SmolLM2-shaped model (`validate`, the
`--validate` command, tests/test_estimator.py), for every method, in fp32 and in bf16 under autocast, and in
fp32 with activation checkpointing, reentrant and non-reentrant.

Command line (the sweep of the paper's setting with and without checkpointing, the largest batch that fits
each GPU size, and the validation against measured steps):

    python -m neuroada.estimator --models llama-7b,llama-13b,llama3-8b --k 1,5,10,20,50 --batch 16,4 \
        --checkpointing none,non_reentrant --out results/memory/
    python -m neuroada.estimator --fits --models llama-7b,llama-13b,llama3-8b --out results/memory/
    python -m neuroada.estimator --validate --validate-dtypes float32 --validate-checkpointing none,non_reentrant,reentrant \
        --keep-rows --out results/memory/

Modules: `meta_model` (the paper's models and methods, built on the meta device), `fake` (fake tensors and the
kernels that run on them), `tracking` (the live storages of a step and their peak), `step` (one simulated training
step), `estimate` (`estimate_step_memory`, `MemoryEstimate`), `sweep`, `fits` (the largest batch that fits each
GPU), `validation` (against measured steps), `cli` (the command line, run by `__main__`).
"""
from .cli import _environment, _write_json, main
from .estimate import MemoryEstimate, _numel, _tag, estimate_step_memory
from .fake import _cuda_dropout, _fake_friendly_kernels, _fakify, _shadow_fused_swap, _shadow_sampled_addmm, _shadow_sampled_cpu
from .fits import GPU_SIZES_GIB, USABLE_FRACTION, fits_table, largest_batch
from .meta_model import (_LLAMA1, DTYPES, GB, LLAMA_TARGETS, LORA_PAPER_TARGETS, METHODS, PAPER_MODELS, SPARSE_METHODS, apply_method,
                         build_meta_model, llama_config, method_config)
from .step import _default_step, _marking_recomputation, simulate_step
from .sweep import sweep
from .tracking import _LiveStorages, _storage_id, _unique_nbytes
from .validation import VALIDATION_MODEL, _real_model, validate
