"""The ``lognet`` command: one verb per step of the flow.

Every verb reads files and options, calls into the rooms (model/, hw/, sim/, boards/) and writes
its outputs whole or not at all. Bad input ends with one line on stderr, ``lognet: error: ...``,
and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

from lognet import __version__
from lognet.base.files import atomic_folder, atomic_write_bytes, check_out_folder
from lognet.config import (
    ACTIVATIONS,
    DataConfig,
    Engine,
    JobConfig,
    ModelConfig,
    QuantiseConfig,
    SimulateConfig,
)
from lognet.model.validate import MAX_IO, MAX_LEVELS

EXIT_BAD_INPUT = 2


class CLIError(Exception):
    """Raised inside a verb for a bad option combination; printed as one line, exit 2."""


def _user_errors():
    from lognet.base.errors import InputError
    from lognet.model.arch import SpecError

    return (InputError, SpecError, CLIError)


# -- helpers -------------------------------------------------------------------------------------


def _write_json(path: Path, obj) -> None:
    from lognet.base.files import atomic_write_text

    atomic_write_text(path, json.dumps(obj, indent=1) + "\n")


def _check_out_file(path: str | None) -> Path | None:
    if path is None:
        return None
    p = Path(path)
    if p.exists() and p.is_dir():
        raise CLIError(f"{p} is a folder; give a file name")
    if not p.absolute().parent.exists():
        raise CLIError(f"folder {p.absolute().parent} does not exist; create it first")
    return p


def _check_folder(path: str, what: str) -> None:
    """A folder to create or reuse: no file may stand where it or a parent should be."""
    for p in (Path(path), *Path(path).absolute().parents):
        if p.exists() and not p.is_dir():
            raise CLIError(f"{what} {path}: {p} is a file, not a folder")


def _save_npy(path: Path, array) -> None:
    import io

    import numpy as np

    buf = io.BytesIO()
    np.save(buf, array)
    atomic_write_bytes(path, buf.getvalue())


def _load_spec(path: str):
    from lognet.model.specjson import load_spec

    return load_spec(path)


def _load_int_array(path: str):
    from lognet.base.files import load_npy

    return load_npy(path, "the inputs")


# -- verbs ---------------------------------------------------------------------------------------


def cmd_layers(args) -> int:
    from lognet.model.weights import list_layers

    rows = list_layers(args.file)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    w = max([len(r["name"]) for r in rows] + [4])
    print(f"{'name':<{w}}  {'shape':<16} dtype")
    for r in rows:
        print(f"{r['name']:<{w}}  {tuple(r['shape'])!s:<16} {r['dtype']}")
    return 0


def cmd_fit(args) -> int:
    from lognet.model.fit import analyse_layer, plot_layer
    from lognet.model.weights import load_weights, select_layers

    out = check_out_folder(args.out, args.force)
    layers = select_layers(load_weights(args.file), args.layer, require_2d=False)
    results = {}
    for name, w in layers.items():
        results[name] = analyse_layer(w, name, bins=args.bins, seed=args.seed)
    from lognet.base.names import sanitise

    with atomic_folder(out, force=args.force) as tmp:
        for name, res in results.items():
            png = f"{sanitise(name)}.png"
            plot_layer(res, layers[name], tmp / png)
            res["plot"] = png
        _write_json(tmp / "fit.json", {"file": str(args.file), "bins": args.bins,
                                       "layers": results})
    for name, res in results.items():
        print(f"{name}: {res['verdict']['summary']}")
    print(f"wrote {out}/fit.json and one PNG per layer")
    return 0


def cmd_quantise(args) -> int:
    from lognet.model.arch import Arch
    from lognet.model.quantise import quantise_layers_from_file
    from lognet.model.specjson import dump_spec

    out = _check_out_file(args.output)
    arch = Arch.parse(args.arch, arith=args.arith, tunable=args.tunable)
    spec, reports = quantise_layers_from_file(
        args.file, layers=args.layer, K=args.levels, picker=args.picker, topology=args.topology,
        in_bits=args.in_bits, in_signed=args.in_signed, level_bits=args.level_bits,
        out_bits=args.out_bits, activation=args.activation, arch=arch, seed=args.seed,
        zero_level=args.zero_level, calib=args.calib)
    dump_spec(spec, out)
    for r in reports:
        print(f"{r['name']}: K={r['K']} {r['picker']} SQNR {r['sqnr_db']:.2f} dB "
              f"({r['sqnr_rounded_db']:.2f} dB after rounding to {r['formats']['level']}), "
              f"{r['topology']['connections']} connections")
    print(f"wrote {out}")
    return 0


def cmd_spec(args) -> int:
    from lognet.model.arch import Arch
    from lognet.model.quantise import random_layer_spec
    from lognet.model.specjson import dump_spec

    out = _check_out_file(args.output)
    if args.sigma <= 0:
        raise CLIError(f"--sigma must be > 0 (got {args.sigma})")
    if args.inputs < 1 or args.outputs < 1:
        raise CLIError("--inputs and --outputs must be >= 1")
    if not 1 <= args.levels <= MAX_LEVELS:
        raise CLIError(f"--levels must be 1..{MAX_LEVELS} (got {args.levels})")
    arch = Arch.parse(args.arch, arith=args.arith, tunable=args.tunable)
    spec = random_layer_spec(
        args.inputs, args.outputs, args.mu, args.sigma, args.levels, picker=args.picker,
        seed=args.seed, topology=args.topology, in_bits=args.in_bits, level_bits=args.level_bits,
        out_bits=args.out_bits, arch=arch, name=args.name)
    dump_spec(spec, out)
    print(f"wrote {out}: {spec.n_in} inputs, {spec.n_out} outputs, {spec.n_conn} connections, "
          f"K={spec.K}, levels {list(spec.levels)}")
    return 0


def cmd_infer(args) -> int:
    import numpy as np

    from lognet.base.errors import InputError
    from lognet.model.reference import reference

    spec = _load_spec(args.spec)
    x = _load_int_array(args.inputs)
    try:
        y = reference(spec, x)
    except ValueError as e:
        raise InputError(f"{args.inputs}: {e}") from None
    if args.output:
        out = _check_out_file(args.output)
        _save_npy(out, y)
        print(f"wrote {out}: {y.shape[0]} vectors x {y.shape[1]} outputs (int64)")
    else:
        np.savetxt(sys.stdout, y, fmt="%d")
    return 0


def cmd_generate(args) -> int:
    from lognet.hw.export import generate

    spec = _override_arch(_load_spec(args.spec), args)
    man = generate(spec, args.out, force=args.force, clock_mhz=args.clock,
                   readback=not args.no_readback, version=__version__)
    print(f"wrote {args.out}/: {man['top']}.v, regmap.json/.md, {man['top']}_regs.h, "
          f"manifest.json")
    print(f"latency {man['latency_cycles']} cycles, {man['cycles_per_vector']} cycles/vector, "
          f"{man['throughput_vectors_per_s']:.4g} vectors/s at {args.clock:g} MHz")
    return 0


def _override_arch(spec, args):
    """``spec`` with the verb's --arch/--arith/--tunable (those given) applied to every layer."""
    from lognet.model.spec import with_arch_overrides

    return with_arch_overrides(spec, arch=args.arch, arith=args.arith, tunable=args.tunable)


