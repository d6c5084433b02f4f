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
from lognet.base.errors import ToolFailure
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


class GoalNotMet(Exception):
    """Raised inside a verb when valid inputs cannot give what was asked (e.g. a device too
    small for the layer); printed as one line, exit 1, nothing written."""


def _user_errors():
    from lognet.base.errors import InputError
    from lognet.model.arch import SpecError

    return (InputError, SpecError, CLIError)


# -- helpers -------------------------------------------------------------------------------------


def _write_json(path: Path, obj) -> None:
    from lognet.base.files import atomic_write_text

    atomic_write_text(path, json.dumps(obj, indent=1) + "\n")


def _check_out_file(path: str | None, args) -> Path | None:
    """An output file the verb will write, checked before its work: a file can be created
    there (:func:`lognet.base.files.check_out_file`), and an existing file is replaced only
    with ``--force``."""
    from lognet.base.files import check_out_file

    if path is None:
        return None
    return check_out_file(path, replace=bool(getattr(args, "force", False)))


def _check_stdout(what: str) -> None:
    """Refuse to start a verb that prints its result when standard output is closed (``>&-``):
    Python then has no ``sys.stdout`` and the result would be lost."""
    if sys.stdout is None:
        raise CLIError(f"standard output is closed, so {what} would be lost; give -o FILE.npy "
                       f"to write them to a file")


#: argument names that name files a verb reads, and files (or folders) it writes
_INPUT_ARGS = ("spec", "file", "inputs", "calib", "data", "weights", "config", "net",
               "activations")
_OUTPUT_ARGS = ("output", "out", "json")


def _outputs_clear_of_inputs(args) -> None:
    """Refuse an output path that is one of the verb's input files, or a folder holding one
    (``--json spec.json`` would overwrite the spec the verb is reading)."""
    inputs = []
    for name in _INPUT_ARGS:
        value = getattr(args, name, None)
        if isinstance(value, str) and value and Path(value).is_file():
            inputs.append((name, Path(value).resolve()))
    for name in _OUTPUT_ARGS:
        value = getattr(args, name, None)
        if not isinstance(value, str) or not value:
            continue
        out = Path(value).resolve()
        for in_name, path in inputs:
            if path == out:
                raise CLIError(f"--{name} {value} is also the verb's input ({in_name}); "
                               f"write the output to another path")
            if out in path.parents and out.is_dir():
                raise CLIError(f"--{name} {value} holds the input {path.name}; "
                               f"give an output folder that does not contain the inputs")


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
    from lognet.model.fit import MIN_ENTRIES, MLE_SAMPLE, json_ready, summary_lines

    args.min_entries = MIN_ENTRIES if args.min_entries is None else args.min_entries
    args.sample = MLE_SAMPLE if args.sample is None else args.sample

    if args.activations is None and args.file is None:
        raise CLIError("give a weight file, or --activations NET.json --data x.npy")
    if (args.activations is None) != (args.data is None):
        raise CLIError("--activations and --data go together: the spec and the inputs")
    if args.file is not None and Path(args.file).suffix.lower() == ".json":
        raise CLIError(f"{args.file} is JSON (a spec?), not a weight file: fit a spec's layer "
                       f"outputs with --activations {args.file} --data X.npy, or give the "
                       f".npz, .npy, .safetensors or .onnx weights")
    out = check_out_folder(args.out, args.force)
    with atomic_folder(out, force=args.force) as tmp:
        plots = None if args.no_plots else tmp
        if args.activations is None:
            result, lines = _fit_weights(args, plots)
        else:
            result, lines = _fit_activations(args, plots)
        atomic_write_bytes(tmp / "fit.json", (json.dumps(json_ready(result), indent=1,
                                                         allow_nan=False) + "\n").encode())
    print("\n".join(lines))
    for key, part in result.get("networks", {"": result}).items():
        if "summary" in part:
            print((f"{key} network, " if key else "") + "\n".join(summary_lines(part["summary"])))
    print(f"wrote {out}/fit.json" + ("" if args.no_plots else " and one PNG per fitted array"))
    return 0


def _fit_lines(res: dict, label: str = "") -> list[str]:
    """One line per fitted array (its verdict and flags), then the failed ones."""
    lines = []
    for name, r in res["layers"].items():
        lines.append(f"{label}{name}: {r['verdict']['summary']}")
        lines += [f"  flag {f['flag']}: {f['text']}" for f in r["flags"]]
    lines += [f"{label}{f['name']} {tuple(f['shape'])}: not fitted: {f['why']}"
              for f in res["failed"]]
    notes = sorted({r["mle"]["note"] for r in res["layers"].values() if r["mle"]["note"]})
    sub = sum(1 for r in res["layers"].values() if r["mle"]["note"])
    if sub:
        lines.append(f"{label}MLE fits of {sub} array{'s' * (sub != 1)} on a seeded random "
                     f"subsample of at most {res['sample']:,} non-zero values (--sample), e.g. "
                     f"{notes[0]}")
    return lines


def _fit_weights(args, plots):
    from lognet.base.errors import InputError
    from lognet.model.fit import fit_arrays, select_arrays
    from lognet.model.weights import load_weights

    weights = load_weights(args.file, finite=False)
    chosen, skipped = select_arrays(weights, args.layer, include_all=args.all_arrays,
                                    min_entries=args.min_entries)
    what = ("every array (--all)" if args.all_arrays else
             f"weight matrices (2-D or more, floating point, >= {args.min_entries} entries)")
    print(f"{args.file}: {len(weights)} arrays; fitting {len(chosen)}, {what}"
          + (f"; {len(skipped)} skipped (--all fits them too):" if skipped else ""), flush=True)
    for s in skipped:
        print(f"  skipped {s['name']} {tuple(s['shape'])} {s['dtype']}: {s['why']}", flush=True)
    if not chosen:
        raise InputError(f"{args.file}: no weight matrix to fit ({len(skipped)} arrays skipped, "
                         f"e.g. {skipped[0]['name']}: {skipped[0]['why']}); use --all to fit "
                         f"every array")
    res = fit_arrays(chosen, bins=args.bins, seed=args.seed, sample=args.sample,
                     plot_dir=plots, jobs=args.jobs or os.cpu_count() or 1)
    if not res["layers"]:
        raise InputError(f"{args.file}: no array could be fitted: " + "; ".join(
            f"{f['name']}: {f['why']}" for f in res["failed"][:5]))
    res["sample"] = args.sample
    result = {"file": str(args.file), "bins": args.bins, "seed": args.seed,
              "min_entries": args.min_entries, "all": args.all_arrays, "mle_sample": args.sample,
              "skipped": skipped, **res}
    return result, _fit_lines(res)


