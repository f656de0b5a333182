#!/usr/bin/python3
"""The benchmark harness's pure helpers (bench/run's doctests): no process, no socket."""
import doctest
import importlib.machinery
import importlib.util
import os
import sys

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench", "run")
loader = importlib.machinery.SourceFileLoader("bench_run", path)
spec = importlib.util.spec_from_loader("bench_run", loader)
mod = importlib.util.module_from_spec(spec)
loader.exec_module(mod)
failed, attempted = doctest.testmod(mod)
print("bench/run doctests: %d attempted, %d failed" % (attempted, failed))
sys.exit(1 if failed or not attempted else 0)
