"""The array type used in annotations (numpy arrays of any dtype; shapes are documented where they matter)."""

from typing import Any, TypeAlias

import numpy.typing as npt

Array: TypeAlias = npt.NDArray[Any]