def _fit_activations(args, plots):
    from lognet.base.errors import InputError
    from lognet.base.files import load_npy
    from lognet.model.activation_stats import (
        activation_arrays,
        float_activation_arrays,
        prepare_inputs,
    )
    from lognet.model.fit import fit_arrays

    spec = _load_spec(args.activations)
    x_real, x_int = prepare_inputs(spec, load_npy(args.data, "the data"))
    nets = {}
    arrays, info = activation_arrays(spec, x_int)
    nets["integer"] = ("bit-exact integer network (model.reference)", arrays, info)
    if args.file is not None:
        from lognet.model.quantise import load_dense_layers

        fl = [(n, W, b) for n, W, b, _ in load_dense_layers(args.file, args.layer, "none")]
        arrays, info = float_activation_arrays(spec, fl, x_real)
        nets["float"] = (f"float network (weights of {args.file})", arrays, info)
        float_note = None
    else:
        float_note = ("not fitted: the spec holds only the codebook, not the float weights; "
                      "give the weight file it was quantised from as FILE to fit the float "
                      "network too")
    result = {"spec": str(args.activations), "data": str(args.data), "vectors": len(x_int),
              "bins": args.bins, "seed": args.seed, "mle_sample": args.sample, "networks": {}}
    lines = [f"{args.activations}: {len(spec.layers)} layers on {len(x_int)} vectors of "
             f"{args.data} (real inputs quantised to {spec.in_fmt.describe()} for the integer "
             f"network)"]
    for key, (what, arrays, info) in nets.items():
        res = fit_arrays(arrays, bins=args.bins, seed=args.seed, sample=args.sample,
                         plot_dir=plots, plot_prefix=f"{key}_",
                         jobs=args.jobs or os.cpu_count() or 1)
        res["sample"] = args.sample
        for name, r in res["layers"].items():
            r["what"] = info[name]
        res["what"] = what
        res["arrays"] = info
        result["networks"][key] = res
        lines.append(f"{what}:")
        for name, i in info.items():
            if "zero_fraction" in i:
                lines.append(f"  {name}: {i['zero_fraction']:.1%} exact zeros left out "
                             f"({i['values']:,} positive values)")
        lines += ["  " + s for s in _fit_lines(res)]
    if float_note:
        result["networks"]["float"] = {"absent": float_note}
        lines.append(f"float network: {float_note}")
    if not any(n.get("layers") for n in result["networks"].values()):
        why = "; ".join(f"{f['name']}: {f['why']}" for n in result["networks"].values()
                        for f in n.get("failed", [])[:3])
        raise InputError(f"{args.activations}: no layer's activations could be fitted on "
                         f"{args.data} ({why}); give inputs that drive the layers (e.g. the "
                         f"test split)")
    return result, lines


def _parse_arch(args):
    """The verb's --arch/--arith/--tunable; ``auto`` builds one lane per layer first, and
    :func:`_auto_fold` then picks the lanes. --target/--fps/--clock/--dsp go with auto only."""
    from lognet.model.arch import Arch

    auto = args.arch == "auto"
    if not auto:
        try:
            Arch.parse(args.arch)
        except ValueError as e:
            raise CLIError(f"--arch: {e}, or auto (lanes from the resource plan of --target)"
                           ) from None
    given = [o for o, v in (("--target", args.target), ("--fps", args.fps),
                            ("--clock", args.clock), ("--dsp", args.dsp or None))
             if v is not None]
    if auto and args.target is None:
        raise CLIError("--arch auto needs --target (ice40-up5k, ecp5-25k or ecp5-85k): the "
                       "device whose resources the lanes fill")
    if given and not auto:
        raise CLIError(f"{', '.join(given)} {'goes' if len(given) == 1 else 'go'} with --arch "
                       f"auto (the search that picks each layer's lanes for a device)")
    return Arch.parse("folded:1" if auto else args.arch, arith=args.arith,
                      tunable=args.tunable)


def _auto_fold(spec, args):
    """With --arch auto: every layer folded to the lanes the resource plan picks for
    --target (the most inferences/s the device holds, or --fps with the fewest lanes). A
    goal the device cannot meet: exit 1, nothing written."""
    if args.arch != "auto":
        return spec
    from lognet.hw.plan import auto_folded, auto_summary

    spec, found = auto_folded(spec, args.target, args.clock, args.fps, dsp=args.dsp)
    if not found.ok:
        raise GoalNotMet(f"--arch auto on {args.target}: {found.reason}; nothing written")
    print(auto_summary(spec, found))
    return spec


def cmd_quantise(args) -> int:
    from lognet.model.quantise import quantise_layers_from_file
    from lognet.model.specjson import dump_spec

    out = _check_out_file(args.output, args)
    arch = _parse_arch(args)
    spec, reports = quantise_layers_from_file(
        args.file, layers=args.layer, K=args.levels, picker=args.picker, topology=args.topology,
        in_bits=args.in_bits, in_signed=args.in_signed, level_bits=args.level_bits,
        out_bits=args.out_bits, activation=args.activation, arch=arch, seed=args.seed,
        zero_level=args.zero_level, calib=args.calib)
    spec = _with_beats(_auto_fold(spec, args), args)
    dump_spec(spec, out)
    for r in reports:
        print(f"{r['name']}: K={r['K']} {r['picker']} SQNR {r['sqnr_db']:.2f} dB "
              f"({r['sqnr_rounded_db']:.2f} dB after rounding to {r['formats']['level']}), "
              f"{r['topology']['connections']} connections")
        for note in (r["picker_note"], r["rounding_note"], r.get("lanes_note")):
            if note:
                print(f"  {note}")
    print(f"wrote {out}")
    return 0


def cmd_spec(args) -> int:
    from lognet.model.quantise import random_layer_spec
    from lognet.model.specjson import dump_spec

    out = _check_out_file(args.output, args)
    if args.sigma <= 0:
        raise CLIError(f"--sigma must be > 0 (got {args.sigma})")
    if args.inputs < 1 or args.outputs < 1:
        raise CLIError("--inputs and --outputs must be >= 1")
    if not 1 <= args.levels <= MAX_LEVELS:
        raise CLIError(f"--levels must be 1..{MAX_LEVELS} (got {args.levels})")
    arch = _parse_arch(args)
    spec = random_layer_spec(
        args.inputs, args.outputs, args.mu, args.sigma, args.levels, picker=args.picker,
        seed=args.seed, topology=args.topology, in_bits=args.in_bits, in_signed=args.in_signed,
        level_bits=args.level_bits, out_bits=args.out_bits, activation=args.activation,
        bias=args.bias, bias_bits=args.bias_bits, arch=arch, name=args.name)
    spec = _with_beats(_auto_fold(spec, args), args)
    dump_spec(spec, out)
    print(f"wrote {out}: {spec.n_in} inputs, {spec.n_out} outputs, {spec.n_conn} connections, "
          f"K={spec.K}, levels {list(spec.levels)}")
    return 0


