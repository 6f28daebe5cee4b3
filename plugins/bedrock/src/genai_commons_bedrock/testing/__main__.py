"""``python -m genai_commons_bedrock.testing [--port N] [--latency SECONDS]``: serve the local
Bedrock-compatible service until interrupted; prints the endpoint variables to export first."""

from __future__ import annotations

import argparse
import sys
import threading

from .server import LocalBedrockServer
from .service import LocalBedrock


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m genai_commons_bedrock.testing", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds each answer waits")
    args = parser.parse_args(argv)
    server = LocalBedrockServer(LocalBedrock(latency=args.latency), port=args.port).start()
    for name, value in server.environ().items():
        sys.stdout.write(f"export {name}={value}\n")
    sys.stdout.flush()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
