"""`python -m tuneloop_core.grpc.probe HOST:PORT`: exit 0 when the gRPC server there answers
SERVING to the standard health check, 1 otherwise (container health checks use it)."""

from __future__ import annotations

import asyncio
import sys

from tuneloop_core.grpc.client import check_health


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m tuneloop_core.grpc.probe HOST:PORT\n")
        return 2
    return 0 if asyncio.run(check_health(argv[0])) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
