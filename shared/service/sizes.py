"""The task sizes Fargate offers (Linux), for validating a layer's cpu/memory settings."""

from __future__ import annotations

from ..config import ConfigReader

# CPU units -> (first, last, step) of the memory it accepts, in MiB.
FARGATE_SIZES: dict[int, tuple[int, int, int]] = {
    256: (512, 2048, 512),  # 512, 1024, 2048 (1536 is not offered; removed below)
    512: (1024, 4096, 1024),
    1024: (2048, 8192, 1024),
    2048: (4096, 16384, 1024),
    4096: (8192, 30720, 1024),
    8192: (16384, 61440, 4096),
    16384: (32768, 122880, 8192),
}


def fargate_memory_options(cpu: int) -> list[int]:
    first, last, step = FARGATE_SIZES[cpu]
    options = list(range(first, last + 1, step))
    return [m for m in options if not (cpu == 256 and m == 1536)]


def describe_memory(cpu: int) -> str:
    first, last, step = FARGATE_SIZES[cpu]
    if cpu == 256:
        return "512, 1024 or 2048"
    return f"{first} to {last} in steps of {step}"


def read_task_size(reader: ConfigReader, cpu_default: int, memory_default: int) -> tuple[int, int]:
    """The ``cpu`` and ``memory`` settings, refused unless Fargate offers that combination."""
    cpu = reader.integer("cpu", cpu_default)
    if cpu not in FARGATE_SIZES:
        raise reader.fail("cpu", cpu, "one of Fargate's CPU sizes: " + ", ".join(map(str, FARGATE_SIZES)) + " (1024 = 1 vCPU)")
    memory = reader.integer("memory", memory_default)
    if memory not in fargate_memory_options(cpu):
        raise reader.fail("memory", memory, f"with cpu {cpu}, Fargate offers memory (MiB) {describe_memory(cpu)}")
    return cpu, memory
