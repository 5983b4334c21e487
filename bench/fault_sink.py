#!/usr/bin/python3
"""An SMTP sink that can play a relay outage, for the delivery-under-faults benchmark.

Like ../shared/bench/smtp_sink.py it records when each message was accepted: for every message it
appends one line "<unix time>\t<recipients>\t<bytes>\t<subject>\n" to the log file, where the time is
time.time() taken the moment the DATA phase completed (just before the server answers 250), and
<recipients> are the envelope's RCPT TO addresses joined by ",". One write per line, so a reader
never sees half a line.

While the file given by --refuse-file exists, MAIL FROM is answered "421 4.3.2 Service not
available" (what a relay says while it is down or overloaded) and nothing is accepted; each refusal
is logged as "<unix time>\t<MAIL FROM address>" to --refusals. Delete the file and the next MAIL FROM
is accepted again (the same trick as tests/it/smtp_server.py). The file is looked at on every MAIL
FROM, so the outage ends exactly when the benchmark removes it.

Needs Debian's python3-aiosmtpd, so run it with /usr/bin/python3.

usage: fault_sink.py --log FILE [--refuse-file FILE] [--refusals FILE] [--host 127.0.0.1] --port PORT
"""

import argparse
import os
import signal
import threading
import time
from email import policy
from email.parser import BytesHeaderParser

from aiosmtpd.controller import Controller

REFUSAL = "421 4.3.2 Service not available"


class FaultyHandler:
    """aiosmtpd handler: refuses mail while the refuse file exists, else timestamps and logs it."""

    def __init__(self, log_path, refuse_path=None, refusals_path=None):
        self.log_path = log_path
        self.refuse_path = refuse_path
        self.refusals_path = refusals_path

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.refuse_path and os.path.exists(self.refuse_path):
            if self.refusals_path:
                with open(self.refusals_path, "a", encoding="utf-8") as log:
                    log.write(f"{time.time():.6f}\t{address}\n")
            return REFUSAL
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        accepted_at = time.time()
        headers = BytesHeaderParser(policy=policy.default).parsebytes(envelope.content)
        subject = " ".join(str(headers.get("Subject", "")).split())  # one line, no tabs
        recipients = ",".join(envelope.rcpt_tos)
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(f"{accepted_at:.6f}\t{recipients}\t{len(envelope.content)}\t{subject}\n")
        return "250 2.0.0 Message accepted for delivery"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True, help="file that gets one line per accepted message")
    parser.add_argument("--refuse-file", help="while this file exists, MAIL FROM is answered 421")
    parser.add_argument("--refusals", help="file that gets one line per refused MAIL FROM")
    args = parser.parse_args()

    for path in (args.log, args.refusals):
        if path:
            open(path, "a").close()  # exists from the start, so readers need not special-case it
    controller = Controller(
        FaultyHandler(
            os.path.abspath(args.log),
            os.path.abspath(args.refuse_file) if args.refuse_file else None,
            os.path.abspath(args.refusals) if args.refusals else None,
        ),
        hostname=args.host,
        port=args.port,
    )
    controller.start()  # returns once the server answers on the socket
    print(f"fault_sink listening on {args.host}:{args.port}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
