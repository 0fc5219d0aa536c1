"""keep_freed_memory: a training step's tensors reuse pages instead of faulting them in anew."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

STEPS = """
import resource, sys
import torch
from model.training.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()

def step():  # tensors of 1-20 MiB, as a training step of the shipped models allocates
    kept = [torch.ones(2**18 * k) for k in (1, 12, 3, 20, 5, 8)]
    return sum(float(t[0]) for t in kept)

step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(30):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 30)
"""


def page_faults_per_step(mode: str) -> float:
    answer = subprocess.run([sys.executable, "-c", STEPS, mode], cwd=ROOT, capture_output=True,
                            text=True, check=True)
    return float(answer.stdout)


def test_kept_memory_is_reused_without_page_faults():
    default, kept = page_faults_per_step("default"), page_faults_per_step("keep")
    # 40 MiB a step is 12,800 pages; glibc by default faults thousands of them in again
    assert default > 1000, default
    assert kept < default / 5, (kept, default)
