#!/usr/bin/python3
"""An SMTP server for golive's integration tests (started by tests/it/smtp.rs).

Plain SMTP, or STARTTLS (required) with --cert/--key; AUTH PLAIN/LOGIN against --username and
--password (offered only over TLS, and then required). Every accepted message is appended to
DIR/messages.jsonl as one JSON line: {"mail_from", "rcpt_tos", "helo", "tls", "login", "file"},
where "file" names the message's bytes, saved as DIR/NNNN.eml before the line is written. One write
per line, so a reader never sees half a line.

While the file DIR/reply exists, MAIL FROM is answered with its first line (e.g.
"451 4.7.1 Try again later") and nothing is accepted; delete it to accept mail again. While the
file DIR/refuse-rcpt exists, each of its lines "ADDRESS REPLY" answers RCPT TO:<ADDRESS> with REPLY
(e.g. "bob@example.com 450 4.2.1 Mailbox busy"): that recipient is refused, the others accepted.
While the file DIR/delay exists, each message is recorded at once but answered 250 only after its
first line's seconds (a slow relay that already has the message).

Once listening it writes DIR/ready. Needs Debian's python3-aiosmtpd: run with /usr/bin/python3.

usage: smtp_server.py --dir DIR --port PORT [--cert PEM --key PEM] [--username U --password P]
"""

import argparse
import asyncio
import json
import os
import ssl
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class RecordingHandler:
    """Records accepted messages with their envelope; refuses mail while DIR/reply exists."""

    def __init__(self, directory):
        self.directory = directory
        self.log_path = os.path.join(directory, "messages.jsonl")
        self.reply_path = os.path.join(directory, "reply")
        self.refuse_rcpt_path = os.path.join(directory, "refuse-rcpt")
        self.delay_path = os.path.join(directory, "delay")
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        try:
            with open(self.refuse_rcpt_path, encoding="utf-8") as refusals:
                for line in refusals:
                    refused, _, reply = line.strip().partition(" ")
                    if refused.lower() == address.lower() and reply:
                        return reply
        except FileNotFoundError:
            pass
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        try:
            with open(self.reply_path, encoding="utf-8") as reply:
                return reply.readline().strip()
        except FileNotFoundError:
            pass
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        name = f"{self.count:04}.eml"
        with open(os.path.join(self.directory, name), "wb") as message:
            message.write(envelope.original_content or envelope.content)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "helo": session.host_name,
            "tls": session.ssl is not None,
            "login": session.auth_data if isinstance(session.auth_data, str) else None,
            "file": name,
        }
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")
        try:
            with open(self.delay_path, encoding="utf-8") as delay:
                await asyncio.sleep(float(delay.readline().strip() or "0"))
        except FileNotFoundError:
            pass
        return "250 2.0.0 Ok: queued"


class Authenticator:
    """Accepts exactly one username and password."""

    def __init__(self, username, password):
        self.username = username.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        if auth_data.login == self.username and auth_data.password == self.password:
            return AuthResult(success=True, auth_data=auth_data.login.decode())
        return AuthResult(success=False, handled=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--username")
    parser.add_argument("--password")
    args = parser.parse_args()

    smtp_options = {}
    if args.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
        smtp_options.update(tls_context=context, require_starttls=True)
    if args.username:
        smtp_options.update(
            authenticator=Authenticator(args.username, args.password or ""),
            auth_required=True,
            auth_require_tls=True,
        )
    controller = Controller(
        RecordingHandler(args.dir),
        hostname="127.0.0.1",
        port=args.port,
        server_hostname="golive-test-smtp",
        **smtp_options,
    )
    controller.start()
    with open(os.path.join(args.dir, "ready"), "w", encoding="utf-8") as ready:
        ready.write(str(args.port))
    threading.Event().wait()


if __name__ == "__main__":
    main()
