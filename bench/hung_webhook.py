#!/usr/bin/python3
"""A webhook server that accepts every connection and never answers, for the delivery benchmark.

It reads whatever the client sends and holds the connection open until the client gives up and
closes it; it never writes a byte. That is what a chat service does when it hangs behind a load
balancer: the TCP connection succeeds, the request is sent, and no answer comes. Each connection is
logged to --log as "<unix time>\topen\t<n>" when accepted and "<unix time>\tclosed\t<n>" when the
client closed it, so the benchmark can count how often each sender tried. Standard library only.

usage: hung_webhook.py --log FILE --port PORT [--host 127.0.0.1]
"""

import argparse
import asyncio
import signal
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    open(args.log, "a").close()
    counter = 0

    def record(event, number):
        with open(args.log, "a", encoding="utf-8") as log:
            log.write(f"{time.time():.6f}\t{event}\t{number}\n")

    async def hang(reader, writer):
        nonlocal counter
        counter += 1
        number = counter
        record("open", number)
        try:
            while await reader.read(65536):
                pass  # swallow the request; never answer
        except ConnectionError:
            pass
        record("closed", number)
        writer.close()

    async def serve():
        server = await asyncio.start_server(hang, args.host, args.port, backlog=1024)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        print(f"hung_webhook listening on http://{args.host}:{args.port}", flush=True)
        async with server:
            await stop.wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
