"""lognet.model: NumPy/SciPy side of lognet. Fits, level pickers, topologies, fixed point, the
IR and the bit-exact integer reference."""

from .arch import Activation, Arch, Arith, Microarch, SpecError, Tunable
from .qformat import QFormat, Rounding
from .reference import float_reference, reference
from .spec import LayerSpec, NetworkSpec
from .specjson import dump_spec, load_spec

__all__ = [
    "Activation",
    "Arch",
    "Arith",
    "LayerSpec",
    "Microarch",
    "NetworkSpec",
    "QFormat",
    "Rounding",
    "SpecError",
    "Tunable",
    "dump_spec",
    "float_reference",
    "load_spec",
    "reference",
]
