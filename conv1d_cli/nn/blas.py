"""``out += a @ b`` straight into a strided output, through the BLAS NumPy itself links.

A convolution run tap by tap (functional.py) sums K matrix products into one output. With
``np.matmul`` every product after the first lands in a scratch buffer and is then added in a
separate pass over the output; BLAS's own ``C = alpha*A@B + beta*C`` with beta = 1 accumulates
inside the GEMM kernel for free. This module calls ``cblas_sgemm``/``cblas_dgemm`` of the
OpenBLAS bundled with NumPy's wheels (ILP64, symbols ``scipy_cblas_?gemm64_`` or
``cblas_?gemm64_``) with the operands' own strides, so shifted column slices of a wider buffer
need no copy. Where that library is not found (NumPy built against another BLAS), or an operand's
layout is not a BLAS matrix, ``gemm_accumulate`` returns False and the caller falls back to
matmul plus an add: the same numbers up to rounding.

BLAS thread limits (threadpoolctl) apply as to any NumPy product: it is the same library.
"""

from __future__ import annotations

import ctypes
import glob
import os

import numpy as np

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_SYMBOLS = ("scipy_cblas_{}gemm64_", "cblas_{}gemm64_")  # ILP64 builds only: 64-bit dims
_ENV_SWITCH = "CONV1D_DIRECT_BLAS"  # set to 0 to always use matmul plus an add

_gemms: dict[np.dtype, object] | None = None


def find_gemms() -> dict[np.dtype, object]:
    """{float32: sgemm, float64: dgemm} from NumPy's bundled OpenBLAS, or {} when absent."""
    if os.environ.get(_ENV_SWITCH, "1") == "0":
        return {}
    # Where NumPy's wheels put their OpenBLAS: numpy.libs/ beside the package (Linux, Windows),
    # numpy/.dylibs/ inside it (macOS).
    package = os.path.dirname(np.__file__)
    candidates = [os.path.join(os.path.dirname(package), "numpy.libs", "*openblas*")]
    candidates.append(os.path.join(package, ".dylibs", "*openblas*"))
    for path in sorted(p for pattern in candidates for p in glob.glob(pattern)):
        try:
            lib = ctypes.CDLL(path)  # already loaded by NumPy: the same handle, no new copy
        except OSError:
            continue
        for pattern in _SYMBOLS:
            found = {}
            for letter, dtype, scalar in (("s", np.float32, ctypes.c_float),
                                          ("d", np.float64, ctypes.c_double)):  # fmt: skip
                function = getattr(lib, pattern.format(letter), None)
                if function is None:
                    break
                dim, ptr = ctypes.c_int64, ctypes.c_void_p
                function.argtypes = [ctypes.c_int] * 3 + [dim] * 3 + [scalar, ptr, dim, ptr, dim]
                function.argtypes += [scalar, ptr, dim]
                function.restype = None
                found[np.dtype(dtype)] = function
            if len(found) == 2:
                return found
    return {}


def available() -> bool:
    """Whether gemm_accumulate can run (NumPy's bundled OpenBLAS was found)."""
    global _gemms
    if _gemms is None:
        _gemms = find_gemms()
    return bool(_gemms)


def _blas_view(a: np.ndarray) -> tuple[int, int] | None:
    """(transpose flag, leading dimension) of a 2D array BLAS can read in place, else None."""
    size = a.itemsize
    rows, cols = a.shape
    row_stride, col_stride = a.strides
    if (col_stride == size or cols == 1) and row_stride % size == 0 and row_stride >= cols * size:
        return _NO_TRANS, max(row_stride // size, cols, 1)
    if (row_stride == size or rows == 1) and col_stride % size == 0 and col_stride >= rows * size:
        return _TRANS, max(col_stride // size, rows, 1)
    return None


def gemm_accumulate(a: np.ndarray, b: np.ndarray, out: np.ndarray, beta: float = 1.0) -> bool:
    """``out = a @ b + beta * out`` in place for 2D (M, K) @ (K, N) -> (M, N); False if it cannot.

    ``a`` and ``b`` may be transposed or column-sliced views; ``out`` needs unit column stride.
    """
    if not available():
        return False
    gemm = _gemms.get(out.dtype)
    if gemm is None or a.dtype != out.dtype or b.dtype != out.dtype or not out.flags.writeable:
        return False
    (m, k), (k2, n) = a.shape, b.shape
    if k != k2 or out.shape != (m, n) or 0 in (m, n, k):
        return False
    layout_a, layout_b, layout_out = _blas_view(a), _blas_view(b), _blas_view(out)
    if layout_a is None or layout_b is None or layout_out is None or layout_out[0] != _NO_TRANS:
        return False
    gemm(_ROW_MAJOR, layout_a[0], layout_b[0], m, n, k, 1.0,
         a.ctypes.data, layout_a[1], b.ctypes.data, layout_b[1],
         beta, out.ctypes.data, layout_out[1])  # fmt: skip
    return True