def cmd_sim(args) -> int:
    spec = _load_spec(args.spec)
    out = _check_out_file(args.out)
    _check_out_file(args.json)  # before the simulation, not after
    _check_folder(args.build_dir, "--build-dir")
    if not args.bulk and (args.inputs or out):
        raise CLIError("--inputs and -o go with --bulk (the cocotb bench draws its own vectors)")
    if args.bulk:
        import numpy as np

        from lognet.model.reference import check_inputs
        from lognet.sim.bulk import run_bulk

        if args.waves:
            raise CLIError("--waves is for the cocotb bench; drop --bulk to record waves")
        if args.inputs:
            x = _load_int_array(args.inputs)
            try:
                check_inputs(spec, x)
            except ValueError as e:
                raise CLIError(f"{args.inputs}: {e}") from None
        else:
            f = spec.in_fmt
            x = np.random.default_rng(args.seed).integers(f.min_int, f.max_int + 1,
                                                          (args.vectors, spec.n_in))
        result = run_bulk(spec, x, simulator=args.simulator, build_dir=args.build_dir,
                          seed=args.seed + 1, p_valid=args.p_valid, p_ready=args.p_ready)
        if out is not None and result.outputs is not None:
            _save_npy(out, result.outputs)
    else:
        from lognet.sim.runner import run_sim

        result = run_sim(spec, simulator=args.simulator, vectors=args.vectors, seed=args.seed,
                         waves=args.waves, build_dir=args.build_dir)
    summary = result.to_json()
    print(json.dumps(summary, indent=1))
    if args.json:
        _write_json(Path(args.json), summary)
    if not result.passed:
        print(f"lognet: {result.first_mismatch or result.error}", file=sys.stderr)
    return 0 if result.mismatches == 0 and result.passed else 1