def cmd_infer(args) -> int:
    import numpy as np

    from lognet.base.errors import InputError
    from lognet.model.reference import reference

    out = _check_out_file(args.output, args)
    if out is None:
        _check_stdout("the outputs")
    spec = _load_spec(args.spec)
    x = _load_int_array(args.inputs)
    # in blocks of vectors, into one output array: the reference's int64 intermediates then
    # cost a block's worth of memory, not several copies of the whole input
    block = 1 << 16
    if x.ndim == 0:
        raise InputError(f"{args.inputs}: holds one number, expected an array (N, "
                         f"{spec.n_in}) of input vectors")
    if x.ndim == 1:
        x = x[None, :]  # one vector
    try:
        first = reference(spec, x[:block])
        y = np.empty((x.shape[0], first.shape[1]), dtype=first.dtype)
        y[:len(first)] = first
        for start in range(block, x.shape[0], block):
            y[start:start + block] = reference(spec, x[start:start + block])
    except ValueError as e:
        raise InputError(f"{args.inputs}: {e}") from None
    if out is not None:
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

    spec = with_arch_overrides(spec, arch=args.arch, arith=args.arith, tunable=args.tunable)
    return _with_beats(spec, args)


def _with_beats(spec, args):
    """``spec`` with --in-beat/--out-beat (those given): the network's first input and last
    output stream."""
    from lognet.model.spec import with_beats, with_single_copy

    spec = with_beats(spec, args.in_beat, args.out_beat)
    return with_single_copy(spec) if args.single_copy else spec


def cmd_sim(args) -> int:
    spec = _load_spec(args.spec)
    out = _check_out_file(args.out, args)
    _check_out_file(args.json, args)  # before the simulation, not after
    _check_folder(args.build_dir, "--build-dir")
    if not args.bulk and (args.inputs or out):
        raise CLIError("--inputs and -o go with --bulk (the cocotb bench draws its own vectors)")
    if (args.waves_from is not None or args.waves_vectors is not None) and not (
            args.bulk and args.waves):
        raise CLIError("--waves-from/--waves-vectors choose the window of --bulk --waves (the "
                       "cocotb bench records its whole, short run): add --bulk --waves")
    if args.bulk:
        import numpy as np

        from lognet.model.reference import check_inputs
        from lognet.sim.bulk import DEFAULT_WAVE_VECTORS, run_bulk

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
        wfrom = 0 if args.waves_from is None else args.waves_from
        if args.waves and wfrom >= len(x):
            raise CLIError(f"--waves-from {wfrom} is past the last of the {len(x)} vectors; "
                           f"give 0..{len(x) - 1}")
        result = run_bulk(spec, x, simulator=args.simulator, build_dir=args.build_dir,
                          seed=args.seed + 1, p_valid=args.p_valid, p_ready=args.p_ready,
                          waves=args.waves, waves_from=wfrom,
                          waves_vectors=args.waves_vectors or DEFAULT_WAVE_VECTORS)
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
    _check_out_file(args.json, args)  # before minutes of synthesis, not after
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
        bitstream=args.bitstream, seed=args.seed, place_timeout=args.place_timeout))


def cmd_build(args) -> int:
    from lognet.boards.build import BOARDS, build_board
    from lognet.hw.export import build_core

    spec, out, force = _tool_spec_and_out(args, "board", args.board, BOARDS)
    return _tool_verb(args, out, force, lambda tmp: build_board(
        lambda: build_core(spec), args.board, tmp, baud=args.baud, run=not args.plan_only,
        dsp=args.dsp, seed=args.seed, place_timeout=args.place_timeout))


def cmd_plan(args) -> int:
    from lognet.hw.plan import auto_lanes, format_plan, plan

    spec = _load_spec(args.spec)
    out = _check_out_file(args.json, args)
    if (args.fps is not None or args.fill is not None) and not args.auto:
        raise CLIError("--fps and --fill go with --auto (the search that picks the lanes)")
    if args.fill is None:
        from lognet.hw.plan import AUTO_FILL

        args.fill = AUTO_FILL
    if args.auto:
        found = auto_lanes(spec, args.target, args.clock, args.fps, dsp=args.dsp,
                           fill=args.fill)
        p = found.plan
        names = [la.name for la in spec.layers]
        print("auto-folded lanes: " + ", ".join(f"{n} folded:{k}"
                                                for n, k in zip(names, found.lanes)))
    else:
        p = plan(spec, args.target, args.clock, dsp=args.dsp)
    print(format_plan(p))
    if out is not None:
        doc = p.to_json()
        if args.auto:
            doc["auto"] = {"lanes": list(found.lanes), "ok": found.ok, "reason": found.reason,
                           "fps": args.fps}
        _write_json(out, doc)
    if args.auto and not found.ok:
        print(f"lognet: {found.reason}", file=sys.stderr)
        return 1
    if not p.fits:
        print("lognet: does not fit " + p.target + ": " + "; ".join(map(str, p.shortfalls)),
              file=sys.stderr)
        return 1
    return 0


def _run_on_device(args, spec, x, transport):
    """Outputs of the board (or simulated top) behind ``transport`` for inputs ``x``."""
    import numpy as np

    from lognet.base.errors import InputError
    from lognet.boards.host import LognetDevice, needs_pause
    from lognet.hw.regmap import config_writes

    with LognetDevice(transport, baud=args.baud, timeout=args.timeout) as dev:
        info = dev.info
        if (info.n_in, info.n_out) != (spec.n_in, spec.n_out):
            raise InputError(f"the board's core takes {info.n_in} inputs and gives "
                             f"{info.n_out} outputs; {args.spec} has {spec.n_in} and "
                             f"{spec.n_out}: build the board from this spec")
        dev.check_core()
        if not args.no_load:
            n = dev.load_spec_weights(config_writes(spec), pause=needs_pause(spec))
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
    out = _check_out_file(args.output, args)
    if out is None:
        _check_stdout("the board's outputs")
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


