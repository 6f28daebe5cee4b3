"""``python -m genai_commons_bedrock.testing [--port N] [--latency SECONDS]``: serve the local
Bedrock-compatible service until interrupted; prints the endpoint variables to export first.

The service holds a demo knowledge base, ``handbook`` (id ``KBHANDBOOK``), and an agent answering
from it, ``AGENT00001``, for trying the ``genai kb`` and ``genai agent`` commands."""

from __future__ import annotations

import argparse
import sys
import threading

from .knowledge import Document
from .server import LocalBedrockServer
from .service import LocalBedrock

DEMO_DOCUMENTS = (
    Document(
        uri="s3://handbook/oncall.md",
        text="The on-call rotation changes every Monday at ten.\n\nWeekend shifts are split in two.",
        metadata={"team": "platform", "year": 2024},
    ),
    Document(
        uri="s3://handbook/holidays.md",
        text="Holidays are booked in the HR tool, two weeks ahead.",
        metadata={"team": "people", "year": 2023},
    ),
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m genai_commons_bedrock.testing", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds each answer waits")
    args = parser.parse_args(argv)
    service = LocalBedrock(latency=args.latency)
    service.add_knowledge_base("handbook", DEMO_DOCUMENTS, knowledge_base_id="KBHANDBOOK", data_source_id="DSHANDBOOK")
    service.add_agent("AGENT00001", knowledge_base_id="KBHANDBOOK")
    server = LocalBedrockServer(service, port=args.port).start()
    for name, value in server.environ().items():
        sys.stdout.write(f"export {name}={value}\n")
    sys.stdout.write("# knowledge base bedrock:handbook (KBHANDBOOK, data source DSHANDBOOK)\n")
    sys.stdout.write("# agent bedrock:AGENT00001, answering from it\n")
    sys.stdout.flush()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
