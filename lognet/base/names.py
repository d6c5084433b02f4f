"""Identifiers that reach HDL, C or file names: sanitised here, nowhere else."""

import re

__all__ = ["sanitise"]

_VERILOG_KEYWORDS = {
    "always", "and", "assign", "begin", "buf", "case", "casex", "casez", "default", "defparam",
    "else", "end", "endcase", "endfunction", "endmodule", "endtask", "for", "forever", "function",
    "if", "initial", "inout", "input", "integer", "logic", "module", "nand", "negedge", "nor",
    "not", "or", "output", "parameter", "posedge", "reg", "repeat", "signed", "task", "wire",
    "while", "xor", "int", "bit", "byte", "struct", "union", "typedef", "const", "static",
}


def sanitise(name: str, fallback: str = "lognet") -> str:
    """A safe identifier for Verilog, C and file names: ``[a-z_][a-z0-9_]*``, at most 48
    characters, never a Verilog/SystemVerilog keyword."""
    s = re.sub(r"[^0-9A-Za-z_]+", "_", str(name)).strip("_").lower()
    s = re.sub(r"_+", "_", s)
    if not s:
        s = fallback
    if s[0].isdigit():
        s = f"n{s}"
    s = s[:48]
    if s in _VERILOG_KEYWORDS:
        s = f"{s}_"
    return s
