"""keep_freed_memory: large tensors live on glibc's heap, which is kept, instead of in
mappings of their own that are handed back to the OS (and faulted in anew) when freed."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

WHERE_A_TENSOR_LIVES = """
import sys
import torch
from model.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
pointer = torch.empty(2**22).data_ptr()  # 16 MiB, as a training step's larger tensors
heap = [line.split()[0] for line in open("/proc/self/maps") if line.rstrip().endswith("[heap]")]
start, end = (int(x, 16) for x in heap[0].split("-")) if heap else (0, 0)
print("heap" if start <= pointer < end else "own mapping")
"""

STEPS = """
import resource, sys
import torch
from model.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()

def step():  # twelve 8 MiB tensors alive at once, freed together, as in a training step
    kept = [torch.ones(2**21) for _ in range(12)]
    return sum(float(t[0]) for t in kept)

step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(30):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 30)
"""


def run(script: str, mode: str) -> str:
    return subprocess.run([sys.executable, "-c", script, mode], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout.strip()


def test_a_large_tensor_lives_on_the_kept_heap_instead_of_a_mapping_of_its_own():
    assert run(WHERE_A_TENSOR_LIVES, "default") == "own mapping"  # glibc: 128 KiB and up
    assert run(WHERE_A_TENSOR_LIVES, "keep") == "heap"


def test_kept_memory_is_reused_step_after_step_without_page_faults():
    """96 MiB a step is 24,576 pages; kept, fewer than a tenth are faulted in again (glibc's
    default faults most of them in most processes, but not in all: the heap's layout varies)."""
    kept = [float(run(STEPS, "keep")) for _ in range(3)]
    assert max(kept) < 24_576 / 10, kept