def cmd_tune(args) -> int:
    from lognet.flow import tune_spec
    from lognet.model.specjson import dump_spec
    from lognet.model.tune import load_tune_data

    out = _check_out_file(args.output, args)
    _check_out_file(args.json, args)
    spec = _load_spec(args.spec)
    data = load_tune_data(args.data, spec)
    t = tune_spec(spec, data, family=args.family, epochs=args.epochs, seed=args.seed,
                  lr=args.lr, batch=args.batch, biases=not args.freeze_bias,
                  reassign=args.reassign)
    r = t.result
    what = "free levels" if r.family == "free" else f"{r.family} family"
    print(f"tuned {args.spec}: {what}, {r.epochs} epochs (kept epoch {r.best_epoch}), seed "
          f"{r.seed}, {r.seconds:.1f} s")
    test = ("" if t.test_before is None
            else f", test {t.test_before:.4f} -> {t.test_after:.4f}")
    print(f"accuracy (integer reference): train {r.train_before:.4f} -> {r.train_after:.4f}"
          f"{test}")
    for la in r.layers:
        fam = ""
        if la.family_before is not None:
            (m0, s0), (m1, s1) = la.family_before, la.family_after
            fam = f"; LN(mu, sigma) ({m0:.3f}, {s0:.3f}) -> ({m1:.3f}, {s1:.3f})"
        moved = f"; {la.conn_changed} connections moved" if la.conn_changed else ""
        print(f"{la.name}: levels {list(la.levels_before)} -> {list(la.levels_after)}; "
              f"{la.bias_changed} of {la.n_bias} biases changed{fam}{moved}")
    regions = ", ".join(f"{g['layer']} {g['region']} {g['words']}/{g['of']}"
                        for g in t.regions) or "none"
    print(f"register writes: {len(t.writes)} of the {t.writable} writable words change "
          f"({regions}), then a commit")
    dump_spec(t.spec, out)
    if args.json:
        _write_json(Path(args.json), {"spec": str(args.spec), "tuned": str(out),
                                      **t.to_json()})
    print(f"wrote {out}")
    return 0


def cmd_train(args) -> int:
    from lognet.model.train import (
        check_hot_start_options,
        hot_start,
        hot_start_table,
        weights_npz,
    )

    out = _check_out_file(args.output, args)
    _check_out_file(args.json, args)
    check_hot_start_options(args.hidden, args.seeds, args.target_accuracy, args.epochs,
                            args.sigma)
    r = hot_start(args.hidden, seeds=args.seeds, target=args.target_accuracy,
                  epochs=args.epochs, sigma=args.sigma, first_seed=args.seed,
                  keep_init=args.init)
    print("\n".join(hot_start_table(r)))
    if out is not None:
        atomic_write_bytes(out, weights_npz(r["kept"]))
        print(f"wrote {out}: {args.init} initialisation, seed {r['kept_seed']} (go on with "
              f"lognet quantise {out})")
    if args.json:
        _write_json(Path(args.json), {k: v for k, v in r.items() if k != "kept"})
        print(f"wrote {args.json}")
    return 0


def cmd_flow(args) -> int:
    from lognet.flow import run_flow

    return run_flow(args.config, out=args.out, force=args.force, skip=args.skip, spec=args.spec)


def cmd_sweep(args) -> int:
    from lognet.sweep import run_sweep

    return run_sweep(args.config, args.out, scheduler=args.scheduler, workers=args.workers,
                     force=args.force, cache=args.cache)


# -- analyse: the network as an Ising model, signal propagation across depth ---------------------


def demo_networks(seed: int = 0) -> dict:
    """The shipped demo's digits MLP as ``{name: [(W, b), ...]}``: ``trained`` (as ``lognet
    flow`` trains it), ``untrained`` (the same shapes, default initialisation, seeded) and
    ``quantised`` (the codebook network the demo's ``[quantise]`` options make of it)."""
    from lognet.config import FlowConfig
    from lognet.flow import DEFAULT_CONFIG, step_train
    from lognet.model.arch import Arch
    from lognet.model.ising import default_init, spec_layers
    from lognet.model.quantise import quantise_network

    cfg = FlowConfig.from_toml(DEFAULT_CONFIG)
    data = step_train(cfg)
    q = cfg.quantise
    net, _ = quantise_network(
        data.layers, K=q.K, picker=q.picker, name=cfg.flow.name, in_fmt=data.in_fmt,
        level_bits=q.level_bits, bias_bits=q.bias_bits, out_bits=q.out_bits,
        calib_x=data.in_fmt.quantise(data.x_calib), seed=cfg.flow.seed, topology=q.topology,
        arch=Arch.parse(q.arch, arith=q.arith, tunable=q.tunable))
    trained = [(W, b) for _, W, b, _ in data.layers]
    return {"trained": trained, "untrained": default_init([W.shape for W, _ in trained], seed),
            "quantised": spec_layers(net)}


def _ising_inputs(args) -> tuple[str, dict]:
    """What ``lognet analyse ising`` studies: ``(description, {name: layers or None})``; a
    lattice has no layers."""
    from lognet.model.ising import default_init, spec_layers

    if args.lattice and (args.net or args.spec):
        raise CLIError("give a network or --lattice, not both")
    if args.lattice:
        return f"the {args.lattice} ferromagnet", {args.lattice: None}
    if args.spec and not args.net:
        raise CLIError("--spec adds the quantised network to a weight file's; give the file too")
    if not args.net:
        return ("the demo's digits MLP (trained as `lognet flow` trains it)",
                demo_networks(args.seed))
    if Path(args.net).suffix.lower() == ".json":
        if args.layer:
            raise CLIError("--layer picks arrays of a weight file; a spec JSON is used whole")
        layers = spec_layers(_load_spec(args.net))
        return (f"the codebook network {args.net}",
                {"quantised": layers,
                 "untrained": default_init([W.shape for W, _ in layers], args.seed)})
    from lognet.model.quantise import load_dense_layers

    items = load_dense_layers(args.net, args.layer)
    trained = [(W, b) for _, W, b, _ in items]
    nets = {"trained": trained, "untrained": default_init([W.shape for W, _ in trained],
                                                          args.seed)}
    if args.spec:
        q = spec_layers(_load_spec(args.spec))
        if [W.shape for W, _ in q] != [W.shape for W, _ in trained]:
            raise CLIError(f"{args.spec}: its layers {[W.shape for W, _ in q]} are not those "
                           f"of {args.net} {[W.shape for W, _ in trained]}")
        nets["quantised"] = q
    return f"the dense layers of {args.net}", nets


def _ising_lines(result: dict, onsager: bool) -> list[str]:
    from lognet.model.ising import ONSAGER_TC

    lines = []
    for row in result["models"]:
        m, d, pk = row["model"], row["dos"], row["thermo"]["peak"]
        conv = "" if d["converged"] else " (NOT converged: raise the step limit)"
        lines.append(f"{m['name']}: {m['spins']} spins, {m['couplings']:,} couplings; "
                     f"Wang-Landau {d['steps']:.3g} flips in {d['seconds']:.1f} s to ln f = "
                     f"{d['ln_f_final']:.1e}{conv}, {d['occupied_bins']} of "
                     f"{d['bins']['count']} energy bins visited")
        edge = " (at the edge of the temperature grid)" if pk["at_grid_edge"] else ""
        lines.append(f"  C(T) peak at T = {pk['T']:.4f}, C/N = {pk['C']:.4f}{edge}")
        if onsager:
            err = (pk["T"] / ONSAGER_TC - 1) * 100
            lines.append(f"  Onsager's T_c = 2/ln(1+sqrt 2) = {ONSAGER_TC:.4f} (infinite "
                         f"lattice): the peak is {err:+.2f} % from it (finite-size shift "
                         f"included)")
        if "exact" in row:
            c, ex, un = (row["exact"]["comparison"], row["exact"]["thermo"]["peak"],
                         row["exact"]["unbinned"]["peak"])
            lines.append(f"  exact enumeration: ln g relative error mean "
                         f"{c['mean_relative_error'] * 100:.3f} %, largest "
                         f"{c['max_relative_error'] * 100:.3f} % over {c['bins_relative']} bins "
                         f"(largest absolute {c['max_abs_error']:.4f}); peak T exact "
                         f"{ex['T']:.4f} on these bins, {un['T']:.4f} from every state")
    return lines