def _tool_verb(args, out: Path, force: bool, run) -> int:
    """Shared by ``synth`` and ``build``: run ``run(folder)`` in a folder that lands whole at
    ``out`` (a tool crash lands too, with its logs and ``error.txt``), print the table, and
    exit 0 when the design fits and meets its clock, 1 otherwise."""
    from lognet.boards.report import format_table
    from lognet.boards.tools import ToolFailed

    result, failed = None, None
    with atomic_folder(out, force=force) as tmp:
        try:
            result = run(tmp).relocated(tmp, out)  # paths as they are once the folder lands
        except ToolFailed as e:
            failed = str(e).replace(str(tmp), str(out))
            (tmp / "error.txt").write_text(failed + "\n")
        else:
            name = "synth.json" if result.kind == "synth" else "build.json"
            (tmp / name).write_text(json.dumps(result.to_json(), indent=1) + "\n")
    if failed:
        print(f"lognet: {failed}", file=sys.stderr)
        return 1
    print(format_table(result))
    if args.json:
        _write_json(Path(args.json), result.to_json())
    if result.status not in ("ok", "planned"):
        why = result.reason or "see the table"
        print(f"lognet: {result.status.replace('_', ' ')}: {why}", file=sys.stderr)
        return 1
    return 0


def _tool_spec_and_out(args, kind: str, name: str, names) -> tuple:
    """The spec (with any --arch/--arith/--tunable override) and the output folder of a
    ``synth`` or ``build`` run; a default folder under build/ is replaced freely."""
    from lognet.hw.export import top_name

    if name not in names:
        raise CLIError(f"unknown {kind} {name!r}; choose one of {', '.join(names)}")
    spec = _override_arch(_load_spec(args.spec), args)
    out = Path(args.out or f"build/{'synth' if kind == 'target' else 'board'}/"
                           f"{top_name(spec)}-{name}")
    force = args.force or args.out is None
    check_out_folder(out, force)
    _check_out_file(args.json)  # before minutes of synthesis, not after
    return spec, out, force


def cmd_synth(args) -> int:
    from lognet.boards.synth import TARGETS, synth_core
    from lognet.boards.tools import find_tool
    from lognet.hw.export import build_core

    spec, out, force = _tool_spec_and_out(args, "target", args.target, TARGETS)
    tgt = TARGETS[args.target]
    for tool in ("yosys", tgt.nextpnr) + ((tgt.packer,) if args.bitstream else ()):
        find_tool(tool)
    return _tool_verb(args, out, force, lambda tmp: synth_core(
        lambda: build_core(spec), args.target, args.clock, tmp, dsp=args.dsp,
        bitstream=args.bitstream, seed=args.seed))


