"""What the layer directory must hold for the Lambda runtime (Python 3.12, x86_64) before it is deployed.

``make layer`` builds it with pip's cross-platform options; this check catches the mistakes that would
only show at the first cold start in AWS: a package missing, a native module built for this machine's
Python or architecture, or a copy of boto3/botocore shadowing the runtime's own.
"""

from __future__ import annotations

from pathlib import Path

#: Imported at cold start: bmsync and its runtime dependencies; aws_xray_sdk because Powertools'
#: Tracer imports it whenever tracing is on (it is, in AWS).
REQUIRED_PACKAGES = (
    "bmsync",
    "aws_lambda_powertools",
    "aws_xray_sdk",
    "wrapt",
    "requests",
    "pydantic",
    "pydantic_core",
)
#: Provided by the runtime; a copy in the layer would come first on sys.path and mismatch the other.
RUNTIME_PACKAGES = ("boto3", "botocore")
NATIVE_SUFFIX = ".cpython-312-x86_64-linux-gnu.so"


def layer_problems(layer_dir: Path) -> list[str]:
    site = layer_dir / "python"
    if not site.is_dir():
        return [f"{site} does not exist: run `make layer`"]
    problems = [
        f"layer lacks {name}: run `make layer`"
        for name in REQUIRED_PACKAGES
        if not (site / name).is_dir() and not (site / f"{name}.py").is_file()
    ]
    problems += [
        f"layer carries {name}, which the Lambda runtime provides: leave it out"
        for name in RUNTIME_PACKAGES
        if (site / name).exists()
    ]
    for native in sorted(site.rglob("*.so")):
        if not native.name.endswith((NATIVE_SUFFIX, ".abi3.so")):
            problems.append(
                f"{native.relative_to(layer_dir)} is not built for CPython 3.12 on x86_64 Linux: "
                "rebuild with `make layer`"
            )
    return problems