def cmd_analyse_ising(args) -> int:
    from lognet.base.errors import InputError
    from lognet.model.ising import MAX_EXACT_SPINS, analyse_models, network_model, parse_lattice
    from lognet.model.ising import plot_ising as plot

    out = check_out_folder(args.out, args.force) if args.out else None
    what, nets = _ising_inputs(args)
    models = []
    for name, layers in nets.items():
        m = parse_lattice(name) if layers is None else network_model(layers, name)
        if args.exact and m.n > MAX_EXACT_SPINS:
            raise InputError(f"{name} has {m.n} spins; exact enumeration is limited to "
                             f"{MAX_EXACT_SPINS} (2^{m.n} states): drop --exact to sample with "
                             f"Wang-Landau")
        models.append((m, layers))
    say = None if args.json else (lambda s: print(s, flush=True))
    result = analyse_models(models, bins=args.bins, ln_f_final=args.ln_f, exact=args.exact,
                            seed=args.seed, progress=say)
    result["input"] = what
    lines = _ising_lines(result, onsager=bool(args.lattice))
    if out is not None:
        with atomic_folder(out, force=args.force) as tmp:
            plot(result, tmp / "ising.png", title=args.lattice or "network")
            result["plot"] = "ising.png"
            _write_json(tmp / "ising.json", result)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print("\n".join(lines))
        if out is not None:
            print(f"wrote {out}/ising.json and ising.png")
    return 0


def cmd_analyse_criticality(args) -> int:
    from lognet.model.criticality import WeightFamily, analyse_criticality, plot_criticality

    out = check_out_folder(args.out, args.force) if args.out else None
    if args.sigma_w_max <= args.sigma_w_min:
        raise CLIError(f"--sigma-w-max ({args.sigma_w_max}) must exceed --sigma-w-min "
                       f"({args.sigma_w_min})")
    if args.burn_in is not None and args.burn_in >= args.depth:
        raise CLIError(f"--burn-in ({args.burn_in}) must be below --depth ({args.depth})")
    family = WeightFamily(args.family, mu=args.mu, sigma=args.sigma, df=args.df,
                          alpha=args.alpha)
    layers = None
    if args.weights:
        if Path(args.weights).suffix.lower() == ".json":
            spec = _load_spec(args.weights)
            from lognet.model.ising import spec_layers

            layers = [(la.name, W) for la, (W, _) in zip(spec.layers, spec_layers(spec))]
        else:
            from lognet.model.quantise import load_dense_layers

            layers = [(n, W) for n, W, _, _ in load_dense_layers(args.weights)]
    say = None if args.json else (lambda s: print(s, flush=True))
    r = analyse_criticality(family=family, activation=args.activation, width=args.fan_in,
                            depth=args.depth, burn_in=args.burn_in, sigma_b=args.sigma_b,
                            grid=(args.sigma_w_min, args.sigma_w_max, args.points),
                            refine=args.refine, tol=args.tol, seed=args.seed, layers=layers,
                            progress=say)
    if out is not None:
        with atomic_folder(out, force=args.force) as tmp:
            plot_criticality(r, tmp / "criticality.png")
            r["plot"] = "criticality.png"
            _write_json(tmp / "criticality.json", r)
    if args.json:
        print(json.dumps(r, indent=1))
        return 0
    g = r["grid"]
    print(f"{'sigma_w':>8} {'lambda':>9} {'plain':>9} {'log10 d_L':>9}  phase")
    def num(v, fmt):
        return "-" if v is None else format(v, fmt)

    for s, lam, pl, d, ph in zip(g["sigma_w"], g["lambda"], g["lambda_plain"],
                                 g["final_log10_distance"], r["phases"]):
        print(f"{s:8.4f} {num(lam, '9.5f'):>9} {num(pl, '9.5f'):>9} {num(d, '9.2f'):>9}  {ph}")
    t, tp = r["transition_sigma_w"], r["transition_sigma_w_plain"]
    print(f"lambda: {g['estimator']}; the inputs start {g['eps']:g} apart")
    if t is None:
        print("lambda does not cross 0 on this grid: no order-to-chaos transition in "
              f"{args.sigma_w_min:g}..{args.sigma_w_max:g}")
    else:
        cr = r["critical_region"]
        plain = "none on the grid" if tp is None else f"{tp:.4f}"
        print(f"lambda = 0 at sigma_w = {t:.4f} (finite width N={args.fan_in}, uncorrected: "
              f"{plain}); critical region |lambda| <= {args.tol:g}: sigma_w "
              f"{cr['lo']:.4f}..{cr['hi']:.4f}, width {cr['width']:.4f}")
        if args.family == "gaussian" and args.activation == "tanh" and args.sigma_b == 0:
            print(f"mean-field transition for Gaussian weights, tanh, no bias: sigma_w = 1; "
                  f"measured {t:.4f} ({t - 1:+.4f})")
    for p in r["layers"]:
        lam = "n/a" if p["lambda"] is None else f"{p['lambda']:+.4f}"
        note = f" ({p['note']})" if p.get("note") else ""
        print(f"layer {p['name']}: sigma_w = {p['sigma_w']:.4f}, lambda = {lam}, "
              f"{p['phase']}{note}")
    if out is not None:
        print(f"wrote {out}/criticality.json and criticality.png")
    return 0


# -- parser --------------------------------------------------------------------------------------
# Options the flow has too take their defaults from its typed config (lognet.config), the one
# home of the defaults.


