"""Development SMTP sink: every message received is written to var/mail/<time>-<n>.eml.

Run by `make run`; never used in production (point HAVEN_SMTP_HOST at a real relay there).
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import time

from aiosmtpd.controller import Controller

_counter = itertools.count(1)


class MaildirHandler:
    def __init__(self, directory: str):
        self.directory = directory
        # Alert e-mails name staff and schools: the directory and each message are for this user only.
        os.makedirs(directory, mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)

    async def handle_DATA(self, server, session, envelope):
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{next(_counter):05d}.eml"
        tmp = os.path.join(self.directory, "." + name)
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            f.write(f"X-Haven-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n".encode())
            f.write(envelope.original_content or envelope.content)
        os.replace(tmp, os.path.join(self.directory, name))
        return "250 Message accepted for delivery"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--dir", default="var/mail")
    args = parser.parse_args()
    controller = Controller(MaildirHandler(args.dir), hostname=args.host, port=args.port)
    controller.start()
    print(f"development mail sink on {args.host}:{args.port}, writing to {args.dir}/", flush=True)
    try:
        asyncio.run(asyncio.Event().wait())
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
