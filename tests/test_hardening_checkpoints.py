"""Checkpoints are data: a proxy checkpoint's ``arch`` must be an allowed architecture (the
package's own or a registered entry point), refused before anything is imported or called; the
shipped proxy and PPO checkpoints still load and act."""

from __future__ import annotations

import json
import re
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("stable_baselines3")

from agents.ppo.policy import CHECKPOINTS as PPO_CHECKPOINTS  # noqa: E402
from agents.ppo.policy import LoadedPolicy, PPODayAhead  # noqa: E402
from agents.proxy import bidder  # noqa: E402
from agents.proxy.bidder import ENTRY_POINT_GROUP, TorchProxyBidder, load_checkpoint  # noqa: E402
from agents.proxy.models import MLPProxy, SoCTrajectoryProxy  # noqa: E402
from bessgym.forecast import da_context  # noqa: E402
from bessgym.scenarios import ScenarioSet  # noqa: E402

TRIPPED: list[dict] = []
TRAP_MODULE = "bessgym_hardening_trap"


def tripwire(**kwargs) -> None:
    """What a hostile ``arch`` points at: records that it was called."""
    TRIPPED.append(kwargs)


class TinyProxy(nn.Module):
    """A user's own architecture."""

    def __init__(self, width: int = 3) -> None:
        super().__init__()
        self.linear = nn.Linear(width, width)

    def forward(self, theta: torch.Tensor) -> torch.Tensor:
        return self.linear(theta)


def _checkpoint(folder: Path, arch: object, kwargs: dict | None = None, state: dict | None = None) -> Path:
    """Write ``folder/ck.json`` and ``folder/ck.pt``; returns the prefix."""
    prefix = folder / "ck"
    prefix.with_suffix(".json").write_text(json.dumps({"arch": arch, "kwargs": kwargs or {}}))
    torch.save(state or {}, prefix.with_suffix(".pt"))
    return prefix


@pytest.fixture
def trap(tmp_path, monkeypatch) -> Path:
    """An importable module that touches a file when imported; returns that file."""
    touched = tmp_path / "imported"
    (tmp_path / f"{TRAP_MODULE}.py").write_text(f"open({str(touched)!r}, 'w').close()\nclass Net: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, TRAP_MODULE, raising=False)
    TRIPPED.clear()
    return touched


def _registered(monkeypatch, *values: str) -> None:
    """Register ``values`` under the entry point group, as an installed package would."""
    eps = [EntryPoint(name=f"ep{i}", value=v, group=ENTRY_POINT_GROUP) for i, v in enumerate(values)]
    monkeypatch.setattr(bidder, "entry_points", lambda group: eps if group == ENTRY_POINT_GROUP else [])


@pytest.mark.parametrize("arch, kwargs", [
    ("os:system", {"command": "touch {pwned}"}),
    ("builtins:eval", {"source": "open({pwned!r}, 'w')"}),
    ("no_such_package_xyz.models:Net", {}),
    (f"{__name__}:tripwire", {"command": "touch {pwned}"}),
    (f"{TRAP_MODULE}:Net", {}),
    (["os", "system"], {}),
])
def test_an_arch_outside_the_allowlist_is_refused_before_anything_runs(tmp_path, trap, arch, kwargs):
    pwned = tmp_path / "pwned"
    kwargs = {k: v.format(pwned=str(pwned)) for k, v in kwargs.items()}
    prefix = _checkpoint(tmp_path, arch, kwargs)
    with pytest.raises(ValueError) as caught:
        TorchProxyBidder(path=str(prefix))
    message = str(caught.value)
    assert "\n" not in message
    assert str(prefix.with_suffix(".json")) in message and repr(arch) in message
    assert re.search(r"allowed: \[.*'agents\.proxy\.models:SoCTrajectoryProxy'.*\]", message)
    assert not pwned.exists() and not trap.exists() and not TRIPPED and TRAP_MODULE not in sys.modules


def test_a_registered_entry_point_class_is_accepted_and_nothing_else_is_imported(tmp_path, trap, monkeypatch):
    model = TinyProxy(4)
    prefix = _checkpoint(tmp_path, f"{__name__}:TinyProxy", {"width": 4}, model.state_dict())
    _registered(monkeypatch)
    with pytest.raises(ValueError, match="not an allowed architecture"):
        load_checkpoint(path=str(prefix))
    _registered(monkeypatch, f"{__name__}:TinyProxy", f"{TRAP_MODULE}:Net")
    loaded, meta = load_checkpoint(path=str(prefix))
    theta = torch.randn(2, 4)
    assert isinstance(loaded, TinyProxy) and torch.equal(loaded(theta), model(theta))
    assert not trap.exists() and TRAP_MODULE not in sys.modules


def test_a_registered_entry_point_that_is_not_a_module_class_is_refused_uncalled(tmp_path, trap, monkeypatch):
    prefix = _checkpoint(tmp_path, f"{__name__}:tripwire", {"command": "x"})
    _registered(monkeypatch, f"{__name__}:tripwire")
    with pytest.raises(ValueError, match=r"tripwire' is not a torch.nn.Module class"):
        load_checkpoint(path=str(prefix))
    assert not TRIPPED


def test_the_trainer_writes_only_allowed_architectures():
    """agents.proxy.train saves its network (--arch soc or mlp) under the class's importable name."""
    assert {bidder.importable_name(cls) for cls in (SoCTrajectoryProxy, MLPProxy)} <= set(bidder.ARCHITECTURES)


@pytest.fixture(scope="module")
def context():
    days = ScenarioSet("caiso-sp15")
    return da_context(days, days.get(days.ids("test")[0]))


def test_shipped_proxy_loads_and_bids(context):
    bid = TorchProxyBidder(name="caiso-soc").bid(context)
    assert bid.note["solver"] == "proxy" and np.isfinite(bid.energy_mw).all()


@pytest.mark.parametrize("name", sorted(p.stem for p in PPO_CHECKPOINTS.glob("*.json")))
def test_shipped_ppo_checkpoints_load_and_act(name, context):
    policy = LoadedPolicy(name=name)
    action = policy.action(policy.normaliser.mean)
    assert action.shape == (policy.spec["action_dim"],) and np.all(np.abs(action) <= 1.0)
    if name.startswith("dayahead"):
        assert np.isfinite(PPODayAhead(name=name).bid(context).energy_mw).all()
    if name.startswith("twosettlement"):
        from agents.ppo.policy import PPOTwoSettlement

        assert np.isfinite(PPOTwoSettlement(name=name).bid(context).energy_mw).all()


@pytest.mark.parametrize("record, message", [
    ("[1, 2]", "must be a JSON object"),
    ("{not json", "is not readable JSON"),
    ('{"arch": "agents.proxy.models:MLPProxy"}', r"it lacks \['kwargs'\]"),
])
def test_a_malformed_record_is_named(tmp_path, record, message):
    from agents.ppo.policy import LoadedPolicy

    (tmp_path / "bad.json").write_text(record)
    (tmp_path / "bad.pt").write_bytes(b"")
    with pytest.raises(ValueError, match=f"bad.json.*{message}|{message}"):
        load_checkpoint(path=str(tmp_path / "bad"))
    with pytest.raises(ValueError, match="bad.json"):
        LoadedPolicy(path=str(tmp_path / "bad"))
