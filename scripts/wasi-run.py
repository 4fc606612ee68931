#!/usr/bin/env python3
"""Cargo runner for wasm32-wasip1 test binaries: runs the module under wasmtime (WASI).

`cargo test --target wasm32-wasip1` hands us the test module and its arguments. The repository
root is preopened at its own absolute path and as the working directory's path, so tests that
read `testdata/` through `env!("CARGO_MANIFEST_DIR")` find their files as they do natively.
"""
import os
import sys

import wasmtime


def _trap(name):
    def call(*_args):
        raise wasmtime.Trap(f"host function {name} called outside Envoy")

    return call


def main() -> int:
    if len(sys.argv) < 2:
        print("usage: wasi-run.py MODULE.wasm [ARGS...]", file=sys.stderr)
        return 2
    module_path = sys.argv[1]
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    config = wasmtime.Config()
    engine = wasmtime.Engine(config)
    store = wasmtime.Store(engine)
    wasi = wasmtime.WasiConfig()
    wasi.argv = [os.path.basename(module_path)] + sys.argv[2:]
    wasi.inherit_stdout()
    wasi.inherit_stderr()
    wasi.inherit_env()
    # Only the repository root when the working directory is inside it: with a nested preopen
    # (cargo runs tests in filter/), wasi-libc resolves `filter/../testdata` against the inner
    # one and the `..` is refused as an escape.
    cwd = os.getcwd()
    inside = cwd == repo or cwd.startswith(repo + os.sep)
    for path in [repo] if inside else [repo, cwd]:
        wasi.preopen_dir(path, path)
    store.set_wasi(wasi)

    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    module = wasmtime.Module.from_file(engine, module_path)
    # Integration-test binaries link the whole library, glue included, so they import the
    # proxy-wasm host ABI ("env" module). No engine test may call it: each import traps.
    for imp in module.imports:
        if imp.module == "env" and isinstance(imp.type, wasmtime.FuncType):
            linker.define_func(imp.module, imp.name, imp.type, _trap(imp.name))
    instance = linker.instantiate(store, module)
    start = instance.exports(store)["_start"]
    try:
        start(store)
    except wasmtime.ExitTrap as e:
        return e.code
    return 0


if __name__ == "__main__":
    sys.exit(main())