def cmd_build(args) -> int:
    from lognet.boards.build import BOARDS, build_board
    from lognet.hw.export import build_core

    spec, out, force = _tool_spec_and_out(args, "board", args.board, BOARDS)
    return _tool_verb(args, out, force, lambda tmp: build_board(
        lambda: build_core(spec), args.board, tmp, baud=args.baud, run=not args.plan_only,
        dsp=args.dsp, seed=args.seed))


def _run_on_device(args, spec, x, transport):
    """Outputs of the board (or simulated top) behind ``transport`` for inputs ``x``."""
    import numpy as np

    from lognet.base.errors import InputError
    from lognet.boards.host import LognetDevice
    from lognet.hw.regmap import config_writes

    with LognetDevice(transport, baud=args.baud, timeout=args.timeout) as dev:
        info = dev.info
        if (info.n_in, info.n_out) != (spec.n_in, spec.n_out):
            raise InputError(f"the board's core takes {info.n_in} inputs and gives "
                             f"{info.n_out} outputs; {args.spec} has {spec.n_in} and "
                             f"{spec.n_out}: build the board from this spec")
        dev.check_core()
        if not args.no_load:
            n = dev.load_spec_weights(config_writes(spec))
            print(f"loaded {n} configuration words and committed", file=sys.stderr)
        return np.array(dev.infer(x.tolist()), dtype=np.int64).reshape(len(x), spec.n_out)


def cmd_run(args) -> int:
    import numpy as np

    from lognet.base.errors import InputError
    from lognet.boards.host import DeviceError
    from lognet.model.reference import check_inputs, reference

    spec = _load_spec(args.spec)
    try:
        x = check_inputs(spec, _load_int_array(args.inputs))
    except ValueError as e:
        raise InputError(f"{args.inputs}: {e}") from None
    out = _check_out_file(args.output)
    if args.port == "sim":
        from lognet.boards.simlink import SimSerial
        from lognet.boards.top import UARTTop
        from lognet.boards.uart import SIM_DIVISOR
        from lognet.hw.export import build_core

        transport = SimSerial(UARTTop(build_core(spec), divisor=SIM_DIVISOR))
    else:
        transport = args.port
    try:
        y = _run_on_device(args, spec, x, transport)
    except DeviceError as e:
        print(f"lognet: {e}", file=sys.stderr)
        return 1
    if out is not None:
        _save_npy(out, y)
        print(f"wrote {out}: {y.shape[0]} vectors x {y.shape[1]} outputs (int64)")
    else:
        np.savetxt(sys.stdout, y, fmt="%d")
    ref = reference(spec, x)
    bad = np.argwhere(y != ref)
    if len(bad):
        i, j = map(int, bad[0])
        print(f"lognet: board differs from the integer reference in {len(bad)} values; first: "
              f"vector {i}, output {j}: expected {ref[i, j]}, got {y[i, j]}", file=sys.stderr)
        return 1
    print(f"{len(x)} vectors: board outputs equal the integer reference exactly",
          file=sys.stderr)
    return 0


def cmd_flow(args) -> int:
    from lognet.flow import run_flow

    return run_flow(args.config, out=args.out, force=args.force, skip=args.skip, spec=args.spec)


# -- parser --------------------------------------------------------------------------------------
# Options the flow has too take their defaults from its typed config (lognet.config), the one
# home of the defaults.


def _arch_options(p, defaults: bool = True):
    """--arch/--arith/--tunable; with ``defaults`` False an option not given is None (the
    spec's own value stays)."""
    from lognet.model.arch import Arith, Tunable

    q = QuantiseConfig()
    p.add_argument("--arch", default=q.arch if defaults else None,
                   help="parallel or folded:P (P lanes)" + (f"; default {q.arch}" if defaults
                                                             else ""))
    p.add_argument("--arith", default=q.arith.value if defaults else None,
                   choices=[a.value for a in Arith],
                   help="arithmetic mode (auto picks the cheapest)")
    p.add_argument("--tunable", default=q.tunable.value if defaults else None,
                   choices=[t.value for t in Tunable], help="which weights are writable")


