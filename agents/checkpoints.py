"""Where a learned policy's checkpoint lives: ``NAME.json`` (its record) next to ``NAME.pt`` (a
state dict, read with ``torch.load(weights_only=True)``), either shipped in a package folder
(``name=``) or anywhere (``path=DIR/NAME``)."""

from __future__ import annotations

import json
from pathlib import Path


def locate(shipped: Path, name: str | None, path: str | Path | None) -> tuple[dict, Path]:
    """The JSON record and the weights file of checkpoint ``name`` in ``shipped`` or at ``path``."""
    if (name is None) == (path is None):
        raise ValueError("give exactly one of name= (a shipped checkpoint) or path= (DIR/NAME of your own)")
    if name is not None and (not isinstance(name, str) or Path(name).name != name or name in ("", ".", "..")):
        available = sorted(p.stem for p in shipped.glob("*.json"))
        raise ValueError(f"name={name!r} is not a shipped checkpoint's name (one of {available}); use path= for your own")
    prefix = shipped / name if name is not None else Path(path).expanduser()
    record, weights = prefix.with_suffix(".json"), prefix.with_suffix(".pt")
    if not record.is_file() or not weights.is_file():
        available = sorted(p.stem for p in shipped.glob("*.json"))
        raise FileNotFoundError(f"checkpoint {prefix} needs {record.name} and {weights.name}; shipped: {available}")
    return json.loads(record.read_text()), weights