def _arch_options(p, defaults: bool = True):
    """--arch/--arith/--tunable; with ``defaults`` False an option not given is None (the
    spec's own value stays)."""
    from lognet.model.arch import Arith, Tunable

    q = QuantiseConfig()
    p.add_argument("--arch", default=q.arch if defaults else None,
                   help="parallel, folded:P (P lanes)" + (", or auto (lanes per layer from "
                   f"the resource plan of --target); default {q.arch}" if defaults else ""))
    p.add_argument("--arith", default=q.arith.value if defaults else None,
                   choices=[a.value for a in Arith],
                   help="arithmetic mode (auto picks the cheapest)")
    p.add_argument("--tunable", default=q.tunable.value if defaults else None,
                   choices=[t.value for t in Tunable], help="which weights are writable")
    p.add_argument("--in-beat", type=_bounded(int, 0, MAX_IO), default=None,
                   help="folded builds: input elements per stream transfer (a divisor of the "
                        "inputs; 0: the whole vector, the default); a network's first layer")
    p.add_argument("--single-copy", action="store_true", default=None,
                   help="folded tunable=all builds: one copy of the connection words (half the "
                        "memory; written while the core is paused, see docs/interfaces.md)")
    p.add_argument("--out-beat", type=_bounded(int, 0, MAX_IO), default=None,
                   help="folded builds: output elements per stream transfer (0: the whole "
                        "vector); a network's last layer")
    if defaults:  # spec and quantise: the auto-folding search
        from lognet.hw.plan import DEVICES

        p.add_argument("--target", choices=list(DEVICES),
                       help="with --arch auto: the device to fill")
        p.add_argument("--fps", type=_bounded(float, 1e-6, 1e12),
                       help="with --arch auto: reach this many inferences/s with the fewest "
                            "lanes (default: the most the device holds)")
        p.add_argument("--clock", type=_bounded(float, 1e-3, 1e4),
                       help="with --arch auto: clock in MHz (default: the target's)")
        p.add_argument("--dsp", action="store_true",
                       help="with --arch auto: products may use DSP blocks")


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

    p = sub.add_parser("fit", help="distribution analysis of |w| per array, or of each layer's "
                                   "outputs over a data set (JSON + PNG)")
    p.add_argument("file", nargs="?",
                   help=".npz, .npy, .safetensors or .onnx; with --activations: the float "
                        "weights the spec was quantised from (optional)")
    p.add_argument("--layer", action="append", help="name or glob (repeatable; default all)")
    p.add_argument("--all", dest="all_arrays", action="store_true",
                   help="fit every array; by default only weight matrices: 2-D or more, "
                        "floating point, at least --min-entries entries")
    # the defaults of --min-entries and --sample live in lognet.model.fit (MIN_ENTRIES,
    # MLE_SAMPLE), read when the verb runs: importing SciPy here would slow every verb
    p.add_argument("--min-entries", type=_bounded(int, 1),
                   help="fewest entries of a fitted matrix (default: lognet.model.fit's "
                        "MIN_ENTRIES, printed with the output)")
    p.add_argument("--bins", type=_bounded(int, 2, 100_000), default=100,
                   help="bins of the size-weighted histogram")
    p.add_argument("--sample", type=_bounded(int, 100, 100_000_000),
                   help="largest MLE sample per array (default: lognet.model.fit's "
                        "MLE_SAMPLE, printed with the output); a seeded random subsample "
                        "beyond")
    p.add_argument("--seed", type=_SEED, default=0,
                   help="seed of the Gaussian control and the MLE subsample")
    p.add_argument("--activations", metavar="NET.json",
                   help="fit each layer's outputs of this spec over --data instead of weights")
    p.add_argument("--data", metavar="X.npy",
                   help="with --activations: N x n_in inputs (real values, or integer codes)")
    p.add_argument("--no-plots", action="store_true", help="write fit.json only")
    p.add_argument("--jobs", type=_bounded(int, 0, 256), default=0,
                   help="worker processes for large files (default 0: one per core)")
    p.add_argument("-o", "--out", default="fit", help="output folder (default ./fit)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing output folder (and --json file)")
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
    p.add_argument("--force", action="store_true", help="replace an existing output file")
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
    p.add_argument("--activation", default="none", choices=["none", "relu"],
                   help="after the bias, before requantisation (default none)")
    p.add_argument("--bias", default="none", choices=["none", "random"],
                   help="none: zero biases (default); random: drawn from N(0, s^2), s the "
                        "spread of W x for inputs uniform on [-1, 1)")
    p.add_argument("--bias-bits", type=_bounded(int, 2, 32), default=16,
                   help="bias width, signed (default 16)")
    _format_options(p)
    _arch_options(p)
    p.add_argument("-o", "--output", required=True, help="spec JSON to write")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    p.set_defaults(func=cmd_spec)

    p = sub.add_parser("infer", help="bit-exact integer reference on integer inputs")
    p.add_argument("spec", help="spec JSON (from lognet spec or lognet quantise)")
    p.add_argument("inputs", help=".npy of integers, shape (N, n_in)")
    p.add_argument("-o", "--output", help=".npy to write (default: print)")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    p.set_defaults(func=cmd_infer)

    p = sub.add_parser("generate", help="Verilog, register map and manifest for a spec")
    p.add_argument("spec", help="spec JSON (from lognet spec or lognet quantise)")
    p.add_argument("-o", "--out", required=True, help="output folder (must not exist)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing output folder (and --json file)")
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
    p.add_argument("--waves", action="store_true",
                   help="write a waveform: FST (Icarus; Verilator with lz4.h) or VCD; with "
                        "--bulk only a window of vectors (--waves-from, --waves-vectors)")
    p.add_argument("--waves-from", type=_bounded(int, 0, MAX_RANDOM_VECTORS), default=None,
                   help="with --bulk --waves: first vector of the window (default 0)")
    p.add_argument("--waves-vectors", type=_bounded(int, 1, MAX_RANDOM_VECTORS), default=None,
                   help="with --bulk --waves: vectors in the window (default 16)")
    p.add_argument("--build-dir", default="build/sim", help="build folder (default build/sim)")
    p.add_argument("--json", help="write the summary here")
    p.add_argument("--bulk", action="store_true",
                   help="a generated Verilog testbench reads the inputs and writes the outputs "
                        "(no Python in the clock loop): for whole data sets")
    p.add_argument("--inputs", help="with --bulk: integer inputs, N x n_in .npy (default: "
                                    "--vectors random vectors)")
    p.add_argument("-o", "--out", help="with --bulk: write the hardware's outputs (.npy)")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
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
    p.add_argument("--force", action="store_true",
                   help="replace an existing output folder (and --json file)")
    p.add_argument("--dsp", action="store_true", help="let Yosys use DSP blocks")
    p.add_argument("--bitstream", action="store_true",
                   help="also pack a bitstream of the wrapped core (proves it routes)")
    p.add_argument("--seed", type=_SEED, default=1, help="nextpnr placement seed")
    p.add_argument("--place-timeout", type=_bounded(float, 1.0, 7 * 86400.0), default=None,
                   metavar="SECONDS", help="stop nextpnr after this long: status timed_out "
                                           "(default: no limit)")
    p.add_argument("--json", help="also write the result here")
    _arch_options(p, defaults=False)
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("plan", help="resource plan before synthesis: memories, LUT4/FF/DSP "
                                    "estimate, cycles per vector, fits or not")
    p.add_argument("spec")
    p.add_argument("--target", required=True, help="ice40-up5k, ecp5-25k or ecp5-85k")
    p.add_argument("--clock", type=_bounded(float, 1e-3), default=None,
                   help="clock in MHz for inferences/s (default: 48 on iCE40, 100 on ECP5)")
    p.add_argument("--dsp", action="store_true", help="multipliers in DSP blocks")
    p.add_argument("--auto", action="store_true",
                   help="pick folded lanes per layer: the most inferences/s that fit")
    p.add_argument("--fps", type=_bounded(float, 1e-6, 1e12), default=None,
                   help="with --auto: reach this many inferences/s with the fewest lanes")
    p.add_argument("--fill", type=_bounded(float, 0.01, 1.0), default=None,
                   help="with --auto: share of the device's logic to fill (default 0.85: room "
                        "for placement and what surrounds the core)")
    p.add_argument("--json", help="also write the plan here")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("build", help="bitstream for a board: the core behind the UART bridge")
    p.add_argument("spec")
    p.add_argument("--board", required=True, help="icebreaker or ulx3s")
    p.add_argument("-o", "--out", default=None,
                   help="output folder (default build/board/<top>-<board>, replaced)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing output folder (and --json file)")
    p.add_argument("--baud", type=_bounded(int, 300, 12_000_000), default=115200)
    p.add_argument("--dsp", action="store_true", help="let Yosys use DSP blocks")
    p.add_argument("--seed", type=_SEED, default=1, help="nextpnr placement seed")
    p.add_argument("--place-timeout", type=_bounded(float, 1.0, 7 * 86400.0), default=None,
                   metavar="SECONDS", help="stop nextpnr after this long: status timed_out "
                                           "(default: no limit)")
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
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    p.set_defaults(func=cmd_run)

    _tune_parser(sub)
    _train_parser(sub)

    p = sub.add_parser("flow", help="the whole job: train/load, fit, quantise, compare, "
                                    "generate, simulate, synthesise, report")
    p.add_argument("config", nargs="?", default=None,
                   help="TOML/JSON flow config (default: the shipped digits demo)")
    p.add_argument("-o", "--out", default=None, help="report folder (default from config)")
    p.add_argument("--force", action="store_true")
    p.add_argument("--skip", action="append", default=[],
                   help="skip a step (repeatable): train, fit, quantise, analyse, compare, "
                        "tune, generate, simulate, synth, report")
    p.add_argument("--spec", default=None,
                   help="resume from this NetworkSpec (e.g. a report's network.json) instead "
                        "of quantising again")
    p.set_defaults(func=cmd_flow)

    p = sub.add_parser("sweep", help="design-space sweep on Dask (pickers x K x arithmetic x "
                                     "tunability x lanes x targets), cached and resumable")
    p.add_argument("config", help="sweep file (TOML; see lognet/default_sweep.toml)")
    p.add_argument("-o", "--out", default=None,
                   help="results folder (default [sweep] out, ./sweep)")
    p.add_argument("--force", action="store_true", help="replace an existing results folder")
    p.add_argument("--scheduler", default=None,
                   help="address of a running Dask scheduler (tcp://host:8786); default: a "
                        "local cluster")
    p.add_argument("--workers", type=_bounded(int, 1, 4096), default=None,
                   help="local worker processes (default one per core, fewer if memory is "
                        "short)")
    p.add_argument("--cache", default=None,
                   help="stage cache folder (default [sweep] cache, build/sweep-cache)")
    p.set_defaults(func=cmd_sweep)

    _analyse_parser(sub)
    return ap


