"""The backend registry: one factory per backend the runtime contract names, importing its module only when asked.

The animatic path never imports torch; svi without torch is bad input (exit 2), not a crash. Backends import the
render types from rendering.py, never this module, so the registry and the backends import in one direction only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from longvideo_runtime.contract import CONTRACT, BackendName, ContractError
from longvideo_runtime.errors import BadInput
from longvideo_runtime.rendering import Backend


def _animatic() -> Backend:
    from longvideo_runtime.animatic import AnimaticBackend

    return AnimaticBackend()


def _svi() -> Backend:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise BadInput("the svi backend needs torch, which this Python does not have (use a runtime image)") from None
    from longvideo_runtime.svi.backend import SviBackend

    return SviBackend()


#: Every backend of the contract, by name.
FACTORIES: Mapping[BackendName, Callable[[], Backend]] = MappingProxyType({"svi": _svi, "animatic": _animatic})

if set(FACTORIES) != set(CONTRACT.backends):
    raise ContractError(f"the contract's backends {CONTRACT.backends} are not this worker's {tuple(FACTORIES)}")


def load_backend(name: BackendName) -> Backend:
    """A new instance of the named backend, its module imported now."""
    return FACTORIES[name]()