def _codebook_options(p):
    from lognet.model.levels import PICKERS

    q = QuantiseConfig()
    p.add_argument("--levels", "-K", type=_bounded(int, 1, MAX_LEVELS), default=q.K,
                   help=f"levels per layer (default {q.K})")
    p.add_argument("--picker", default=q.picker, choices=PICKERS,
                   help=f"how the K levels are picked (default {q.picker})")
    p.add_argument("--topology", default=q.topology,
                   help="dense, fanin:F[:random:SEED], prune:DENSITY, band:W")


def _format_options(p):
    q, d = QuantiseConfig(), DataConfig()
    p.add_argument("--in-bits", type=_bounded(int, 2, 32), default=d.input_bits,
                   help=f"input width (default {d.input_bits})")
    p.add_argument("--unsigned-inputs", dest="in_signed", action="store_false",
                   help="inputs are unsigned (e.g. images scaled to [0,1))")
    p.add_argument("--level-bits", type=_bounded(int, 1, 32), default=q.level_bits,
                   help=f"level magnitude width (default {q.level_bits})")
    p.add_argument("--out-bits", type=_bounded(int, 2, 32), default=q.out_bits,
                   help=f"output width (default {q.out_bits})")


class _Parser(argparse.ArgumentParser):
    """argparse with the one-line error of every other bad input (``lognet: error: ...``,
    exit 2), pointing at ``--help`` instead of printing the usage block."""

    def error(self, message):
        verb = self.prog.split(" ", 1)[1] if " " in self.prog else ""
        hint = f"lognet {verb} --help" if verb else "lognet --help"
        print(f"lognet: error: {message} (see {hint})", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def _bounded(kind, lo=None, hi=None):
    """An argparse type: ``kind`` (int or float) in ``[lo, hi]``, finite."""

    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if kind is float and not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            rng = f"{lo if lo is not None else '-inf'}..{hi if hi is not None else 'inf'}"
            raise argparse.ArgumentTypeError(f"{text} is outside {rng}")
        return v

    parse.__name__ = kind.__name__
    return parse


#: seeds are NumPy seeds: non-negative integers
_SEED = _bounded(int, 0, 2**63 - 1)
#: random vectors a run may draw (int64 rows of up to 65535 elements stay within memory)
MAX_RANDOM_VECTORS = 10_000_000


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(
        prog="lognet",
        description="Hardware generator for lognormal-connected (codebook-weight) layers.")
    ap.add_argument("--version", action="version", version=f"lognet {__version__}")
    sub = ap.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("layers", help="list the weight arrays of a file")
    p.add_argument("file", help=".npz, .npy, .safetensors or .onnx")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_layers)

    p = sub.add_parser("fit", help="distribution analysis of |w| per layer (JSON + PNG)")
    p.add_argument("file", help=".npz, .npy, .safetensors or .onnx")
    p.add_argument("--layer", action="append", help="name or glob (repeatable; default all)")
    p.add_argument("--bins", type=_bounded(int, 2, 100_000), default=100,
                   help="bins of the size-weighted histogram")
    p.add_argument("--seed", type=_SEED, default=0,
                   help="seed of the Gaussian control and the MLE subsample")
    p.add_argument("-o", "--out", default="fit", help="output folder (default ./fit)")
    p.add_argument("--force", action="store_true", help="replace an existing output folder")
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("quantise", help="quantise dense layers of a weight file into a spec")
    p.add_argument("file", help=".npz, .npy, .safetensors or .onnx; matrices as (n_out, n_in)")
    p.add_argument("--layer", action="append", help="name or glob (repeatable; default all)")
    _codebook_options(p)
    p.add_argument("--zero-level", action="store_true", help="add a zero level")
    p.add_argument("--activation", default=ModelConfig().activation, choices=ACTIVATIONS,
                   help="relu-hidden: ReLU on all but the last layer (default)")
    p.add_argument("--calib", help=".npy of real-valued inputs to calibrate output formats")
    p.add_argument("--seed", type=_SEED, default=JobConfig().seed,
                   help="seed of the pickers and topologies")
    _format_options(p)
    _arch_options(p)
    p.add_argument("-o", "--output", required=True, help="spec JSON to write")
    p.set_defaults(func=cmd_quantise)

    p = sub.add_parser("spec", help="draw a layer of a chosen size from LN(mu, sigma)")
    p.add_argument("--inputs", type=_bounded(int, 1, MAX_IO), required=True,
                   help="inputs of the layer")
    p.add_argument("--outputs", type=_bounded(int, 1, MAX_IO), required=True,
                   help="outputs of the layer")
    p.add_argument("--mu", type=_bounded(float), default=-3.0,
                   help="mean of log|w| (default -3.0)")
    p.add_argument("--sigma", type=_bounded(float, 1e-6), default=0.65,
                   help="sd of log|w| (default 0.65)")
    _codebook_options(p)
    p.add_argument("--name", default="layer", help="layer name (sanitised for the HDL)")
    p.add_argument("--seed", type=_SEED, default=0, help="seed of the drawn weights and topology")
    _format_options(p)
    _arch_options(p)
    p.add_argument("-o", "--output", required=True, help="spec JSON to write")
    p.set_defaults(func=cmd_spec)

    p = sub.add_parser("infer", help="bit-exact integer reference on integer inputs")
    p.add_argument("spec", help="spec JSON (from lognet spec or lognet quantise)")
    p.add_argument("inputs", help=".npy of integers, shape (N, n_in)")
    p.add_argument("-o", "--output", help=".npy to write (default: print)")
    p.set_defaults(func=cmd_infer)

    p = sub.add_parser("generate", help="Verilog, register map and manifest for a spec")
    p.add_argument("spec", help="spec JSON (from lognet spec or lognet quantise)")
    p.add_argument("-o", "--out", required=True, help="output folder (must not exist)")
    p.add_argument("--force", action="store_true", help="replace an existing output folder")
    p.add_argument("--clock", type=_bounded(float, 1e-6), default=100.0,
                   help="clock for throughput (MHz)")
    p.add_argument("--no-readback", action="store_true",
                   help="weight registers read as 0 (saves the read multiplexers)")
    _arch_options(p, defaults=False)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("sim", help="simulate the Verilog against the reference (cocotb "
                       "scenarios, or --bulk for whole data sets)")
    p.add_argument("spec", help="spec JSON (from lognet spec or lognet quantise)")
    engine = SimulateConfig().engine
    p.add_argument("--simulator", default=engine.value,
                   choices=[e.value for e in Engine if e is not Engine.AMARANTH],
                   help=f"default {engine.value}")
    p.add_argument("--vectors", type=_bounded(int, 1, MAX_RANDOM_VECTORS), default=1000,
                   help="random vectors (default 1000)")
    p.add_argument("--seed", type=_SEED, default=0, help="seed of vectors, gaps and stalls")
    p.add_argument("--waves", action="store_true", help="write FST (Verilator) / VCD (Icarus)")
    p.add_argument("--build-dir", default="build/sim", help="build folder (default build/sim)")
    p.add_argument("--json", help="write the summary here")
    p.add_argument("--bulk", action="store_true",
                   help="a generated Verilog testbench reads the inputs and writes the outputs "
                        "(no Python in the clock loop): for whole data sets")
    p.add_argument("--inputs", help="with --bulk: integer inputs, N x n_in .npy (default: "
                                    "--vectors random vectors)")
    p.add_argument("-o", "--out", help="with --bulk: write the hardware's outputs (.npy)")
    p.add_argument("--p-valid", type=_bounded(float, 1e-6, 1.0), default=1.0,
                   help="with --bulk: chance an input is offered on a clock (default 1)")
    p.add_argument("--p-ready", type=_bounded(float, 1e-6, 1.0), default=1.0,
                   help="with --bulk: chance an output is taken on a clock (default 1)")
    p.set_defaults(func=cmd_sim)

    p = sub.add_parser("synth", help="out-of-context synthesis and place-and-route: area and "
                                     "Fmax as JSON")
    p.add_argument("spec")
    p.add_argument("--target", required=True, help="ice40-up5k, ecp5-25k or ecp5-85k")
    p.add_argument("--clock", type=_bounded(float, 1e-3), default=None,
                   help="requested clock in MHz (default: 48 on iCE40, 100 on ECP5)")
    p.add_argument("-o", "--out", default=None,
                   help="output folder (default build/synth/<top>-<target>, replaced)")
    p.add_argument("--force", action="store_true", help="replace an existing output folder")
    p.add_argument("--dsp", action="store_true", help="let Yosys use DSP blocks")
    p.add_argument("--bitstream", action="store_true",
                   help="also pack a bitstream of the wrapped core (proves it routes)")
    p.add_argument("--seed", type=_SEED, default=1, help="nextpnr placement seed")
    p.add_argument("--json", help="also write the result here")
    _arch_options(p, defaults=False)
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("build", help="bitstream for a board: the core behind the UART bridge")
    p.add_argument("spec")
    p.add_argument("--board", required=True, help="icebreaker or ulx3s")
    p.add_argument("-o", "--out", default=None,
                   help="output folder (default build/board/<top>-<board>, replaced)")
    p.add_argument("--force", action="store_true", help="replace an existing output folder")
    p.add_argument("--baud", type=_bounded(int, 300, 12_000_000), default=115200)
    p.add_argument("--dsp", action="store_true", help="let Yosys use DSP blocks")
    p.add_argument("--seed", type=_SEED, default=1, help="nextpnr placement seed")
    p.add_argument("--plan-only", action="store_true",
                   help="write the build files (RTLIL, pins, scripts) without running tools")
    p.add_argument("--json", help="also write the result here")
    _arch_options(p, defaults=False)
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("run", help="load a spec's weights into a board and stream inputs")
    p.add_argument("spec")
    p.add_argument("inputs", help="integer inputs (.npy, N x n_in, in the input format)")
    p.add_argument("--port", required=True,
                   help="serial port (e.g. /dev/ttyUSB1), a pyserial URL, or 'sim' for the "
                        "simulated board top (slow; for trying the protocol without a board)")
    p.add_argument("--baud", type=_bounded(int, 300, 12_000_000), default=115200)
    p.add_argument("--timeout", type=_bounded(float, 1e-3), default=2.0,
                   help="seconds to wait for an answer")
    p.add_argument("--no-load", action="store_true",
                   help="keep the weights already on the board")
    p.add_argument("-o", "--output", help="write the outputs here (.npy); default: stdout")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("flow", help="the whole job: train/load, fit, quantise, compare, "
                                    "generate, simulate, synthesise, report")
    p.add_argument("config", nargs="?", default=None,
                   help="TOML/JSON flow config (default: the shipped digits demo)")
    p.add_argument("-o", "--out", default=None, help="report folder (default from config)")
    p.add_argument("--force", action="store_true")
    p.add_argument("--skip", action="append", default=[],
                   help="skip a step (repeatable): train, fit, quantise, compare, generate, "
                        "simulate, synth, report")
    p.add_argument("--spec", default=None,
                   help="resume from this NetworkSpec (e.g. a report's network.json) instead "
                        "of quantising again")
    p.set_defaults(func=cmd_flow)
    return ap


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt  # cleaned up like Ctrl-C: temporaries removed, nothing half-written


def main(argv: list[str] | None = None) -> int:
    import signal

    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    if getattr(args, "func", None) is None:
        print("lognet: error: give a verb (see lognet --help)", file=sys.stderr)
        return EXIT_BAD_INPUT
    errors = _user_errors()
    try:
        return int(args.func(args) or 0)
    except errors as e:
        msg = " ".join(str(e).split("\n"))
        print(f"lognet: error: {msg}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        # the reader went away (``| head``): end quietly, as other command-line tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("lognet: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
