"""Where a learned policy's checkpoint lives: ``NAME.json`` (its record) next to ``NAME.pt`` (a
state dict, read with ``torch.load(weights_only=True)``), either shipped in a package folder
(``name=``) or anywhere (``path=DIR/NAME``)."""

from __future__ import annotations

import json
from pathlib import Path


def load_weights(path: Path) -> dict:
    """The state dict in ``path``, read with ``torch.load(weights_only=True)`` (tensors only, never
    code); a file that is not one is a ValueError naming it (never an invitation to load it
    unsafely)."""
    import torch

    try:
        state = torch.load(path, weights_only=True)
    except Exception as exc:  # torch's unpickler errors have no common class
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"checkpoint weights {path} cannot be read as tensors only ({first[:200]})") from None
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint weights {path} hold a {type(state).__name__}, not a state dict")
    return state


def locate(shipped: Path, name: str | None, path: str | Path | None, needs: tuple[str, ...] = ()) -> tuple[dict, Path]:
    """The JSON record and the weights file of checkpoint ``name`` in ``shipped`` or at ``path``;
    a record that is not a JSON object holding the keys ``needs`` is a ValueError naming the file."""
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
    try:
        meta = json.loads(record.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"checkpoint record {record} is not readable JSON ({exc})") from None
    missing = [key for key in needs if key not in meta] if isinstance(meta, dict) else list(needs)
    if not isinstance(meta, dict) or missing:
        raise ValueError(f"checkpoint record {record} must be a JSON object with {list(needs)}; "
                         + (f"it lacks {missing}" if isinstance(meta, dict) else f"it is a {type(meta).__name__}"))
    return meta, weights
