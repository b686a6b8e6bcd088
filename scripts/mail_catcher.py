"""A local mail catcher for the demo: an SMTP server (no TLS, no login) on loopback that writes
every message it receives to a folder as an .eml file, and says so on stderr.

    .venv/bin/python scripts/mail_catcher.py --port 8025 --dir demo-mail

For the demo only (`./scripts/serve` starts it): a deployment sends through its own mail server.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import logging
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class Folder:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        self.count += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        file = self.folder / f"{stamp}-{self.count:05d}.eml"
        file.write_bytes(content)
        subject = email.message_from_bytes(content, policy=email.policy.default)["Subject"]
        print(f"mail-catcher: {file} ({subject})", file=sys.stderr, flush=True)
        return "250 OK"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--dir", type=Path, default=Path("demo-mail"))
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    logging.getLogger("mail.log").disabled = True
    controller = Controller(Folder(args.dir), hostname="127.0.0.1", port=args.port)
    controller.start()
    print(f"mail-catcher: SMTP on 127.0.0.1:{args.port}, mails in {args.dir}/", file=sys.stderr)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