def _analyse_parser(sub) -> None:
    """``lognet analyse ising|criticality``."""
    from lognet.model import criticality as cr
    from lognet.model import ising

    pa = sub.add_parser("analyse", help="the network as an Ising model (ising), signal "
                                        "propagation across depth (criticality)")
    asub = pa.add_subparsers(dest="analysis", metavar="ANALYSIS", parser_class=_Parser)
    asub.required = True

    p = asub.add_parser("ising", help="density of states (Wang-Landau), mean energy and "
                                      "specific heat of a network's Ising model")
    p.add_argument("net", nargs="?", default=None,
                   help="a weight file (.npz, .safetensors, .onnx, .npy) or a spec JSON (the "
                        "codebook network); default: the demo's digits MLP")
    p.add_argument("--lattice", help="validation instead: square:L, the L x L ferromagnet "
                                     "(Onsager's T_c = 2.269 as L grows)")
    p.add_argument("--spec", help="with a weight file: its quantised network (spec JSON) too")
    p.add_argument("--layer", action="append",
                   help="with a weight file: name or glob of a matrix (repeatable)")
    p.add_argument("--exact", action="store_true",
                   help=f"also enumerate every state (<= {ising.MAX_EXACT_SPINS} spins) and "
                        f"compare")
    p.add_argument("--bins", type=_bounded(int, 2, ising.MAX_BINS), default=64,
                   help="energy bins of a network (default 64; a lattice uses its exact "
                        "levels)")
    p.add_argument("--ln-f", type=_bounded(float, 1e-12, 0.5), default=1e-6,
                   help="final Wang-Landau modification factor ln f (default 1e-6)")
    p.add_argument("--seed", type=_SEED, default=0,
                   help="seed of the walk and of the untrained network")
    p.add_argument("-o", "--out", default=None,
                   help="also write ising.json and ising.png into this folder")
    p.add_argument("--force", action="store_true",
                   help="replace an existing output folder (and --json file)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_analyse_ising)

    p = asub.add_parser("criticality", help="largest Lyapunov exponent and the distance of "
                                            "nearby inputs over depth, across weight scales")
    p.add_argument("--family", default="gaussian", choices=cr.FAMILIES,
                   help="weight distribution (default gaussian)")
    p.add_argument("--mu", type=_bounded(float, -50, 50), default=0.0,
                   help="lognormal: mean of ln|w| (only scales; sigma_w replaces it)")
    p.add_argument("--sigma", type=_bounded(float, 1e-6, 10), default=1.0,
                   help="lognormal: sd of ln|w| (default 1)")
    p.add_argument("--df", type=_bounded(float, 1e-3, 1e6), default=3.0,
                   help="student-t: degrees of freedom (default 3)")
    p.add_argument("--alpha", type=_bounded(float, 0.1, 2.0), default=1.5,
                   help="alpha-stable: stability index (default 1.5; slow to draw)")
    p.add_argument("--activation", default="tanh", choices=cr.ACTIVATIONS,
                   help="default tanh")
    p.add_argument("--fan-in", type=_bounded(int, 1, cr.MAX_WIDTH), default=100,
                   help="width N of every layer (default 100)")
    p.add_argument("--depth", type=_bounded(int, 1, cr.MAX_DEPTH), default=4000,
                   help="layers (default 4000)")
    p.add_argument("--burn-in", type=_bounded(int, 0, cr.MAX_DEPTH - 1), default=None,
                   help="first layers left out of lambda (default depth/10)")
    p.add_argument("--sigma-b", type=_bounded(float, 0.0, 1e3), default=0.0,
                   help="bias standard deviation (default 0)")
    p.add_argument("--sigma-w-min", type=_bounded(float, 1e-6, 1e3), default=0.5,
                   help="smallest weight scale of the grid (default 0.5)")
    p.add_argument("--sigma-w-max", type=_bounded(float, 1e-6, 1e3), default=2.0,
                   help="largest weight scale of the grid (default 2)")
    p.add_argument("--points", type=_bounded(int, 2, cr.MAX_POINTS), default=31,
                   help="grid points (default 31)")
    p.add_argument("--refine", type=_bounded(int, 0, cr.MAX_POINTS), default=21,
                   help="points of the finer grid around the zero crossing (default 21)")
    p.add_argument("--tol", type=_bounded(float, 1e-9, 10), default=0.02,
                   help="critical region: |lambda| <= tol (default 0.02)")
    p.add_argument("--weights", help="place these trained layers on the diagram (weight file "
                                     "or spec JSON)")
    p.add_argument("--seed", type=_SEED, default=0, help="seed of the weights and inputs")
    p.add_argument("-o", "--out", default=None,
                   help="also write criticality.json and criticality.png into this folder")
    p.add_argument("--force", action="store_true",
                   help="replace an existing output folder (and --json file)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_analyse_criticality)


def _tune_parser(sub) -> None:
    from lognet.config import TuneConfig
    from lognet.model.tune import FAMILIES

    t = TuneConfig()
    p = sub.add_parser(
        "tune", help="train a spec's levels and biases (signs and indices frozen) on labelled "
                     "data: the result is register writes to the built core",
        description="Train each layer's K levels and biases on labelled data through a "
                    "straight-through model of the integer network, check the result with the "
                    "bit-exact reference, and say which registers of the built core change. "
                    "DATA.npz holds x_train (N x n_in) and y_train (N labels 0..n_out-1), and "
                    "optionally x_test and y_test: float inputs are real values, quantised to "
                    "the spec's input format (round to nearest, saturate); integer inputs are "
                    "codes already in that format.")
    p.add_argument("spec", help="spec JSON of the built core")
    p.add_argument("--data", required=True,
                   help=".npz of x_train, y_train (and optionally x_test, y_test)")
    p.add_argument("-o", "--output", required=True, help="tuned spec JSON to write")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    p.add_argument("--family", default=t.family, choices=FAMILIES,
                   help="free levels, or the K points of LN(mu, sigma) per layer "
                        f"(default {t.family})")
    p.add_argument("--epochs", type=_bounded(int, 0, 100_000), default=t.epochs,
                   help=f"passes over the training split (default {t.epochs})")
    p.add_argument("--seed", type=_SEED, default=JobConfig().seed, help="shuffling seed")
    p.add_argument("--lr", type=_bounded(float, 1e-9, 1.0), default=t.lr,
                   help="Adam's step in units of each layer's largest level (default 0.01 "
                        "free, 0.02 family)")
    p.add_argument("--batch", type=_bounded(int, 1, 1 << 20), default=t.batch,
                   help=f"training vectors per step (default {t.batch})")
    p.add_argument("--freeze-bias", action="store_true", help="tune the levels only")
    p.add_argument("--reassign", action="store_true",
                   help="also move connections between levels after each epoch (rewrites "
                        "connection words: needs a tunable=all core)")
    p.add_argument("--json", help="also write the figures here")
    p.set_defaults(func=cmd_tune)


def _train_parser(sub) -> None:
    from lognet.model import train as tr

    p = sub.add_parser(
        "train", help="train the digits MLP from a lognormal (hot start) and from the default "
                      "initialisation over seeds, and compare",
        description="Train the float digits MLP (scikit-learn's bundled digits, Adam) from a "
                    "lognormal initialisation (random signs, |w| ~ LN(mu, sigma) with each "
                    "layer's variance equal to the default's) and from MLPClassifier's "
                    "default (Glorot uniform) one, over --seeds seeds: epochs to reach "
                    "--target-accuracy on the test split and the final accuracy, mean +- sd "
                    "per initialisation, and whether the hot start helped.")
    p.add_argument("--init", default="lognormal", choices=tr.INITS,
                   help="the initialisation whose trained weights -o writes (default "
                        "lognormal); both are always trained and compared")
    p.add_argument("--seeds", type=_bounded(int, 1, 1000), default=10,
                   help="seeds per initialisation (default 10)")
    p.add_argument("--seed", type=_SEED, default=0,
                   help="first seed (default 0); -o writes this seed's weights")
    p.add_argument("--target-accuracy", type=_bounded(float), default=0.95,
                   help="test accuracy to reach, a fraction in (0, 1] (default 0.95)")
    p.add_argument("--epochs", type=_bounded(int, 1, tr.MAX_EPOCHS), default=100,
                   help="epochs per run (default 100)")
    p.add_argument("--hidden", type=_bounded(int, 1, tr.MAX_HIDDEN_UNITS), nargs="+",
                   default=[32], help="hidden layer sizes (default 32)")
    p.add_argument("--sigma", type=_bounded(float), default=1.0,
                   help="sd of ln|w| of the lognormal initialisation, in (0, 5] (default 1)")
    p.add_argument("-o", "--output", help="write the trained weights here (.npz that lognet "
                                          "quantise reads)")
    p.add_argument("--json", help="also write every run's figures here")
    p.add_argument("--force", action="store_true", help="replace existing output files")
    p.set_defaults(func=cmd_train)


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
        _outputs_clear_of_inputs(args)
        return int(args.func(args) or 0)
    except errors as e:
        msg = " ".join(str(e).split("\n"))
        print(f"lognet: error: {msg}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except GoalNotMet as e:
        print(f"lognet: {e}", file=sys.stderr)
        return 1
    except ToolFailure as e:
        # a simulator or synthesis tool missing or crashed: not the input's fault, exit 1
        print(f"lognet: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # the reader went away (``| head``): end quietly, as other command-line tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as e:
        # a path the verb cannot read or write (missing, a folder, no permission, disk full):
        # the user's to fix, so one line like every other bad input
        what = f"{e.filename}: " if e.filename else ""
        print(f"lognet: error: {what}{e.strerror or e}; check the path, its permissions and "
              f"the free space", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("lognet: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
